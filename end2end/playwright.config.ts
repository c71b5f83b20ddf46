import { defineConfig } from "@playwright/test";
import * as fs from "fs";
import * as os from "os";
import * as path from "path";

// Each run gets a throwaway data folder: a fresh SQLite database and master key.
// Workers evaluate this file again; they inherit the runner's folder through the environment.
const dataDir = process.env.E2E_DATA_DIR ?? fs.mkdtempSync(path.join(os.tmpdir(), "switchyard-e2e-"));
const port = Number(process.env.E2E_PORT ?? 3917);
// Specs read this to reach the database directly for setup (e.g. to age a link).
process.env.E2E_DATA_DIR = dataDir;
// The simulators listen from port+1 in registry order: NetSuite, SAP Business One, Sage Intacct.
process.env.E2E_SIM_BASE = `http://127.0.0.1:${port + 1}`;
process.env.E2E_SAP_URL = `http://127.0.0.1:${port + 2}`;

export default defineConfig({
  testDir: "./tests",
  timeout: 30_000,
  expect: { timeout: 10_000 },
  workers: 1,
  retries: 0,
  reporter: "list",
  use: {
    baseURL: `http://127.0.0.1:${port}`,
    browserName: "chromium",
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
    trace: "off",
  },
  webServer: {
    command: `./target/debug/switchyard serve --simulators --simulator-port ${port + 1}`,
    cwd: "..",
    url: `http://127.0.0.1:${port}/healthz`,
    reuseExistingServer: false,
    timeout: 60_000,
    stdout: "pipe",
    stderr: "pipe",
    env: {
      SWITCHYARD_BIND: `127.0.0.1:${port}`,
      SWITCHYARD_DATA_DIR: dataDir,
      SWITCHYARD_DATABASE_URL: `sqlite://${dataDir}/switchyard.db`,
      SWITCHYARD_ADMIN_EMAIL: "admin@example.com",
      SWITCHYARD_ADMIN_PASSWORD: "e2e-admin-password-42",
      LEPTOS_SITE_ROOT: "target/site",
      SWITCHYARD_LOG: "warn",
      SWITCHYARD_ALLOW_LOOPBACK_ERPS: "true",
    },
  },
});
