import { Page, request } from "@playwright/test";
import { test, expect, KEYS, watchProblems, expectLive } from "./fixtures";

/** Records every Content-Security-Policy violation of `page`, on every page it loads: the
 *  `securitypolicyviolation` event (reported through the console) and Chromium's own
 *  "Refused to …" console lines. */
function watchCsp(page: Page): string[] {
  const violations: string[] = [];
  page.on("console", (m) => {
    const t = m.text();
    if (t.startsWith("csp-violation:") || t.includes("Content Security Policy")) violations.push(t);
  });
  return violations;
}

test.beforeEach(async ({ page }) => {
  await page.addInitScript(() => {
    document.addEventListener("securitypolicyviolation", (e) => {
      console.log(`csp-violation: ${e.violatedDirective} blocked ${e.blockedURI} (${e.sourceFile}:${e.lineNumber})`);
    });
  });
});

test.describe("browser security", () => {
  test("pages hydrate and work under the CSP, with no violation", async ({ page, stack }) => {
    const violations = watchCsp(page);
    const problems = watchProblems(page);
    expect(await stack.call(KEYS.acme)).toBe(200);

    // The sign-in page: its CSP names the nonce its inline scripts carry.
    const login = await page.goto(`${stack.baseURL}/login`);
    const headers = login?.headers() ?? {};
    const csp = headers["content-security-policy"] ?? "";
    const nonce = /'nonce-([^']+)'/.exec(csp)?.[1];
    expect(nonce, csp).toBeTruthy();
    expect(csp).toContain("'wasm-unsafe-eval'");
    expect(csp).toContain("frame-ancestors 'none'");
    expect(headers["x-frame-options"]).toBe("DENY");
    expect(headers["x-content-type-options"]).toBe("nosniff");
    expect(headers["referrer-policy"]).toBe("no-referrer");
    expect(headers["cache-control"]).toBe("no-store");
    const inline = await page.locator("script:not([src])").evaluateAll((s) =>
      s.map((e) => (e as HTMLScriptElement).nonce),
    );
    expect(inline.length).toBeGreaterThan(0);
    for (const n of inline) expect(n).toBe(nonce);

    // Signing in needs the hydrated form; the workspace page then goes live over its socket.
    await page.locator("#key").fill(KEYS.acme);
    await page.getByRole("button", { name: "Sign in" }).click();
    await expect(page).toHaveURL(`${stack.baseURL}/`);
    await expect(page.getByTestId("workspace-page")).toBeVisible();
    await expectLive(page);
    // Live updates arrive through the socket.
    await stack.fault({ fault: "rate_limited", retry_after_secs: 20, count: 1 });
    await stack.call(KEYS.acme);
    await expect(page.getByTestId("banner")).toBeVisible();

    // Sign out (a same-origin DELETE with the cookie), then the admin's pages.
    await page.getByTestId("logout").click();
    await expect(page).toHaveURL(`${stack.baseURL}/login`);
    await page.locator("#key").fill(KEYS.admin);
    await page.getByRole("button", { name: "Sign in" }).click();
    await expect(page).toHaveURL(`${stack.baseURL}/admin`);
    await expectLive(page);
    await page.getByTestId("workspaces").getByRole("link", { name: "Acme" }).click();
    await expect(page.getByTestId("detail-page")).toBeVisible();
    await expectLive(page);
    // A same-origin POST with the cookie passes the Origin check.
    await page.getByTestId("reset").click();
    await page.getByTestId("reset-yes").click();
    await expect(page.getByTestId("reset-outcome")).toHaveText("The workspace was reset.");

    // A full load of a page reached by navigation hydrates too.
    await page.reload();
    await expectLive(page);

    expect(violations, violations.join("\n")).toEqual([]);
    expect(problems, problems.join("\n")).toEqual([]);
  });

  test("a signed-out session cookie no longer works", async ({ page, stack }) => {
    await page.goto(`${stack.baseURL}/login`);
    await page.locator("#key").fill(KEYS.acme);
    await page.getByRole("button", { name: "Sign in" }).click();
    await expect(page).toHaveURL(`${stack.baseURL}/`);
    const cookie = (await page.context().cookies()).find((c) => c.name === "qs_session");
    expect(cookie?.httpOnly).toBeTruthy();
    expect(cookie?.sameSite).toBe("Strict");
    await page.getByTestId("logout").click();
    await expect(page).toHaveURL(`${stack.baseURL}/login`);
    // The cookie's old value, replayed, is refused by the server.
    const replay = await request.newContext();
    const r = await replay.get(`${stack.baseURL}/api/session`, {
      headers: { cookie: `qs_session=${cookie?.value}` },
    });
    expect(r.status()).toBe(401);
    await replay.dispose();
  });

  test("the pages cannot be framed", async ({ page, stack }) => {
    const violations = watchCsp(page);
    // A page of another origin (the simulator's) that frames the gateway.
    await page.route(`${stack.simURL}/frame`, (route) =>
      route.fulfill({
        contentType: "text/html",
        body: `<iframe id="f" src="${stack.baseURL}/login"></iframe>`,
      }),
    );
    await page.goto(`${stack.simURL}/frame`);
    const frame = page.frameLocator("#f");
    await page.waitForTimeout(1_000);
    await expect(frame.getByTestId("login-form")).toHaveCount(0);
    // The refusal is the framed page's own header, not a violation of the gateway's pages.
    expect(violations.filter((v) => !v.includes("frame-ancestors"))).toEqual([]);
  });
});
