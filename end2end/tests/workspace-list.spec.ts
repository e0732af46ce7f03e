import { test, expect, KEYS, signIn, expectLive, Stack } from "./fixtures";

/** Adds `team-000` … `team-119` through the admin API; every tenth is named "Research Team N". */
async function addTeams(stack: Stack) {
  const headers = { "content-type": "application/json", authorization: `Bearer ${KEYS.admin}` };
  for (let i = 0; i < 120; i++) {
    const id = `team-${String(i).padStart(3, "0")}`;
    const name = i % 10 === 0 ? `Research Team ${i}` : `Team ${i}`;
    const r = await fetch(`${stack.baseURL}/api/admin/workspaces`, {
      method: "POST",
      headers,
      body: JSON.stringify({ id, name }),
    });
    expect(r.status, id).toBe(201);
  }
}

test.describe("workspace list", () => {
  test("the admin table shows a page at a time, pages on and back, and searches the server", async ({
    page,
    stack,
  }) => {
    await addTeams(stack);
    await signIn(page, stack, KEYS.admin);
    await page.goto(`${stack.baseURL}/admin`);
    const rows = page.getByTestId("workspace-row");
    const range = page.getByTestId("page-range");
    // Sorted by id: acme, globex, team-000 … team-047 on the first page.
    await expect(rows).toHaveCount(50);
    await expect(range).toHaveText("1–50 of 122");
    await expect(rows.first()).toHaveAttribute("data-workspace", "acme");
    await expect(rows.last()).toHaveAttribute("data-workspace", "team-047");
    await expect(page.getByTestId("page-previous")).toBeDisabled();
    await expectLive(page);

    // The page's rows stay live.
    expect(await stack.call(KEYS.acme)).toBe(200);
    const acme = page.locator('[data-workspace="acme"]');
    await expect(acme.getByTestId("usage-requests_per_day").locator(".usage-value")).toHaveText(/^1 of /);

    // Next, next (the last page, shorter), previous.
    await page.getByTestId("page-next").click();
    await expect(range).toHaveText("51–100 of 122");
    await expect(rows.first()).toHaveAttribute("data-workspace", "team-048");
    await expect(rows).toHaveCount(50);
    // A workspace of another page that changes does not join this page.
    expect(await stack.call(KEYS.globex)).toBe(200);
    await page.getByTestId("page-next").click();
    await expect(range).toHaveText("101–122 of 122");
    await expect(rows).toHaveCount(22);
    await expect(rows.last()).toHaveAttribute("data-workspace", "team-119");
    await expect(page.getByTestId("page-next")).toBeDisabled();
    await expect(page.locator('[data-workspace="globex"]')).toHaveCount(0);
    await page.getByTestId("page-previous").click();
    await expect(range).toHaveText("51–100 of 122");
    await expect(rows.first()).toHaveAttribute("data-workspace", "team-048");

    // Search (any case, names and ids) asks the server: matches from every page, from the first.
    await page.getByTestId("filter").fill("RESEARCH");
    await expect(range).toHaveText("1–12 of 12");
    await expect(rows).toHaveCount(12);
    await expect(rows.first()).toHaveAttribute("data-workspace", "team-000");
    await expect(rows.last()).toHaveAttribute("data-workspace", "team-110");
    await expect(page.getByTestId("page-next")).toBeDisabled();
    await expect(page.getByTestId("page-previous")).toBeDisabled();
    await page.getByTestId("filter").fill("team-11");
    await expect(range).toHaveText("1–10 of 10");
    await page.getByTestId("filter").fill("no such workspace");
    await expect(rows).toHaveCount(0);
    await expect(page.getByText("No workspace matches.")).toBeVisible();
    await expect(range).toHaveText("");
    // Cleared: the first page of all again.
    await page.getByTestId("filter").fill("");
    await expect(range).toHaveText("1–50 of 122");
    await expect(rows).toHaveCount(50);
    await expect(rows.first()).toHaveAttribute("data-workspace", "acme");

    // The status filter asks the server too: no workspace is degraded, every one is normal.
    await page.getByTestId("status-filter").selectOption("degraded");
    await expect(rows).toHaveCount(0);
    await expect(range).toHaveText("");
    await page.getByTestId("status-filter").selectOption("normal");
    await expect(range).toHaveText("1–50 of 122");
    await page.getByTestId("page-next").click();
    await expect(range).toHaveText("51–100 of 122");
    await page.getByTestId("status-filter").selectOption("");
    await expect(range).toHaveText("1–50 of 122");
  });

  test("the first page is in the server's HTML, with the overview's sums over every workspace", async ({
    page,
    stack,
  }) => {
    await addTeams(stack);
    expect(await stack.call(KEYS.globex)).toBe(200);
    await signIn(page, stack, KEYS.admin);
    // Without JavaScript: what the server rendered.
    await page.context().route("**/*.wasm", (r) => r.abort());
    await page.goto(`${stack.baseURL}/admin`);
    await expect(page.getByTestId("workspace-row")).toHaveCount(50);
    await expect(page.getByTestId("page-range")).toHaveText("1–50 of 122");
    await expect(page.getByTestId("top-spend")).toContainText("Globex");
    await expect(page.getByTestId("spend-today")).toHaveText(/^\$0\.0\d*[1-9]/);
  });
});
