import base from "./playwright.config";
import { defineConfig } from "@playwright/test";

/** Browser benchmarks for BENCHMARKS.md (`make bench`); not part of `make test`. */
export default defineConfig({ ...base, testDir: "./bench", retries: 0, timeout: 180_000 });
