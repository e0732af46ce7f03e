import { Page } from "@playwright/test";
import { test, expect, KEYS, signIn, expectLive, Stack } from "./fixtures";

/** One chat call through the gateway: its HTTP status and error code, if any. */
async function call(stack: Stack, key: string): Promise<{ status: number; code?: string }> {
  const r = await fetch(`${stack.baseURL}/v1/chat/completions`, {
    method: "POST",
    headers: { "content-type": "application/json", authorization: `Bearer ${key}` },
    body: JSON.stringify({ model: "gpt-4o-mini", messages: [{ role: "user", content: "hi" }], max_tokens: 16 }),
  });
  const body = await r.json().catch(() => ({}));
  return { status: r.status, code: body?.error?.code ?? undefined };
}

/** Saves the limits-and-policies form and waits for the gateway's answer. */
async function save(page: Page) {
  const [resp] = await Promise.all([
    page.waitForResponse((r) => r.request().method() === "PATCH" && r.url().includes("/api/admin/workspaces/")),
    page.getByTestId("policies-save").click(),
  ]);
  expect(resp.status()).toBe(200);
  await expect(page.getByTestId("policies-outcome")).toHaveAttribute("data-state", "saved");
}

test.describe("limits and policies", () => {
  test("an admin's edit of the daily request limit applies to the next call, without a restart", async ({
    page,
    stack,
  }) => {
    await signIn(page, stack, KEYS.admin);
    await page.goto(`${stack.baseURL}/admin/workspaces/acme`);
    await expectLive(page);
    // Prefilled with the limits in force (acme: the defaults and a $20 daily budget).
    await expect(page.getByTestId("policy-requests_per_day")).toHaveValue("10000");
    await expect(page.getByTestId("policy-budget_usd_per_day")).toHaveValue("20");
    await expect(page.getByTestId("policy-warning_at")).toHaveValue("80");
    await expect(page.getByTestId("policy-reset_daily_at")).toHaveValue("00:00");
    await expect(page.getByTestId("next-reset-day")).toBeVisible();

    expect(await call(stack, KEYS.acme)).toEqual({ status: 200 });
    const requests = page.getByTestId("usage-requests_per_day").locator(".usage-value");
    await expect(requests).toHaveText("1 of 10,000", { timeout: 5_000 });

    // Lowered to the one call already made: the next call is refused.
    await page.getByTestId("policy-requests_per_day").fill("1");
    await save(page);
    await expect(page.getByTestId("policies-outcome")).toHaveText("Saved: the new limits and policies apply now.");
    // The page's limits and the form agree.
    await expect(requests).toHaveText("1 of 1");
    await expect(page.getByTestId("policy-requests_per_day")).toHaveValue("1");
    expect(await call(stack, KEYS.acme)).toEqual({ status: 429, code: "workspace_quota_exceeded" });

    // Raised: the next call is admitted.
    await page.getByTestId("policy-requests_per_day").fill("5");
    await save(page);
    await expect(requests).toHaveText(/ of 5$/);
    expect(await call(stack, KEYS.acme)).toEqual({ status: 200 });

    // Kept across a restart: the form shows it again.
    await stack.stopServer();
    await stack.startServer();
    await page.reload();
    await expectLive(page);
    await expect(page.getByTestId("policy-requests_per_day")).toHaveValue("5");
    await expect(page.getByTestId("usage-requests_per_day").locator(".usage-value")).toHaveText(/ of 5$/);
  });

  test("a value that breaks a rule is named in the reader's language, and nothing is sent", async ({
    page,
    stack,
  }) => {
    const patches: string[] = [];
    page.on("request", (r) => {
      if (r.method() === "PATCH") patches.push(r.url());
    });
    await signIn(page, stack, KEYS.admin);
    await page.goto(`${stack.baseURL}/admin/workspaces/acme`);
    await expectLive(page);
    const outcome = page.getByTestId("policies-outcome");

    await page.getByTestId("policy-reset_daily_at").fill("25:00");
    await page.getByTestId("policies-save").click();
    await expect(outcome).toHaveText(
      "Daily reset time (HH:MM, gateway time): must be a local time HH:MM (24-hour), e.g. 06:00.",
    );
    await expect(outcome).toHaveAttribute("data-state", "refused");
    await expect(page.getByTestId("policy-reset_daily_at")).toHaveAttribute("aria-invalid", "true");

    // An optional share above the normal one.
    await page.getByTestId("policy-reset_daily_at").fill("06:00");
    await page.getByTestId("policy-optional_share").fill("99");
    await page.getByTestId("policy-normal_share").fill("90");
    await page.getByTestId("policies-save").click();
    await expect(outcome).toHaveText(/^Priority shares \(% of each limit\): the optional and the normal share must/);
    await expect(page.getByTestId("policy-optional_share")).toHaveAttribute("aria-invalid", "true");
    await expect(page.getByTestId("policy-reset_daily_at")).not.toHaveAttribute("aria-invalid", "true");

    // A downgrade rule without a target model.
    await page.getByTestId("policy-optional_share").fill("");
    await page.getByTestId("policy-normal_share").fill("");
    await page.getByTestId("downgrade-add").click();
    await page.getByTestId("downgrade-from").fill("gpt-4o");
    await page.getByTestId("downgrade-at").fill("90");
    await page.getByTestId("policies-save").click();
    await expect(outcome).toHaveText(/^Model downgrades: must be at most 20 rules/);

    // In German, the same rule in German.
    await Promise.all([page.waitForEvent("load"), page.getByTestId("language").selectOption("de")]);
    await expect(page.locator("html")).toHaveAttribute("lang", "de");
    await expectLive(page);
    await page.getByTestId("policy-reset_daily_at").fill("25:00");
    await page.getByTestId("policies-save").click();
    await expect(outcome).toHaveText(
      "Tägliche Rücksetzzeit (HH:MM, Gateway-Zeit): muss eine Ortszeit HH:MM (24 Stunden) sein, z. B. 06:00.",
    );
    expect(patches).toEqual([]);
    // The workspace was not changed.
    const r = await fetch(`${stack.baseURL}/api/quota/status?workspace=acme`, {
      headers: { authorization: `Bearer ${KEYS.admin}` },
    });
    const status = await r.json();
    expect(status.limits.reset_daily_at ?? null).toBeNull();
    expect(status.limits.priority_shares ?? null).toBeNull();
  });

  test("the workspace page shows the next resets in the gateway's time zone and a downgrade in effect", async ({
    page,
    browser,
  }) => {
    // India has no daylight saving time: its midnight is always 18:30 UTC.
    const stack = new Stack({ timeZone: "Asia/Kolkata" });
    await stack.start();
    const admin = await browser.newContext();
    try {
      await signIn(page, stack, KEYS.acme);
      await page.goto(`${stack.baseURL}/`);
      await expectLive(page);
      const day = page.getByTestId("next-reset-day");
      await expect(day).toHaveText("Next reset of the daily limits: 00:00");
      const dayAt = new Date((await day.locator("time").getAttribute("datetime")) ?? "");
      expect(dayAt.toISOString()).toMatch(/T18:30:00\.000Z$/);
      const untilReset = dayAt.getTime() - Date.now();
      expect(untilReset).toBeGreaterThan(0);
      expect(untilReset).toBeLessThanOrEqual(24 * 3600 * 1000);
      // The month limit resets on the 1st at local midnight.
      const month = page.getByTestId("next-reset-month");
      await expect(month).toHaveText(/^Next reset of the monthly limit: \d{4}-\d\d-01 00:00$/);
      const monthAt = new Date((await month.locator("time").getAttribute("datetime")) ?? "");
      expect(monthAt.toISOString()).toMatch(/T18:30:00\.000Z$/);
      await expect(page.getByTestId("downgrades")).toHaveCount(0);

      // The admin adds a downgrade rule from a tiny share of the budget (0.000001 %)…
      const adminPage = await admin.newPage();
      await signIn(adminPage, stack, KEYS.admin);
      await adminPage.goto(`${stack.baseURL}/admin/workspaces/acme`);
      await expectLive(adminPage);
      await expect(adminPage.getByTestId("downgrade-empty")).toBeVisible();
      await adminPage.getByTestId("downgrade-add").click();
      await adminPage.getByTestId("downgrade-from").fill("gpt-4o");
      await adminPage.getByTestId("downgrade-to").fill("gpt-4o-mini");
      await adminPage.getByTestId("downgrade-at").fill("0.000001");
      await save(adminPage);
      await expect(adminPage.getByTestId("downgrade-at")).toHaveValue("0.000001");

      // …which one call passes: the workspace page says so, live.
      expect(await call(stack, KEYS.acme)).toEqual({ status: 200 });
      const notice = page.getByTestId("downgrade");
      await expect(notice).toHaveText(
        "Calls for gpt-4o now use gpt-4o-mini: 0.000001% of the USD budget is used.",
        { timeout: 5_000 },
      );
      await expect(page.getByTestId("downgrades")).toContainText("Cheaper models in use");
      await expect(adminPage.getByTestId("downgrade")).toHaveAttribute("data-to", "gpt-4o-mini", { timeout: 5_000 });

      // Removed again: the notice goes.
      await adminPage.getByTestId("downgrade-remove").click();
      await save(adminPage);
      await expect(adminPage.getByTestId("downgrade-empty")).toBeVisible();
      await expect(page.getByTestId("downgrades")).toHaveCount(0, { timeout: 5_000 });
    } finally {
      await admin.close();
      await stack.stop();
    }
  });
});
