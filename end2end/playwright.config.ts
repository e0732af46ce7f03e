import { defineConfig, devices } from "@playwright/test";

/**
 * Browser tests of the Quota Sentinel UI in Debian's Chromium (never a downloaded browser).
 * Every test gets its own gateway + simulator on free ports with a fresh SQLite database: see
 * the `stack` fixture in tests/fixtures.ts (it can also stop and restart the gateway).
 * The release binary is $QS_BIN (default ~/.cache/quota-sentinel/target/release/quota-sentinel);
 * build it first with `cargo leptos build --release` (`make test` does).
 */
export default defineConfig({
  testDir: "./tests",
  timeout: 60_000,
  expect: { timeout: 5_000 },
  fullyParallel: false,
  workers: 1,
  forbidOnly: !!process.env.CI,
  retries: process.env.CI ? 1 : 0,
  reporter: [["list"]],
  use: {
    trace: "retain-on-failure",
    screenshot: "only-on-failure",
  },
  projects: [
    {
      name: "chromium",
      use: {
        ...devices["Desktop Chrome"],
        launchOptions: {
          executablePath: "/usr/bin/chromium",
          args: [
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-quic",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
          ],
        },
      },
    },
  ],
});
