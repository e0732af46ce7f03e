import { test, expect, KEYS, signIn, expectLive } from "./fixtures";

test("scenario 5: switching language changes every visible string and survives reload", async ({ page, stack }) => {
  await signIn(page, stack, KEYS.acme);
  await page.goto(`${stack.baseURL}/`);
  await expectLive(page);
  await expect(page.locator("html")).toHaveAttribute("lang", "en");
  const english = ["Usage", "Sign out", "Recent notifications", "OpenAI headroom", "Requests today", "Normal"];
  for (const s of english) await expect(page.locator("body")).toContainText(s);

  await Promise.all([page.waitForEvent("load"), page.getByTestId("language").selectOption("de")]);
  await expect(page.locator("html")).toHaveAttribute("lang", "de");
  await expectLive(page);
  const german = ["Nutzung", "Abmelden", "Letzte Benachrichtigungen", "OpenAI-Spielraum", "Anfragen heute", "Normal"];
  await expect(page.getByTestId("connection")).toHaveText(/Live/);
  const text = await page.locator("body").innerText();
  for (const s of german) expect(text).toContain(s);
  for (const s of english.slice(0, 5)) expect(text).not.toContain(s);

  await page.reload();
  await expect(page.locator("html")).toHaveAttribute("lang", "de");
  await expect(page.locator("body")).toContainText("Nutzung");
  await expect(page.getByTestId("language")).toHaveValue("de");

  // Spanish too, and the sign-in page follows the same cookie.
  await Promise.all([page.waitForEvent("load"), page.getByTestId("language").selectOption("es")]);
  await expect(page.locator("body")).toContainText("Uso");
  await page.getByTestId("logout").click();
  await expect(page).toHaveURL(`${stack.baseURL}/login`);
  await expect(page.getByRole("heading", { level: 1 })).toHaveText("Iniciar sesión");
});
