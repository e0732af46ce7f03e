import { test, expect, KEYS, signIn, expectLive, Stack } from "./fixtures";
import type { Page } from "@playwright/test";

/** Creates workspace `tiny` (`requests_per_minute` calls a minute) and returns a new key. */
async function tinyWorkspace(stack: Stack, requestsPerMinute: number): Promise<string> {
  const admin = { "content-type": "application/json", authorization: `Bearer ${KEYS.admin}` };
  let r = await fetch(`${stack.baseURL}/api/admin/workspaces`, {
    method: "POST",
    headers: admin,
    body: JSON.stringify({ id: "tiny", name: "Tiny", requests_per_minute: requestsPerMinute }),
  });
  expect(r.status).toBe(201);
  r = await fetch(`${stack.baseURL}/api/admin/workspaces/tiny/keys`, { method: "POST", headers: admin, body: "{}" });
  expect(r.status).toBe(201);
  return ((await r.json()) as { key: string }).key;
}

/** Points of the banner's text that something else covers: for each line box of each text in
 *  the banner, its centre and both ends are hit-tested. */
async function coveredBannerText(page: Page): Promise<string[]> {
  return page.evaluate(() => {
    const banner = document.querySelector('[data-testid="banner"]');
    if (!banner) return ["no banner"];
    const covered: string[] = [];
    const walker = document.createTreeWalker(banner, NodeFilter.SHOW_TEXT);
    for (let node = walker.nextNode(); node; node = walker.nextNode()) {
      if (!node.textContent?.trim()) continue;
      const range = document.createRange();
      range.selectNodeContents(node);
      for (const r of Array.from(range.getClientRects())) {
        if (r.width === 0 || r.height === 0) continue;
        const y = r.top + r.height / 2;
        for (const x of [r.left + 1, r.left + r.width / 2, r.right - 1]) {
          const hit = document.elementFromPoint(x, y);
          if (!hit || !banner.contains(hit)) {
            covered.push(`"${node.textContent.trim().slice(0, 40)}" at (${x | 0}, ${y | 0}) under ${hit?.className}`);
          }
        }
      }
    }
    return covered;
  });
}

test.describe("toasts", () => {
  test("five toasts at 1280×720: three show, '+2 more' counts the rest, the banner's text stays uncovered", async ({
    page,
    stack,
  }) => {
    await page.setViewportSize({ width: 1280, height: 720 });
    const key = await tinyWorkspace(stack, 10);
    await signIn(page, stack, key);
    await page.goto(`${stack.baseURL}/`);
    await expectLive(page);
    const toasts = page.getByTestId("toast");
    const keys = async () => new Set(await toasts.evaluateAll((ts) => ts.map((t) => t.getAttribute("data-key"))));

    // Five different notifications, one after another (errors stay until dismissed; hidden toasts
    // keep their time):
    // 1. three upstream failures in a row: OpenAI is failing (error)
    await stack.fault({ fault: "server_error", count: 3 });
    for (let i = 0; i < 3; i++) expect(await stack.call(key)).toBe(500);
    await expect(page.locator('[data-key="notif-degraded"]')).toHaveCount(1);
    // 2. two successes: back to normal (info)
    for (let i = 0; i < 2; i++) expect(await stack.call(key)).toBe(200);
    await expect(page.locator('[data-key="notif-recovered"]')).toHaveCount(1);
    // 3. the account runs out of credit (error)
    await stack.fault({ fault: "insufficient_quota", count: 1 });
    expect(await stack.call(key)).toBe(429);
    await expect(page.locator('[data-key="notif-quota-exceeded-account"]')).toHaveCount(1);
    const reset = await fetch(`${stack.baseURL}/api/quota/reset`, {
      method: "POST",
      headers: { "content-type": "application/json", authorization: `Bearer ${KEYS.admin}` },
      body: JSON.stringify({ workspace: "tiny" }),
    });
    expect(reset.status).toBe(200);
    // 4. and 5. the workspace nears its limit of 10 calls a minute (warning), then reaches it (warning)
    let refused = false;
    for (let i = 0; i < 12 && !refused; i++) refused = (await stack.call(key)) === 429;
    expect(refused).toBe(true);
    await expect(page.getByTestId("banner")).toHaveAttribute("data-status", "rate_limited");

    // Three toasts show, newest first; "+2 more" counts the ones waiting.
    await expect(toasts).toHaveCount(3);
    await expect(page.getByTestId("toasts-more-count")).toHaveText("+2 more notifications");
    expect(await keys()).toEqual(
      new Set(["notif-rate-limited-workspace", "notif-warning-near-limit", "notif-recovered"]),
    );
    expect(await coveredBannerText(page)).toEqual([]);

    // On a phone one toast shows, across the width at the bottom; the banner's text stays clear.
    await page.setViewportSize({ width: 390, height: 844 });
    await expect(toasts).toHaveCount(1);
    await expect(page.getByTestId("toasts-more-count")).toHaveText("+4 more notifications");
    const box = await page.getByTestId("toasts").boundingBox();
    expect(box!.width).toBeGreaterThan(360);
    expect(box!.y + box!.height).toBeGreaterThan(844 - 16);
    await page.getByTestId("banner").evaluate((b) => b.scrollIntoView({ block: "start" }));
    expect(await coveredBannerText(page)).toEqual([]);

    // Dismissing the shown toast brings a waiting one forward; "Dismiss all" clears the queue.
    await toasts.first().getByRole("button", { name: "Dismiss notification" }).click();
    await expect(page.getByTestId("toasts-more-count")).toHaveText("+3 more notifications");
    await expect(toasts).toHaveCount(1);
    await page.getByTestId("toasts-dismiss-all").click();
    await expect(toasts).toHaveCount(0);
    await expect(page.getByTestId("toasts-more")).toHaveCount(0);
  });
});
