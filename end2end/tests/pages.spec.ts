import * as path from "node:path";
import { test, expect, KEYS, signIn, watchProblems, expectLive } from "./fixtures";

const shots = path.resolve(__dirname, "../screenshots");

test("scenario 6: no console errors or failed requests on any page; a screenshot of each", async ({
  page,
  stack,
}) => {
  const problems = watchProblems(page);
  // Some history for the charts and tables.
  for (let i = 0; i < 3; i++) expect(await stack.call(KEYS.acme)).toBe(200);

  await page.goto(`${stack.baseURL}/login`);
  await expect(page.getByTestId("login-form")).toBeVisible();
  await page.waitForLoadState("networkidle");
  await page.screenshot({ path: path.join(shots, "login.png"), fullPage: true });

  await signIn(page, stack, KEYS.acme);
  await page.goto(`${stack.baseURL}/`);
  await expectLive(page);
  await page.screenshot({ path: path.join(shots, "workspace.png"), fullPage: true });

  await stack.fault({ fault: "rate_limited", retry_after_secs: 20, count: 1 });
  await stack.call(KEYS.acme);
  await expect(page.getByTestId("banner")).toBeVisible();
  await expect(page.getByTestId("toast").first()).toBeVisible();
  await page.screenshot({ path: path.join(shots, "workspace-rate-limited.png"), fullPage: true });

  await page.setViewportSize({ width: 390, height: 844 });
  await page.screenshot({ path: path.join(shots, "workspace-phone.png"), fullPage: true });
  await page.setViewportSize({ width: 1280, height: 800 });

  await signIn(page, stack, KEYS.admin);
  await page.goto(`${stack.baseURL}/admin`);
  await expectLive(page);
  await page.screenshot({ path: path.join(shots, "admin.png"), fullPage: true });

  await page.goto(`${stack.baseURL}/admin/workspaces/acme`);
  await expectLive(page);
  await page.screenshot({ path: path.join(shots, "admin-workspace.png"), fullPage: true });

  await page.emulateMedia({ colorScheme: "dark" });
  await page.screenshot({ path: path.join(shots, "admin-workspace-dark.png"), fullPage: true });

  expect(problems, problems.join("\n")).toEqual([]);
});
