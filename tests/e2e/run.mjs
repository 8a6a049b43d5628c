// End-to-end checks of the brickbox web UI in Debian's headless chromium, driven by
// playwright-core. Started by tests/e2e.rs against a real server (the local development token
// standing in for the Databricks Apps proxy), the fake workspace and Postgres.
//
//   node tests/e2e/run.mjs BASE_URL --role admin|user [--checks a,b,c] [--out DIR]
//        [--table catalog.schema.table] [--endpoint NAME] [--answer TEXT] [--marker TEXT]
//        [--budget-ms N]   (timing: the dashboard budget, 0 = measure only)
//
// Prints one line per check ("ok - name" / "not ok - name: why"), writes screenshots and
// report-ROLE.json (measurements) under --out, and exits 0 only when every check passed.

import { chromium } from "playwright-core";
import { mkdirSync, writeFileSync, existsSync } from "node:fs";
import { join } from "node:path";
import { CHECKS } from "./checks.mjs";

const CHROMIUM = "/usr/bin/chromium";

function parseArgs(argv) {
  const args = { base: null, role: "user", checks: null, out: "target/e2e", marker: `m${Date.now()}` };
  for (let i = 0; i < argv.length; i += 1) {
    const a = argv[i];
    const value = () => {
      i += 1;
      if (i >= argv.length) throw new Error(`${a} needs a value`);
      return argv[i];
    };
    if (a === "--role") args.role = value();
    else if (a === "--checks") args.checks = value().split(",").filter(Boolean);
    else if (a === "--out") args.out = value();
    else if (a === "--table") args.table = value();
    else if (a === "--endpoint") args.endpoint = value();
    else if (a === "--answer") args.answer = value();
    else if (a === "--marker") args.marker = value();
    else if (a === "--budget-ms") args.budgetMs = Number(value());
    else if (a.startsWith("--")) throw new Error(`unknown option ${a}`);
    else args.base = a.replace(/\/$/, "");
  }
  if (!args.base) throw new Error("usage: node run.mjs BASE_URL --role admin|user [--checks a,b]");
  if (!["admin", "user"].includes(args.role)) throw new Error("--role is admin or user");
  return args;
}

async function main() {
  const args = parseArgs(process.argv.slice(2));
  if (!existsSync(CHROMIUM)) {
    console.error(`not ok - setup: ${CHROMIUM} is missing; run .ci/run (or apt-get install -y chromium)`);
    process.exit(2);
  }
  const screenshots = join(args.out, "..", "e2e-screenshots");
  mkdirSync(args.out, { recursive: true });
  mkdirSync(screenshots, { recursive: true });
  // playwright's launch() gives chromium a fresh temporary --user-data-dir of its own (it refuses
  // the flag in `args`); each check opens its own context for isolation.
  const browser = await chromium.launch({
    executablePath: CHROMIUM,
    headless: true,
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
  });
  const report = { role: args.role, base: args.base, checks: {}, measurements: {} };
  const names = args.checks || Object.keys(CHECKS).filter((n) => CHECKS[n].roles.includes(args.role));
  let failed = 0;
  for (const name of names) {
    const check = CHECKS[name];
    if (!check) {
      console.log(`not ok - ${name}: no such check (have ${Object.keys(CHECKS).join(", ")})`);
      failed += 1;
      continue;
    }
    const started = Date.now();
    try {
      const details = await check.run({ browser, args, screenshots, report });
      report.checks[name] = { ok: true, ms: Date.now() - started, details: details || null };
      console.log(`ok - ${args.role}/${name} (${Date.now() - started} ms)${details ? `: ${details}` : ""}`);
    } catch (error) {
      failed += 1;
      report.checks[name] = { ok: false, ms: Date.now() - started, error: String(error && error.stack ? error.stack : error) };
      console.log(`not ok - ${args.role}/${name}: ${error && error.stack ? error.stack : error}`);
    }
  }
  await browser.close();
  writeFileSync(join(args.out, `report-${args.role}.json`), JSON.stringify(report, null, 2));
  console.log(`${names.length - failed}/${names.length} checks passed (${args.role})`);
  process.exit(failed ? 1 : 0);
}

main().catch((error) => {
  console.error(`not ok - harness: ${error && error.stack ? error.stack : error}`);
  process.exit(2);
});
