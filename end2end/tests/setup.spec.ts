import { test as base, expect, Stack } from "./fixtures";

/** A gateway as on a fresh clone: no workspace, no admin key. */
const test = base.extend<{ fresh: Stack }>({
  fresh: async ({}, use, testInfo) => {
    const s = new Stack({ firstRun: true });
    await s.start();
    await use(s);
    if (testInfo.status !== testInfo.expectedStatus) {
      await testInfo.attach("server-logs", { body: s.logs.join(""), contentType: "text/plain" });
    }
    await s.stop();
  },
});

const LINK = /(http:\/\/\S+\/setup\/begin\?token=([0-9a-f]{64}))/g;

/** Every setup link the gateway has printed so far: [link, token] pairs. */
function printedLinks(stack: Stack): [string, string][] {
  return [...stack.logs.join("").matchAll(LINK)].map((m) => [m[1], m[2]]);
}

async function theLink(stack: Stack): Promise<[string, string]> {
  await expect.poll(() => printedLinks(stack).length).toBe(1);
  return printedLinks(stack)[0];
}

const occurrences = (text: string, part: string) => text.split(part).length - 1;

test.describe("first run", () => {
  test("the printed setup link signs in once, creates the first workspace and shows the SDK lines", async ({
    page,
    browser,
    fresh: stack,
  }) => {
    const [link, token] = await theLink(stack);
    expect(link).toBe(`${stack.baseURL}/setup/begin?token=${token}`);
    expect(stack.logs.join("")).toContain(`Open ${link} within 15 minutes`);

    const visited: string[] = [];
    page.on("request", (r) => visited.push(r.url()));
    await page.goto(link);
    // Signed in as the setup admin, and the token has left the address bar.
    await expect(page).toHaveURL(`${stack.baseURL}/setup`);
    await page.locator("#setup-id").fill("team-a");
    await page.locator("#setup-name").fill("Team A");
    await page.getByRole("button", { name: "Create the workspace and its key" }).click();
    await expect(page.getByTestId("setup-done")).toContainText("Workspace Team A is ready");
    const env = (await page.getByTestId("setup-env").textContent()) ?? "";
    expect(env).toContain(`OPENAI_BASE_URL=${stack.baseURL}/v1\n`);
    const key = /OPENAI_API_KEY=(qs_[0-9a-f]{64})$/.exec(env)?.[1];
    expect(key, env).toBeTruthy();

    // The two lines work: an SDK call with them is metered for the new workspace.
    expect(await stack.call(key!)).toBe(200);
    await page.getByTestId("setup-open-workspace").click();
    await expect(page).toHaveURL(`${stack.baseURL}/`);
    await expect(page.locator(".page-title")).toContainText("Team A");

    // The token was in one URL only (the link itself), and in the output only on its line.
    expect(visited.filter((u) => u.includes(token))).toEqual([link]);
    expect(occurrences(stack.logs.join(""), token)).toBe(1);

    // Spent: the link does not sign anyone in again, and says why.
    const other = await browser.newPage();
    await other.goto(link);
    await expect(other).toHaveURL(`${stack.baseURL}/setup?error=used`);
    await expect(other.getByTestId("setup-closed-reason")).toHaveText("It was already used: a setup link works once.");
    const who = await other.request.get(`${stack.baseURL}/api/session`);
    expect(who.status()).toBe(401);
    await other.close();

    // The workspace was stored: the next start has one, so it prints no link.
    await stack.stopServer();
    await stack.startServer();
    expect(await stack.call(key!)).toBe(200);
    expect(printedLinks(stack)).toHaveLength(1);
  });

  test("a restart ends an unused link and prints a new one", async ({ page, fresh: stack }) => {
    const [oldLink, oldToken] = await theLink(stack);
    await stack.stopServer();
    await stack.startServer();
    await expect.poll(() => printedLinks(stack).length).toBe(2);
    const [newLink, newToken] = printedLinks(stack)[1];
    expect(newToken).not.toBe(oldToken);

    await page.goto(oldLink);
    await expect(page).toHaveURL(`${stack.baseURL}/setup?error=invalid`);
    await expect(page.getByTestId("setup-closed")).toContainText("It is not this gateway's current setup link.");
    // Without the setup session the admin API stays shut.
    const r = await page.request.post(`${stack.baseURL}/api/admin/workspaces`, { data: { id: "x" } });
    expect(r.status()).toBe(403);

    await page.goto(newLink);
    await expect(page).toHaveURL(`${stack.baseURL}/setup`);
    await expect(page.getByTestId("setup-form")).toBeVisible();
  });
});
