import { test as base, expect, Page, APIRequestContext } from "@playwright/test";
import { spawn, ChildProcess } from "node:child_process";
import { createHash } from "node:crypto";
import * as fs from "node:fs";
import * as net from "node:net";
import * as os from "node:os";
import * as path from "node:path";

/** Keys of the test workspaces and the admin. */
export const KEYS = {
  acme: "qs_e2e_acme_key_0123456789",
  globex: "qs_e2e_globex_key_0123456789",
  admin: "e2e-admin-key-0123456789",
};
const UPSTREAM_KEY = "sk-e2e-upstream";

const BIN =
  process.env.QS_BIN ?? path.join(os.homedir(), ".cache/quota-sentinel/target/release/quota-sentinel");
const SITE_ROOT = process.env.LEPTOS_SITE_ROOT ?? path.resolve(__dirname, "../../target/site");

const sha256 = (s: string) => createHash("sha256").update(s).digest("hex");

async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = net.createServer();
    srv.unref();
    srv.on("error", reject);
    srv.listen(0, "127.0.0.1", () => {
      const addr = srv.address();
      const port = typeof addr === "object" && addr ? addr.port : 0;
      srv.close(() => resolve(port));
    });
  });
}

async function waitFor(url: string, timeoutMs = 20_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  let last = "";
  while (Date.now() < deadline) {
    try {
      const r = await fetch(url);
      if (r.ok) return;
      last = `HTTP ${r.status}`;
    } catch (e) {
      last = String(e);
    }
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`${url} did not come up: ${last}`);
}

function exited(p: ChildProcess): Promise<void> {
  return new Promise((resolve) => {
    if (p.exitCode !== null || p.signalCode !== null) return resolve();
    p.once("exit", () => resolve());
  });
}

/** A gateway and its simulated OpenAI, on free ports, with a fresh database. With `firstRun`,
 *  as on a fresh clone: no workspace in the config and no admin key; with `timeZone`, the
 *  gateway's `[server] time_zone` (UTC otherwise). */
export class Stack {
  constructor(readonly opts: { firstRun?: boolean; timeZone?: string } = {}) {}

  dir = fs.mkdtempSync(path.join(os.tmpdir(), "qs-e2e-"));
  simPort = 0;
  port = 0;
  sim?: ChildProcess;
  server?: ChildProcess;
  logs: string[] = [];

  get baseURL() {
    return `http://127.0.0.1:${this.port}`;
  }
  get simURL() {
    return `http://127.0.0.1:${this.simPort}`;
  }

  async start() {
    this.simPort = await freePort();
    this.port = await freePort();
    fs.writeFileSync(
      path.join(this.dir, "qs.toml"),
      this.opts.firstRun ? "" : [
        ...(this.opts.timeZone ? ["[server]", `time_zone = "${this.opts.timeZone}"`, ""] : []),
        "[[workspaces]]",
        'id = "acme"',
        'name = "Acme"',
        `key_sha256 = ["${sha256(KEYS.acme)}"]`,
        "budget_usd_per_day = 20.0",
        "",
        "[[workspaces]]",
        'id = "globex"',
        'name = "Globex"',
        `key_sha256 = ["${sha256(KEYS.globex)}"]`,
        "",
      ].join("\n"),
    );
    this.sim = spawn(BIN, ["simulate", "--sim-listen", `127.0.0.1:${this.simPort}`, "--sim-api-key", UPSTREAM_KEY], {
      stdio: ["ignore", "pipe", "pipe"],
    });
    this.capture(this.sim, "sim");
    await waitFor(`${this.simURL}/_sim/health`);
    await this.startServer();
    await this.checkSite();
  }

  /** Fails early, and clearly, when the binary and the site do not belong together (a binary
   *  built by plain `cargo build` looks for `…_bg.wasm`; cargo-leptos writes `….wasm`). */
  private async checkSite() {
    const html = await (await fetch(`${this.baseURL}/login`)).text();
    const wasm = /href="([^"]+\.wasm)"/.exec(html)?.[1];
    if (!wasm) return;
    const r = await fetch(`${this.baseURL}${wasm}`);
    await r.arrayBuffer();
    if (!r.ok) {
      throw new Error(
        `${BIN} links ${wasm}, which ${SITE_ROOT} lacks (HTTP ${r.status}): rebuild with \`cargo leptos build --release\``,
      );
    }
  }

  private capture(p: ChildProcess, name: string) {
    const push = (d: Buffer) => {
      this.logs.push(`[${name}] ${d.toString()}`);
      if (this.logs.length > 400) this.logs.shift();
    };
    p.stdout?.on("data", push);
    p.stderr?.on("data", push);
  }

  async startServer() {
    const env: NodeJS.ProcessEnv = {
      ...process.env,
      OPENAI_API_KEY: UPSTREAM_KEY,
      QUOTA_ADMIN_KEY: KEYS.admin,
      LEPTOS_SITE_ROOT: SITE_ROOT,
      QS_LOG: "warn",
    };
    if (this.opts.firstRun) delete env.QUOTA_ADMIN_KEY;
    this.server = spawn(
      BIN,
      [
        "serve",
        "--config",
        path.join(this.dir, "qs.toml"),
        "--listen",
        `127.0.0.1:${this.port}`,
        "--database-url",
        `sqlite://${path.join(this.dir, "qs.db")}?mode=rwc`,
        "--upstream-url",
        `${this.simURL}/v1`,
      ],
      {
        stdio: ["ignore", "pipe", "pipe"],
        env,
      },
    );
    this.capture(this.server, "gateway");
    await waitFor(`${this.baseURL}/healthz`);
  }

  /** Stops the gateway gracefully (SIGTERM: it flushes its ledger). */
  async stopServer() {
    const p = this.server;
    if (!p) return;
    p.kill("SIGTERM");
    await exited(p);
    this.server = undefined;
  }

  async stop() {
    await this.stopServer();
    if (this.sim) {
      this.sim.kill("SIGTERM");
      await exited(this.sim);
    }
    fs.rmSync(this.dir, { recursive: true, force: true });
  }

  /** Queues a simulator fault for the next upstream call(s). */
  async fault(body: Record<string, unknown>) {
    const r = await fetch(`${this.simURL}/_sim/faults`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify(body),
    });
    expect(r.ok).toBeTruthy();
  }

  /** One chat call through the gateway (`headers` adds e.g. X-Quota-Goal). */
  async call(key: string, headers: Record<string, string> = {}): Promise<number> {
    const r = await fetch(`${this.baseURL}/v1/chat/completions`, {
      method: "POST",
      headers: { "content-type": "application/json", authorization: `Bearer ${key}`, ...headers },
      body: JSON.stringify({ model: "gpt-4o-mini", messages: [{ role: "user", content: "hi" }], max_tokens: 16 }),
    });
    await r.text();
    return r.status;
  }
}

/** Signs `page`'s browser context in with `key` (the cookie is HttpOnly, set by the server). */
export async function signIn(page: Page, stack: Stack, key: string) {
  const r = await page.request.post(`${stack.baseURL}/api/session`, { data: { key } });
  expect(r.status()).toBe(200);
}

/** Sets the language cookie before the first page load. */
export async function setLanguage(page: Page, stack: Stack, lang: string) {
  await page.context().addCookies([{ name: "qs_lang", value: lang, url: stack.baseURL }]);
}

/** Collects console errors, page errors and failed requests of a page. */
export function watchProblems(page: Page): string[] {
  const problems: string[] = [];
  page.on("console", (m) => {
    if (m.type() === "error") problems.push(`console: ${m.text()}`);
  });
  page.on("pageerror", (e) => problems.push(`pageerror: ${e.message}`));
  page.on("requestfailed", (r) => problems.push(`failed: ${r.method()} ${r.url()} ${r.failure()?.errorText}`));
  page.on("response", (r) => {
    if (r.status() >= 400) problems.push(`HTTP ${r.status()}: ${r.request().method()} ${r.url()}`);
  });
  return problems;
}

/** Waits until the page is hydrated and its socket is live. */
export async function expectLive(page: Page) {
  await expect(page.getByTestId("connection")).toHaveAttribute("data-state", "live", { timeout: 10_000 });
}

export const test = base.extend<{ stack: Stack }>({
  stack: async ({}, use, testInfo) => {
    const s = new Stack();
    await s.start();
    await use(s);
    if (testInfo.status !== testInfo.expectedStatus) {
      await testInfo.attach("server-logs", { body: s.logs.join(""), contentType: "text/plain" });
    }
    await s.stop();
  },
});

export { expect };
export type { APIRequestContext };
