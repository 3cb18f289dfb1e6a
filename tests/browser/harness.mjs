// Small harness for the browser tests: launches Debian's chromium through
// playwright-core, counts checks, saves screenshots, records console errors
// (a CSP violation shows up there) and talks to PostgreSQL with psql.
import { chromium } from "playwright-core";
import { spawnSync } from "node:child_process";
import { createRequire } from "node:module";
import fs from "node:fs";
import path from "node:path";

const AXE_SOURCE = fs.readFileSync(createRequire(import.meta.url).resolve("axe-core/axe.min.js"), "utf8");

export const BASE = process.env.URL;
export const ARTIFACTS = process.env.ARTIFACTS;
export const ADMIN = {user: "admin", password: "test-admin-password"};

let passed = 0, failed = 0, skipped = 0;

export function ok(name) { passed++; console.log("ok - " + name); }
export function skip(name, why) { skipped++; console.log("SKIP: " + name + ": " + why); }
export function assert(cond, message) { if (!cond) throw new Error(message); }

export async function launch() {
  return chromium.launch({
    executablePath: process.env.CHROMIUM || "/usr/bin/chromium",
    headless: true,
    chromiumSandbox: false,  // --no-sandbox: we run as root
    args: ["--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking",
      "--disable-component-update", "--disable-sync"],
  });
}

// A page that remembers console errors and failed requests.
export async function newPage(context) {
  const page = await context.newPage();
  page.consoleErrors = [];
  page.on("console", (m) => { if (m.type() === "error") page.consoleErrors.push(m.text()); });
  page.on("pageerror", (e) => page.consoleErrors.push("pageerror: " + e.message));
  return page;
}

// No CSP violation and no script error on the page so far (404s of APIs
// that other areas have not landed yet are allowed).
export function assertClean(page, what) {
  const bad = page.consoleErrors.filter((t) => !/Failed to load resource: the server responded with a status of (404|401|503)/.test(t)
    && !/EventSource/.test(t));
  assert(bad.length === 0, what + ": console errors: " + bad.join(" | "));
}

export async function shot(page, name) {
  await page.screenshot({path: path.join(ARTIFACTS, name + ".png"), fullPage: true});
}

// The page fits its width: no horizontal scrolling.
export async function assertNoHorizontalScroll(page, what) {
  const {scroll, inner} = await page.evaluate(() => ({
    scroll: document.documentElement.scrollWidth, inner: window.innerWidth}));
  assert(scroll <= inner, what + ": scrollWidth " + scroll + " > " + inner);
}

// axe-core on the page as it is now: no serious or critical violation (all
// rules: WCAG 2.x A/AA and best practices). axe is evaluated through the
// DevTools protocol, which the page's CSP does not govern, so the page keeps
// its real CSP. Returns the violations of lower impact (reported only).
export async function axe(page, what) {
  await page.evaluate(AXE_SOURCE);
  const result = await page.evaluate(async () => {
    const r = await window.axe.run(document, {resultTypes: ["violations"]});
    return r.violations.map((v) => ({id: v.id, impact: v.impact, help: v.help,
      nodes: v.nodes.slice(0, 5).map((n) => n.target.join(" ") + (n.failureSummary ? " (" + n.failureSummary.replace(/\s+/g, " ") + ")" : ""))}));
  });
  const bad = result.filter((v) => v.impact === "serious" || v.impact === "critical");
  assert(bad.length === 0, what + ": axe: " + bad.map((v) => v.impact + " " + v.id + " (" + v.help + "): "
    + v.nodes.join("; ")).join(" | "));
  const minor = result.filter((v) => !bad.includes(v));
  if (minor.length) console.log("  axe (" + what + "): minor: " + minor.map((v) => v.impact + " " + v.id).join(", "));
  return minor;
}

export function psql(sql) {
  const r = spawnSync("psql", ["-qAt", "-v", "ON_ERROR_STOP=1", "-c", sql], {encoding: "utf8"});
  if (r.status !== 0) throw new Error("psql: " + r.stderr);
  return r.stdout.trim();
}

export async function login(page, next) {
  await page.goto(BASE + (next || "/admin"));
  await page.waitForURL(/\/admin\/login/);
  await page.fill("#username", ADMIN.user);
  await page.fill("#password", ADMIN.password);
  await Promise.all([page.waitForURL((u) => !u.pathname.startsWith("/admin/login")), page.click("#login_button")]);
}

// Run one check; on failure the pages given are saved as "FAIL-<n>-<i>".
export async function check(name, fn, pages) {
  try {
    const r = await fn();
    if (r && r.skip) skip(name, r.skip); else ok(name);
  } catch (e) {
    failed++;
    console.log("FAIL: " + name + ": " + (e && e.stack ? e.stack : e));
    for (const [i, p] of (pages || []).entries()) {
      try { await shot(p, "FAIL-" + failed + "-" + i); } catch (x) { /* closed */ }
      if (p.consoleErrors && p.consoleErrors.length) console.log("  console: " + p.consoleErrors.join(" | "));
    }
  }
}

export function finish() {
  console.log(passed + " passed, " + failed + " failed" + (skipped ? ", " + skipped + " skipped" : ""));
  process.exit(failed ? 1 : 0);
}
