import * as http from "node:http";
import { AddressInfo } from "node:net";
import { test, expect, KEYS, signIn, expectLive } from "./fixtures";

/** A webhook receiver on 127.0.0.1: answers 200 and keeps what it got. */
async function receiver() {
  const got: { headers: http.IncomingHttpHeaders; body: string }[] = [];
  const server = http.createServer((req, res) => {
    let body = "";
    req.on("data", (c) => (body += c));
    req.on("end", () => {
      got.push({ headers: req.headers, body });
      res.writeHead(200, { "content-type": "text/plain" });
      res.end("ok");
    });
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const port = (server.address() as AddressInfo).port;
  return { url: `http://127.0.0.1:${port}/hook`, got, close: () => server.close() };
}

test.describe("alerts", () => {
  test("an admin adds a webhook channel, sends a test alert and reads the delivery log", async ({ page, stack }) => {
    const rx = await receiver();
    try {
      await signIn(page, stack, KEYS.admin);
      await page.goto(`${stack.baseURL}/admin`);
      await page.getByTestId("nav-channels").click();
      await expect(page.getByTestId("channels-page")).toHaveAttribute("data-hydrated", "true");
      await expect(page.getByTestId("channels-empty")).toBeVisible();

      await page.getByTestId("new-id").fill("ops");
      await page.getByTestId("new-url").fill(rx.url);
      await page.getByTestId("add-channel-submit").click();
      await expect(page.getByTestId("add-channel-outcome")).toHaveText("Channel added.");
      // The generated signing secret is shown once.
      await expect(page.getByTestId("channel-secret").locator("code")).toHaveText(/^whsec_/);
      const card = page.locator('[data-channel="ops"]');
      await expect(card).toBeVisible();

      await card.getByTestId("channel-test").click();
      await expect(card.getByTestId("channel-message")).toHaveText("Test alert queued.");
      const delivered = card.locator('[data-testid="delivery"][data-outcome="delivery-delivered"]');
      await expect(delivered).toHaveCount(1, { timeout: 10_000 });
      await expect(delivered).toContainText("HTTP 200");
      expect(rx.got).toHaveLength(1);
      expect(rx.got[0].headers["webhook-signature"]).toMatch(/^v1,/);
      expect(JSON.parse(rx.got[0].body).data.notification.key).toBe("alert-test");

      // After a reload the secret is gone for good; the log is still there.
      await page.reload();
      await expect(page.getByTestId("channels-page")).toHaveAttribute("data-hydrated", "true");
      await expect(page.getByTestId("channel-secret")).toHaveCount(0);
      expect(await page.content()).not.toContain("whsec_");
      await card.getByTestId("channel-log").click();
      await expect(card.getByTestId("delivery")).toHaveCount(1);

      // Delete, with a confirmation.
      await card.getByTestId("channel-delete").click();
      await card.getByTestId("channel-delete-yes").click();
      await expect(card).toHaveCount(0);

      // The audit trail names both acts.
      await page.goto(`${stack.baseURL}/admin/audit`);
      const rows = page.getByTestId("audit-row");
      await expect(rows).toHaveCount(2);
      await expect(rows.nth(0)).toHaveAttribute("data-action", "channel.delete");
      await expect(rows.nth(1)).toHaveAttribute("data-action", "channel.create");
      await expect(page.getByTestId("audit-export")).toHaveAttribute("href", "/api/admin/audit.csv");
    } finally {
      rx.close();
    }
  });

  test("the overview sums spend and lists the alerts; alert rules are edited on the detail page", async ({
    page,
    stack,
  }) => {
    await signIn(page, stack, KEYS.admin);
    await page.goto(`${stack.baseURL}/admin/workspaces/acme`);
    await expectLive(page);
    // A threshold of 0.01 % of acme's 10,000 requests a day: the next call crosses it.
    await page.getByTestId("thresholds").fill("0.01");
    await page.getByTestId("soft-budget_usd_per_day").check();
    await page.getByTestId("rules-save").click();
    await expect(page.getByTestId("rules-outcome")).toHaveText("Saved: the rules apply now.");
    expect(await stack.call(KEYS.acme)).toBe(200);
    await expect(page.locator('[data-key="notif-alert-threshold"]').first()).toBeVisible({ timeout: 5_000 });

    await page.goto(`${stack.baseURL}/admin`);
    await expectLive(page);
    await expect(page.getByTestId("overview")).toBeVisible();
    await expect(page.getByTestId("spend-today")).toHaveText(/^\$0\.0/);
    await expect(page.getByTestId("top-spend")).toContainText("Acme");
    await expect(page.getByTestId("overview").locator('[data-notification-key="notif-alert-threshold"]')).toHaveCount(1);
    // Wrong thresholds are refused in the reader's language, before any request.
    await page.goto(`${stack.baseURL}/admin/workspaces/acme`);
    await expectLive(page);
    await page.getByTestId("thresholds").fill("150");
    await page.getByTestId("rules-save").click();
    await expect(page.getByTestId("rules-outcome")).toHaveText(
      "Give up to 10 percentages between 0 and 100, separated by commas.",
    );
  });
});
