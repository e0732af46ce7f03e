import { test, expect, KEYS } from "./fixtures";

// Issue 10, defect 1: the sign-in form is a real POST, so it works before the WASM has loaded
// and without JavaScript, and the key never lands in a URL (history, proxy logs, access logs).
test.describe("sign-in without JavaScript", () => {
  test.use({ javaScriptEnabled: false });

  test("the form signs in by POST and the key is in no URL the browser visited", async ({ page, stack }) => {
    const visited: string[] = [];
    page.on("request", (r) => visited.push(r.url()));
    page.on("framenavigated", (f) => visited.push(f.url()));

    await page.goto(`${stack.baseURL}/login`);
    await page.locator("#key").fill(KEYS.acme);
    await page.locator("button[type=submit]").click();
    await expect(page).toHaveURL(`${stack.baseURL}/`);
    await expect(page.getByTestId("workspace-page")).toBeVisible();

    // A wrong key comes back to the form, which says why.
    await page.context().clearCookies();
    await page.goto(`${stack.baseURL}/login`);
    await page.locator("#key").fill("qs_not_a_valid_key_000000");
    await page.locator("button[type=submit]").click();
    await expect(page).toHaveURL(`${stack.baseURL}/login?error=invalid`);
    await expect(page.getByTestId("login-error")).toHaveText("This key is not valid.");

    expect(visited.length).toBeGreaterThan(0);
    for (const u of visited) {
      expect(u).not.toContain(KEYS.acme);
      expect(u).not.toContain("qs_not_a_valid_key");
      expect(u).not.toContain("key=");
    }
  });
});
