import { test, expect, KEYS, signIn, setLanguage, expectLive } from "./fixtures";

test.describe("workspace view", () => {
  test("signing in shows the workspace as normal", async ({ page, stack }) => {
    await page.goto(`${stack.baseURL}/`);
    await expect(page).toHaveURL(/\/login$/);
    await page.locator("#key").fill(KEYS.acme);
    await page.getByRole("button", { name: "Sign in" }).click();
    await expect(page).toHaveURL(`${stack.baseURL}/`);
    await expect(page.getByTestId("workspace-page")).toBeVisible();
    await expect(page.locator(".page-title .pill")).toHaveAttribute("data-status", "normal");
    await expect(page.getByTestId("banner")).toHaveCount(0);
    await expectLive(page);
  });

  test("a wrong key is refused on the sign-in page", async ({ page, stack }) => {
    await page.goto(`${stack.baseURL}/login`);
    await page.locator("#key").fill("qs_not_a_key");
    await page.getByRole("button", { name: "Sign in" }).click();
    await expect(page.getByTestId("login-error")).toHaveText("This key is not valid.");
  });

  test("scenario 1: insufficient_quota shows an error toast and the banner within 1 s, in Italian", async ({
    page,
    stack,
  }) => {
    await setLanguage(page, stack, "it");
    await signIn(page, stack, KEYS.acme);
    await page.goto(`${stack.baseURL}/`);
    await expect(page.locator("html")).toHaveAttribute("lang", "it");
    await expect(page.locator(".page-title .pill")).toHaveAttribute("data-status", "normal");
    await expect(page.locator(".page-title .pill")).toContainText("Normale");
    await expectLive(page);
    // Both live regions are in the page before any toast: screen readers announce what is
    // inserted into a region they already know.
    const assertive = page.getByTestId("toasts-assertive");
    const polite = page.getByTestId("toasts-polite");
    await expect(assertive).toHaveAttribute("aria-live", "assertive");
    await expect(assertive).toHaveAttribute("role", "alert");
    await expect(polite).toHaveAttribute("aria-live", "polite");
    await expect(polite).toHaveAttribute("role", "status");
    await expect(page.getByTestId("toast")).toHaveCount(0);

    await stack.fault({ fault: "insufficient_quota", count: 1 });
    expect(await stack.call(KEYS.acme)).toBe(429);
    const started = Date.now();
    const toast = page.locator('[data-testid="toast"][data-level="error"]');
    const banner = page.getByTestId("banner");
    await expect(toast).toBeVisible({ timeout: 1_000 });
    await expect(banner).toBeVisible({ timeout: 1_000 });
    expect(Date.now() - started).toBeLessThan(1_000);
    // The toast is inserted into the assertive live region that was there before it.
    await expect(page.getByTestId("toasts-assertive").getByTestId("toast")).toHaveCount(1);
    await expect(toast).toContainText("Credito dell'account OpenAI esaurito");
    await expect(banner).toHaveAttribute("data-status", "quota_exceeded");
    await expect(banner).toContainText("Quota esaurita: le chiamate vengono rifiutate");
    await expect(banner).toContainText("il limite dell'account OpenAI, condiviso da tutti i workspace.");
    await expect(page.locator(".page-title .pill")).toContainText("Quota esaurita");

    // Errors stay until dismissed: the close button closes it.
    await toast.getByRole("button").click();
    await expect(toast).toHaveCount(0);
  });

  test("the goal and task tables follow new calls without a reload", async ({ page, stack }) => {
    await signIn(page, stack, KEYS.acme);
    await page.goto(`${stack.baseURL}/`);
    await expectLive(page);
    const goal = `live-goal-${Date.now()}`;
    const task = `live-task-${Date.now()}`;
    await expect(page.getByTestId("by-goal")).not.toContainText(goal);
    // A marker that a reload would wipe.
    await page.evaluate(() => ((window as unknown as { qsMarker: number }).qsMarker = 1));
    expect(await stack.call(KEYS.acme, { "x-quota-goal": goal, "x-quota-task": task })).toBe(200);
    await expect(page.getByTestId("by-goal")).toContainText(goal, { timeout: 10_000 });
    await expect(page.getByTestId("by-task")).toContainText(task, { timeout: 10_000 });
    const row = page.getByTestId("by-goal").locator("tr", { hasText: goal });
    await expect(row.locator("td").first()).toHaveText("1");
    expect(await page.evaluate(() => (window as unknown as { qsMarker?: number }).qsMarker)).toBe(1);
  });

  test("the countdown shows what /api/quota/status says, second by second", async ({ page, stack }) => {
    await signIn(page, stack, KEYS.acme);
    await page.goto(`${stack.baseURL}/`);
    await expectLive(page);
    await stack.fault({ fault: "rate_limited", retry_after_secs: 40, count: 1 });
    expect(await stack.call(KEYS.acme)).toBe(429);
    const countdown = page.getByTestId("countdown");
    await expect(countdown).toBeVisible({ timeout: 1_000 });
    const apiSeconds = () =>
      page.evaluate(async () => (await (await fetch("/api/quota/status")).json()).retry_after_seconds as number);
    // Over 3 s, at different phases of the second: the banner shows the API's number (read
    // just before and just after it, in case a second ends in between). The banner counts from
    // when its report arrived, a few ms after the server made it, so a read that falls in those
    // ms of a second's end may show one more: once in seven at most. (A countdown restarted
    // from rounded-up seconds, the bug this guards against, is one more nearly every time.)
    const late: string[] = [];
    for (let i = 0; i < 7; i++) {
      const before = await apiSeconds();
      const shown = Number(/(\d+)/.exec((await countdown.textContent()) ?? "")?.[1]);
      const after = await apiSeconds();
      if (![before, after].includes(shown)) {
        expect([before + 1, after + 1], `banner shows ${shown}, API ${before}..${after}`).toContain(shown);
        late.push(`banner ${shown}, API ${before}..${after}`);
      }
      await page.waitForTimeout(430);
    }
    expect(late.length, late.join("; ")).toBeLessThanOrEqual(1);
  });

  test("scenario 2: rate_limit_exceeded shows a countdown and the banner clears by itself", async ({ page, stack }) => {
    await signIn(page, stack, KEYS.acme);
    await page.goto(`${stack.baseURL}/`);
    await expectLive(page);
    await stack.fault({ fault: "rate_limited", retry_after_secs: 3, count: 1 });
    expect(await stack.call(KEYS.acme)).toBe(429);
    const banner = page.getByTestId("banner");
    await expect(banner).toBeVisible({ timeout: 1_000 });
    await expect(banner).toHaveAttribute("data-status", "rate_limited");
    await expect(page.getByTestId("countdown")).toContainText(/Calls can be retried in [1-3] seconds?\./);
    // One clock only: the suggested actions do not repeat the wait as a frozen number.
    await expect(banner.locator(".banner-actions")).not.toContainText("Retry in");
    // A warning's toast lands in the polite live region.
    await expect(page.getByTestId("toasts-polite").getByTestId("toast").first()).toBeVisible();
    await expect(banner).toHaveCount(0, { timeout: 10_000 });
    await expect(page.locator(".page-title .pill")).not.toHaveAttribute("data-status", "rate_limited");
  });

  test("scenario 3: a server restart shows reconnecting, then live, without duplicate toasts", async ({
    page,
    stack,
  }) => {
    await signIn(page, stack, KEYS.acme);
    await page.goto(`${stack.baseURL}/`);
    await expectLive(page);
    await stack.fault({ fault: "insufficient_quota", count: 1 });
    expect(await stack.call(KEYS.acme)).toBe(429);
    const toasts = page.locator('[data-testid="toast"][data-key="notif-quota-exceeded-account"]');
    await expect(toasts).toHaveCount(1);

    await stack.stopServer();
    await expect(page.getByTestId("connection")).toHaveAttribute("data-state", /reconnecting|offline/, {
      timeout: 5_000,
    });
    await stack.startServer();
    await expect(page.getByTestId("connection")).toHaveAttribute("data-state", "live", { timeout: 35_000 });
    // The snapshot and the catch-up fetch after reconnecting must not repeat the toast.
    await page.waitForTimeout(1_500);
    await expect(toasts).toHaveCount(1);
    await expect(page.getByTestId("toast-count")).toHaveCount(0);
    await expect(page.getByTestId("stale")).toHaveCount(0);
  });

  test("toasts close with Esc", async ({ page, stack }) => {
    await signIn(page, stack, KEYS.acme);
    await page.goto(`${stack.baseURL}/`);
    await expectLive(page);
    await stack.fault({ fault: "insufficient_quota", count: 1 });
    await stack.call(KEYS.acme);
    const toast = page.locator('[data-testid="toast"]');
    await expect(toast).toHaveCount(1);
    await page.keyboard.press("Escape");
    await expect(toast).toHaveCount(0);
  });
});
