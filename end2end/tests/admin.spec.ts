import { test, expect, KEYS, signIn, expectLive } from "./fixtures";

test.describe("admin", () => {
  test("scenario 4: lists every workspace, updates live, reset returns a workspace to normal", async ({
    page,
    stack,
  }) => {
    await page.goto(`${stack.baseURL}/login`);
    await page.locator("#key").fill(KEYS.admin);
    await page.getByRole("button", { name: "Sign in" }).click();
    await expect(page).toHaveURL(`${stack.baseURL}/admin`);
    const rows = page.getByTestId("workspace-row");
    await expect(rows).toHaveCount(2);
    await expect(rows.nth(0)).toHaveAttribute("data-workspace", "acme");
    await expect(rows.nth(1)).toHaveAttribute("data-workspace", "globex");
    await expectLive(page);

    // Live: a call shows up in the requests bar, an out-of-credit answer in every row's status.
    expect(await stack.call(KEYS.globex)).toBe(200);
    const globex = page.locator('[data-workspace="globex"]');
    await expect(globex.getByTestId("usage-requests_per_day").locator(".usage-value")).toHaveText(/^1 of /, {
      timeout: 5_000,
    });
    await stack.fault({ fault: "insufficient_quota", count: 1 });
    expect(await stack.call(KEYS.acme)).toBe(429);
    const acmeStatus = page.locator('[data-workspace="acme"] [data-testid="row-status"] .pill');
    await expect(acmeStatus).toHaveAttribute("data-status", "quota_exceeded", { timeout: 2_000 });
    await expect(globex.locator(".pill")).toHaveAttribute("data-status", "quota_exceeded");

    // Filter and sort.
    await page.getByTestId("filter").fill("glob");
    await expect(rows).toHaveCount(1);
    await page.getByTestId("filter").fill("");
    await page.getByTestId("sort-workspace").click();
    await expect(rows.nth(0)).toHaveAttribute("data-workspace", "globex");

    // Detail view and reset with confirmation.
    await page.getByTestId("workspaces").getByRole("link", { name: "Acme" }).click();
    await expect(page.getByTestId("detail-page")).toBeVisible();
    await expect(page.getByTestId("chart-hourly-requests")).toBeVisible();
    await expect(page.getByTestId("banner")).toHaveAttribute("data-status", "quota_exceeded");
    await page.getByTestId("reset").click();
    await expect(page.getByTestId("reset-confirm")).toBeVisible();
    await page.getByTestId("reset-no").click();
    await expect(page.getByTestId("banner")).toBeVisible();
    await page.getByTestId("reset").click();
    await page.getByTestId("reset-yes").click();
    await expect(page.getByTestId("reset-outcome")).toHaveText("The workspace was reset.");
    await expect(page.locator(".page-title .pill")).toHaveAttribute("data-status", "normal", { timeout: 3_000 });
    await expect(page.getByTestId("banner")).toHaveCount(0);
  });

  test("scenario 4b: a workspace session cannot open /admin", async ({ page, stack }) => {
    await signIn(page, stack, KEYS.acme);
    const resp = await page.goto(`${stack.baseURL}/admin`);
    expect(resp?.status()).toBe(403);
    await expect(page.getByTestId("forbidden")).toBeVisible();
    await expect(page.getByTestId("workspaces")).toHaveCount(0);
    const detail = await page.goto(`${stack.baseURL}/admin/workspaces/globex`);
    expect(detail?.status()).toBe(403);
    await expect(page.getByTestId("detail-page")).toHaveCount(0);
    // The way out: sign out, then sign in with another key.
    // (Retried: the button works once the page has hydrated.)
    await expect(async () => {
      await page.getByTestId("forbidden-sign-out").click();
      await expect(page).toHaveURL(`${stack.baseURL}/login`, { timeout: 1_000 });
    }).toPass({ timeout: 15_000 });
    const again = await page.goto(`${stack.baseURL}/admin`);
    await expect(page).toHaveURL(`${stack.baseURL}/login`);
    expect(again?.ok()).toBeTruthy();
  });

  test("an unknown workspace's page is a 404 that still renders", async ({ page, stack }) => {
    await signIn(page, stack, KEYS.admin);
    const known = await page.goto(`${stack.baseURL}/admin/workspaces/acme`);
    expect(known?.status()).toBe(200);
    const unknown = await page.goto(`${stack.baseURL}/admin/workspaces/no-such-workspace`);
    expect(unknown?.status()).toBe(404);
    await expect(page.getByRole("heading", { level: 1 })).toBeVisible();
    await expect(page.getByTestId("detail-page")).toHaveCount(0);
  });

  test("signed-out visitors are sent to /login", async ({ page, stack }) => {
    for (const p of ["/", "/admin", "/admin/workspaces/acme"]) {
      await page.goto(`${stack.baseURL}${p}`);
      await expect(page).toHaveURL(`${stack.baseURL}/login`);
    }
  });
});
