// The admin console in a real browser against the real allocator: login,
// every page renders under the strict CSP in both themes and at 375 px,
// live updates, a student's claim reset, a CSRF attempt from another
// origin, logout.
import http from "node:http";
import {BASE, ADMIN, launch, newPage, assertClean, shot, assertNoHorizontalScroll, psql, login, check, assert,
  finish, axe} from "./harness.mjs";

const browser = await launch();
const context = await browser.newContext({viewport: {width: 1280, height: 900}});
const page = await newPage(context);

psql("INSERT INTO vms (hostname, status, user_email, in_use, gpu_health, last_seen_at, " +
  "terraform_duration_seconds, cloud_init_duration_seconds, container_duration_seconds) VALUES " +
  "('lablink-vm-browser-1', 'running', 'student@example.com', true, 'Healthy', now(), 31.5, 80.25, 12), " +
  "('lablink-vm-browser-2', 'initializing', NULL, false, 'N/A', now(), 29, NULL, NULL)");
// A student whose start-host failed: the row must stand out, with the reason
psql("INSERT INTO vms (hostname, status, user_email, crd_command, pin, last_seen_at, start_host_ok, " +
  "start_host_error, start_host_at, disk_free_pct) VALUES ('lablink-vm-browser-4', 'running', 'late@example.com', " +
  "'--code=4/x', '123456', now(), false, 'start-host exited with status 1', now(), 5)");

await check("student page renders with upstream ids", async () => {
  await page.goto(BASE + "/");
  assert(await page.title() === "LabLink Allocator", "title");
  assert(await page.isVisible("#vms_available"), "#vms_available");
  assert(await page.locator("#unassigned_vms_count").count() === 1, "#unassigned_vms_count");
  await shot(page, "student-index");
  assertClean(page, "/");
}, [page]);

await check("unauthenticated /admin leads to the login page; a wrong password is refused", async () => {
  await page.goto(BASE + "/admin/instances");
  await page.waitForURL(/\/admin\/login\?next=/);
  await shot(page, "admin-login");
  await page.fill("#username", ADMIN.user);
  await page.fill("#password", "wrong");
  await page.click("#login_button");
  await page.waitForSelector("#login_error:text('Invalid user name or password.')");
  assertClean(page, "login");
}, [page]);

await check("login sets an HttpOnly SameSite=Strict cookie and returns to the page asked for", async () => {
  await login(page, "/admin/instances");
  assert(new URL(page.url()).pathname === "/admin/instances", "landed on " + page.url());
  const cookies = await context.cookies();
  const c = cookies.find((x) => x.name === "lablink_session");
  assert(c && c.httpOnly && c.sameSite === "Strict" && !c.secure, "cookie " + JSON.stringify(c));
  const visible = await page.evaluate(() => document.cookie);
  assert(!visible.includes("lablink_session"), "cookie readable by script");
}, [page]);

const pages = [
  ["/admin", "admin", "LabLink Admin Panel", "h1"],
  ["/admin/create", "admin-create", "VM Allocator Dashboard", "h1"],
  ["/admin/instances", "admin-instances", "Existing VM Instances", "h1"],
  ["/admin/instances/delete", "admin-delete", "Delete All LabLink Instances", "h1"],
  ["/admin/logs/lablink-vm-browser-1", "admin-logs", "VM Logs - lablink-vm-browser-1", "h1"],
  ["/admin/audit", "admin-audit", "Audit Log", "h1"],
  ["/admin/scheduled-destruction", "admin-schedule", "Scheduled Destructions", "h1"],
];
for (const [path, name, heading] of pages) {
  await check(path + " renders (CSP clean, both themes, 375 px without horizontal scroll)", async () => {
    page.consoleErrors.length = 0;
    await page.setViewportSize({width: 1280, height: 900});
    await page.goto(BASE + path);
    assert((await page.textContent("h1")).trim() === heading, "heading " + (await page.textContent("h1")));
    await page.waitForTimeout(300);
    await shot(page, name + "-desktop");
    await axe(page, path + " (" + ((await page.evaluate(() => document.documentElement.dataset.theme)) || "default") + ")");
    const before = await page.evaluate(() => getComputedStyle(document.body).backgroundColor);
    const theme = await page.evaluate(() => document.documentElement.dataset.theme || "");
    await page.click("#theme_toggle");
    const after = await page.evaluate(() => getComputedStyle(document.body).backgroundColor);
    const theme2 = await page.evaluate(() => document.documentElement.dataset.theme);
    assert(theme2 && theme2 !== theme && before !== after, "theme did not switch: " + before + " -> " + after);
    await shot(page, name + "-" + theme2);
    await axe(page, path + " (" + theme2 + ")");
    await page.click("#theme_toggle");
    await page.setViewportSize({width: 375, height: 800});
    await page.waitForTimeout(200);
    await assertNoHorizontalScroll(page, path);
    await shot(page, name + "-375px");
    assertClean(page, path);
  });
}

await check("instances: table from the database, startup chart, live update, CSV", async () => {
  await page.setViewportSize({width: 1280, height: 900});
  await page.goto(BASE + "/admin/instances");
  await page.waitForSelector("tr[data-hostname='lablink-vm-browser-1']");
  const row = await page.textContent("tr[data-hostname='lablink-vm-browser-1']");
  for (const want of ["In use", "student@example.com", "Yes", "Healthy", "123.8s", "View Logs"]) {
    assert(row.includes(want), "row lacks " + want + ": " + row);
  }
  // Upstream's duration columns are a choice away (and the choice is kept)
  await page.click("#column_chooser summary");
  for (const id of ["#col_status", "#col_tf", "#col_ci", "#col_ct"]) await page.check(id);
  const full = await page.textContent("tr[data-hostname='lablink-vm-browser-1']");
  for (const want of ["running", "31.5s", "80.3s", "12.0s"]) assert(full.includes(want), "row lacks " + want + ": " + full);
  await page.reload();
  await page.waitForSelector("tr[data-hostname='lablink-vm-browser-1']");
  assert((await page.textContent("tr[data-hostname='lablink-vm-browser-1']")).includes("80.3s"), "column choice forgotten");
  await page.click("#column_chooser summary");
  for (const id of ["#col_status", "#col_tf", "#col_ci", "#col_ct"]) await page.uncheck(id);
  assert(await page.locator("#startup_chart rect").count() >= 4, "chart bars");
  // Failures stand out: marked row, failure badge with the agent's reason,
  // low disk flagged; success rows are not marked
  const bad = "tr[data-hostname='lablink-vm-browser-4']";
  assert(await page.locator(bad + ".attention").count() === 1, "failed row not marked");
  const badText = await page.textContent(bad);
  for (const want of ["Failed", "start-host exited with status 1", "5 % (low)", "Needs attention"]) {
    assert(badText.includes(want), "failed row lacks " + want + ": " + badText);
  }
  assert(await page.locator("tr[data-hostname='lablink-vm-browser-1'].attention").count() === 0, "healthy row marked");
  const failColour = await page.$eval(bad + " .badge.fail", (e) => getComputedStyle(e).backgroundColor);
  const okColour = await page.$eval("tr[data-hostname='lablink-vm-browser-1'] .badge.good", (e) => getComputedStyle(e).backgroundColor);
  assert(failColour !== okColour, "failure painted like success: " + failColour);
  psql("INSERT INTO vms (hostname, status) VALUES ('lablink-vm-browser-3', 'running')");
  await page.waitForSelector("tr[data-hostname='lablink-vm-browser-3']", {timeout: 10000});
  // the live update keeps every column (the refresh asks for our names)
  // (upstream's durations are chosen again to see them: hidden by default;
  // the chooser is still open)
  for (const id of ["#col_tf", "#col_ci", "#col_ct"]) await page.check(id);
  const updated = await page.textContent("tr[data-hostname='lablink-vm-browser-1']");
  for (const want of ["student@example.com", "Yes", "Healthy", "31.5s", "80.3s", "12.0s", "123.8s"]) {
    assert(updated.includes(want), "after the live update the row lacks " + want + ": " + updated);
  }
  for (const id of ["#col_tf", "#col_ci", "#col_ct"]) await page.uncheck(id);
  const [download] = await Promise.all([page.waitForEvent("download"), page.click("#download_csv")]);
  assert(/^lablink_instances_.*\.csv$/.test(download.suggestedFilename()), download.suggestedFilename());
  const text = await (await download.createReadStream()).toArray();
  const csv = Buffer.concat(text).toString();
  assert(csv.startsWith("hostname,") && csv.includes("lablink-vm-browser-3"), "csv: " + csv.slice(0, 200));
  assert(!csv.includes("crd_command") && !csv.includes("pin"), "csv shows secrets");
  await shot(page, "admin-instances-live");
}, [page]);

await check("create: Launch VMs is disabled until a positive number is typed", async () => {
  await page.goto(BASE + "/admin/create");
  assert(await page.isDisabled("#launch_button"), "enabled at first");
  await page.fill("#num_vms", "0");
  assert(await page.isDisabled("#launch_button"), "enabled for 0");
  await page.fill("#num_vms", "2");
  assert(!(await page.isDisabled("#launch_button")), "disabled for 2");
}, [page]);

// Another origin (same host, another port: same site, so SameSite does not
// help here; the CSRF token and the Origin check must).
await check("a CSRF attempt from another origin is refused (403) and changes nothing", async () => {
  const target = BASE + "/admin/logout";
  const evil = http.createServer((req, res) => {
    res.writeHead(200, {"Content-Type": "text/html"});
    res.end(`<!doctype html><form id="f" method="post" action="${target}"><input name="x" value="1"></form>
      <script>fetch(${JSON.stringify(target)}, {method: "POST", credentials: "include", mode: "no-cors"})
        .finally(() => document.getElementById("f").submit());</script>`);
  });
  await new Promise((r) => evil.listen(0, "127.0.0.1", r));
  const evilUrl = "http://127.0.0.1:" + evil.address().port + "/";
  const statuses = [];
  const listener = (resp) => { if (resp.url() === target) statuses.push(resp.status()); };
  page.on("response", listener);
  await page.goto(evilUrl);
  await page.waitForURL(target, {timeout: 10000});
  await page.waitForTimeout(300);
  page.off("response", listener);
  evil.close();
  assert(statuses.length >= 1 && statuses.every((s) => s === 403), "statuses " + JSON.stringify(statuses));
  assert((await page.textContent("body")).includes("CSRF token missing or invalid."), "no CSRF message");
  await shot(page, "csrf-refused");
  await page.goto(BASE + "/admin");
  assert(new URL(page.url()).pathname === "/admin", "session lost after the CSRF attempt: " + page.url());
  const audit = psql("SELECT count(*) FROM audit_log WHERE action = 'POST /admin/logout' AND outcome = 'failure'");
  assert(Number(audit) >= 1, "refusal not audited");
}, [page]);

await check("a student's claim reset from /admin: a new recovery code, audited; an unknown email changes nothing", async () => {
  psql("UPDATE vms SET claim_secret_hash = repeat('a', 64) WHERE hostname = 'lablink-vm-browser-1'");
  const hash = () => psql("SELECT claim_secret_hash FROM vms WHERE hostname = 'lablink-vm-browser-1'");
  const resets = () => Number(psql("SELECT count(*) FROM audit_log WHERE action = 'claim-reset'"));
  await page.setViewportSize({width: 1280, height: 900});
  page.consoleErrors.length = 0;  // the CSRF check's expected 403s
  await page.goto(BASE + "/admin");
  page.on("dialog", (d) => d.accept());
  await page.fill("#claim_reset_email", "nobody@example.com");
  await page.click("#claim_reset_button");
  await page.waitForSelector("#claim_reset_result.bad");
  assert((await page.textContent("#claim_reset_result")).includes("No VM is claimed by this email."),
    "unknown email: " + (await page.textContent("#claim_reset_result")));
  assert(hash() === "a".repeat(64) && resets() === 0, "the unknown email changed something");
  page.consoleErrors.length = 0;  // the 404 above is the expected answer
  await page.fill("#claim_reset_email", "Student@Example.com");
  await page.click("#claim_reset_button");
  await page.waitForSelector("#claim_reset_code");
  const code = (await page.textContent("#claim_reset_code")).trim();
  assert(/^[0-9A-HJKMNP-TV-Z]{4}(-[0-9A-HJKMNP-TV-Z]{4}){3}$/.test(code), "code " + code);
  assert((await page.textContent("#claim_reset_result")).includes("lablink-vm-browser-1"), "hostname not shown");
  assert(/^[0-9a-f]{64}$/.test(hash()) && hash() !== "a".repeat(64), "hash not replaced: " + hash());
  const audit = psql("SELECT actor || ' ' || target FROM audit_log WHERE action = 'claim-reset'");
  assert(audit === "admin:" + ADMIN.user + " student@example.com", "audit " + audit);
  await shot(page, "admin-claim-reset");
  assertClean(page, "/admin claim reset");
}, [page]);

await check("audit page lists the logins", async () => {
  await page.goto(BASE + "/admin/audit");
  const body = await page.textContent("#audit_body");
  assert(body.includes("login") && body.includes("success") && body.includes("failure"), body.slice(0, 300));
}, [page]);

await check("logout ends the session", async () => {
  await page.goto(BASE + "/admin");
  await Promise.all([page.waitForURL(/\/admin\/login\?logged_out=1/), page.click("#logout_button")]);
  assert((await page.textContent("#login_message")).includes("You have been logged out."), "message");
  await shot(page, "admin-logged-out");
  await page.goto(BASE + "/admin");
  await page.waitForURL(/\/admin\/login/);
  assert(psql("SELECT count(*) FROM admin_sessions") === "0", "session row left");
}, [page]);

await browser.close();
finish();
