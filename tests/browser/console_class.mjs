// Running a live class from the console, in a real browser against the real
// allocator with the local provider (test_console_class.sh): the admin
// launches from the Create page and watches the dashboard change over
// Server-Sent Events; students follow their VM live through a successful
// and a failed start-host (and without JavaScript), and from the recovery
// page when they come back while it reboots; the admin reboots and
// replaces VMs from the instances page, the students keeping their place,
// reboots both at once, and saves one VM's and one student's files; the
// Create page sets the class's end and the schedule page cancels it; a
// teardown scheduled seconds away (export first) shows its banner and
// countdown, keeps the checked zip, which the browser saves to disk, and
// destroys the fleet. Every page passes axe-core (no serious or critical
// violation) light and dark, at 375 px and on a desktop; the screenshots
// stay in tests/browser/artifacts/console_class/.
import fs from "node:fs";
import {execFileSync} from "node:child_process";
import {BASE, launch, newPage, shot, psql, login, check, assert, assertClean, assertNoHorizontalScroll, axe,
  finish} from "./harness.mjs";

const WORK = process.env.FLEET_WORK;
const CRD = (code) => 'DISPLAY= /opt/google/chrome-remote-desktop/start-host --code="4/0Ab_' + code + '" '
  + '--redirect-url="https://remotedesktop.google.com/_/oauthredirect" --name=$(hostname)';

const browser = await launch();
const admin = await browser.newContext({viewport: {width: 1280, height: 900}});
const page = await newPage(admin);
page.on("dialog", (d) => d.accept());
await login(page, "/admin");

// Light and dark, desktop and 375 px: screenshots, axe, no horizontal
// scrolling. dark(page, on) switches the page's theme.
async function looks(p, name, dark) {
  for (const [width, height, tag] of [[1280, 900, "desktop"], [375, 800, "375px"]]) {
    await p.setViewportSize({width, height});
    for (const theme of ["light", "dark"]) {
      await dark(p, theme === "dark");
      await p.waitForTimeout(150);
      await shot(p, name + "-" + theme + "-" + tag);
      await axe(p, name + " (" + theme + ", " + tag + ")");
      if (width === 375) await assertNoHorizontalScroll(p, name + " " + theme);
    }
  }
  await dark(p, false);
  await p.setViewportSize({width: 1280, height: 900});
}
async function adminTheme(p, dark) {
  await p.evaluate((d) => { document.documentElement.dataset.theme = d ? "dark" : "light"; }, dark);
}
async function studentTheme(p, dark) {
  await p.emulateMedia({colorScheme: dark ? "dark" : "light"});
}
async function claim(sp, email, code) {
  await sp.goto(BASE + "/");
  await sp.fill("#email", email);
  await sp.fill("#crd_command", CRD(code));
  await Promise.all([sp.waitForURL(/\/api\/request_vm$/), sp.click("#submit")]);
  return (await sp.textContent("#hostname")).trim();
}
async function waitStep(sp, step, cls, timeout) {
  await sp.waitForSelector("#" + step + "." + cls, {timeout: timeout || 60000});
}

let hosts = [], aliceHost = "", bobHost = "", bobLink = "", aliceLink = "";

await check("Create launches 2 VMs; the dashboard follows over Server-Sent Events (no table polling)", async () => {
  await page.goto(BASE + "/admin/create");
  await page.fill("#num_vms", "2");
  await page.click("#launch_button");
  // a reload while it runs keeps following the launch
  await page.waitForSelector("#output_section:not([hidden])");
  await page.reload();
  await page.waitForSelector("#output_section:not([hidden])", {timeout: 10000});
  await page.waitForSelector("#launch_result:has-text('Terraform Script Ran Successfully!')", {timeout: 240000});
  const seen = [];
  const watch = (r) => { if (r.url().includes("/api/")) seen.push(r.url().replace(BASE, "")); };
  page.on("request", watch);
  await page.goto(BASE + "/admin");
  await page.waitForFunction(() => document.getElementById("count_free")
    && document.getElementById("count_free").textContent === "2", null, {timeout: 120000});
  page.off("request", watch);
  assert(seen.every((u) => u.startsWith("/api/dashboard/events")), "the dashboard polled: " + seen.join(", "));
  assert((await page.textContent("#dash_live")).includes("Live"), "not live");
  assert((await page.textContent("#cost_per_hour")).includes("$1.00"), "cost per hour: " + await page.textContent("#cost_per_hour"));
  hosts = psql("SELECT string_agg(hostname, ',' ORDER BY hostname) FROM vms").split(",");
  // the class's end, set on the Create page: a schedule two hours away
  await page.goto(BASE + "/admin/create");
  const later = await page.evaluate(() => {
    const d = new Date(Date.now() + 7200000);
    const pad = (n) => String(n).padStart(2, "0");
    return d.getFullYear() + "-" + pad(d.getMonth() + 1) + "-" + pad(d.getDate()) + "T" + pad(d.getHours()) + ":"
      + pad(d.getMinutes());
  });
  await page.fill("#class_end", later);
  await page.click("#set_end");
  await page.waitForSelector("#end_status:has-text('The fleet is destroyed at')");
  assert(psql("SELECT count(*) FROM scheduled_destructions WHERE status = 'scheduled' AND schedule_name LIKE 'class end %'"
    + " AND destruction_time BETWEEN now() + interval '119 min' AND now() + interval '121 min'") === "1", "no class end");
  await page.goto(BASE + "/admin");
  assert(hosts.length === 2, "hosts " + hosts);
  await looks(page, "dashboard", adminTheme);
  assertClean(page, "dashboard");
}, [page]);

const alice = await browser.newContext({viewport: {width: 375, height: 800},
  permissions: ["clipboard-read", "clipboard-write"]});
const ap = await newPage(alice);
const bob = await browser.newContext({viewport: {width: 375, height: 800}});
const bp = await newPage(bob);

await check("a student follows the VM live through a successful start-host; the PIN copies", async () => {
  aliceHost = await claim(ap, "alice@example.com", "alice1");
  assert(hosts.includes(aliceHost), "alice got " + aliceHost);
  await waitStep(ap, "step_delivered", "done");
  await waitStep(ap, "step_start_host", "done");
  await waitStep(ap, "step_online", "done", 90000);
  assert((await ap.textContent("#message")).includes("Your desktop is online"), await ap.textContent("#message"));
  const pin = (await ap.textContent("#pin")).trim();
  assert(/^\d{6}$/.test(pin), "pin " + pin);
  await ap.click("#copy_pin");
  await ap.waitForSelector("#copy_status:has-text('Copied.')");
  assert((await ap.evaluate(() => navigator.clipboard.readText())) === pin, "clipboard");
  aliceLink = await ap.getAttribute("#progress_link", "href");
  await looks(ap, "student-success", studentTheme);
  assertClean(ap, "success page");
}, [ap]);

await check("a failed start-host is said in plain words; a new command keeps the VM", async () => {
  bobHost = hosts.find((h) => h !== aliceHost);
  fs.writeFileSync(WORK + "/vms/" + bobHost + "/home/start-host.exit", "1");
  const got = await claim(bp, "bob@example.com", "bob1");
  assert(got === bobHost, "bob got " + got);
  await waitStep(bp, "step_start_host", "failed");
  const msg = await bp.textContent("#message");
  assert(msg.includes("Chrome Remote Desktop did not accept your code"), "message: " + msg);
  assert((await bp.textContent("#todo")).includes("you keep this VM"), "todo");
  assert(await bp.isVisible("#new_command"), "no form for a new command");
  assert(!(await bp.locator("#step_online.done").count()), "online after a failure");
  await looks(bp, "student-failed", studentTheme);
  fs.unlinkSync(WORK + "/vms/" + bobHost + "/home/start-host.exit");
  await bp.fill("#crd_command", CRD("bob2"));
  await Promise.all([bp.waitForURL(/\/api\/request_vm$/), bp.click("#send_command")]);
  assert((await bp.textContent("#hostname")).trim() === bobHost, "bob lost his VM");
  await waitStep(bp, "step_online", "done", 90000);
  bobLink = await bp.getAttribute("#progress_link", "href");
  assertClean(bp, "bob's pages");
}, [bp]);

await check("without JavaScript the VM page shows the steps and refreshes itself", async () => {
  const nojs = await browser.newContext({viewport: {width: 375, height: 800}, javaScriptEnabled: false});
  const np = await nojs.newPage();
  await np.goto(BASE + aliceLink);
  assert(await np.locator("#step_online.done").count() === 1, "steps not rendered");
  assert(/online/.test(await np.textContent("#message")), "message " + await np.textContent("#message"));
  assert(await np.locator("meta[http-equiv=refresh]").count() === 1, "no refresh");
  await shot(np, "student-vm-nojs-light-375px");
  await np.waitForEvent("load", {timeout: 15000});  // it reloaded
  await nojs.close();
}, []);

await check("the student's own VM page (the link from the success page)", async () => {
  await ap.goto(BASE + aliceLink);
  await waitStep(ap, "step_online", "done");
  await looks(ap, "student-vm", studentTheme);
  assertClean(ap, "VM page");
  const r = await fetch(BASE + aliceLink.replace(/t=[0-9a-f]+/, "t=" + "0".repeat(32)));
  assert(r.status === 404, "a wrong token answered " + r.status);
}, [ap]);

await check("a returning student whose VM reboots gets the recovery page and its live link", async () => {
  // bob's VM is rebooting when he comes back with a new command
  psql(`UPDATE vms SET status = 'rebooting' WHERE hostname = '${bobHost}'`);
  await bp.goto(BASE + "/");
  await bp.fill("#email", "bob@example.com");
  await bp.fill("#crd_command", CRD("bob2r"));
  await Promise.all([bp.waitForURL(/\/api\/request_vm$/), bp.click("#submit")]);
  assert((await bp.textContent("h1")).includes("Recovering"), "not the recovery page: " + await bp.textContent("h1"));
  assert((await bp.textContent("#hostname")).trim() === bobHost, "bob moved");
  const link = await bp.getAttribute("#progress_link", "href");
  assert(new RegExp("^/vm/" + bobHost + "\\?t=[0-9a-f]{32}$").test(link), "recovery link " + link);
  assert(link !== bobLink, "the renewal kept the old link");
  await looks(bp, "student-recovery", studentTheme);
  // the old link no longer opens; the new one follows the VM back online
  const old = await fetch(BASE + bobLink);
  assert(old.status === 404, "the link of the replaced assignment answered " + old.status);
  psql(`UPDATE vms SET status = 'running' WHERE hostname = '${bobHost}'`);
  await bp.goto(BASE + link);
  await waitStep(bp, "step_online", "done", 90000);
  bobLink = link;
  assertClean(bp, "recovery page");
}, [bp]);

async function rowAction(action, host) {
  await page.goto(BASE + "/admin/instances");
  const row = `tr[data-hostname='${host}']`;
  await page.waitForSelector(row + ` button[data-action='${action}']`);
  await page.click(row + ` button[data-action='${action}']`);
  await page.waitForSelector("#instances_message:has-text('finished')", {timeout: 240000});
}

await check("the admin reboots a VM from the instances page (one confirmation, live progress)", async () => {
  const before = fs.readFileSync(WORK + "/vms/" + aliceHost + "/agent.pid", "utf8").split(" ")[0];
  await rowAction("reboot", aliceHost);
  await shot(page, "instances-rebooted");
  assert(psql(`SELECT reboot_count FROM vms WHERE hostname = '${aliceHost}'`) === "1", "reboot not counted");
  const after = fs.readFileSync(WORK + "/vms/" + aliceHost + "/agent.pid", "utf8").split(" ")[0];
  assert(after !== before, "the agent was not restarted");
  assert(psql(`SELECT user_email FROM vms WHERE hostname = '${aliceHost}'`) === "alice@example.com", "alice lost her VM");
  // her page still works and comes back online
  await ap.goto(BASE + aliceLink);
  await waitStep(ap, "step_online", "done", 90000);
}, [page, ap]);

await check("replace (same name): bob stays; his page asks for a new command; it reaches the new machine", async () => {
  await rowAction("replace", bobHost);
  await bp.goto(BASE + bobLink);
  await bp.waitForSelector("#new_command:not([hidden])", {timeout: 60000});
  assert((await bp.textContent("#message")).includes("needs a new command"), await bp.textContent("#message"));
  await bp.fill("#crd_command", CRD("bob3"));
  await Promise.all([bp.waitForURL(/\/api\/request_vm$/), bp.click("#send_command")]);
  assert((await bp.textContent("#hostname")).trim() === bobHost, "bob moved");
  await waitStep(bp, "step_online", "done", 90000);
  const log = fs.readFileSync(WORK + "/vms/" + bobHost + "/home/start-host.log", "utf8");
  assert(log.includes("4/0Ab_bob3") && !log.includes("4/0Ab_bob2"), "the new machine's start-host log: " + log);
  bobLink = await bp.getAttribute("#progress_link", "href");  // the renewal's link
}, [page, bp]);

await check("replace under a new name moves alice to a new VM; she connects there", async () => {
  await rowAction("move", aliceHost);
  const moved = psql("SELECT hostname FROM vms WHERE user_email = 'alice@example.com'");
  assert(moved && moved !== aliceHost, "alice is on " + moved);
  assert(psql(`SELECT count(*) FROM vms WHERE hostname = '${aliceHost}'`) === "0", "old VM left");
  await page.goto(BASE + "/admin/instances");
  await page.waitForSelector(`tr[data-hostname='${moved}']:has-text('alice@example.com')`);
  await shot(page, "instances-moved");
  // her old link is gone with the old VM; the home page gives her the new one
  await ap.goto(BASE + aliceLink);
  assert((await ap.textContent("body")).includes("not valid"), "old link still valid");
  const got = await claim(ap, "alice@example.com", "alice2");
  assert(got === moved, "alice got " + got + ", not " + moved);
  await waitStep(ap, "step_online", "done", 90000);
  aliceHost = moved;
}, [page, ap]);

await check("bulk: both VMs selected and rebooted by one operation, asked once", async () => {
  const before = psql("SELECT string_agg(reboot_count::text, ',' ORDER BY hostname) FROM vms").split(",");
  let asked = 0;
  const count = () => { asked++; };
  page.on("dialog", count);
  await page.goto(BASE + "/admin/instances");
  await page.waitForSelector("#select_all");
  await page.check("#select_all");
  await page.waitForSelector("#selected_count:has-text('2')");
  await page.click("#bulk_bar [data-bulk='reboot']");
  await page.waitForSelector("#instances_message:has-text('finished')", {timeout: 240000});
  page.off("dialog", count);
  assert(asked === 1, "asked " + asked + " times");
  const after = psql("SELECT string_agg(reboot_count::text, ',' ORDER BY hostname) FROM vms").split(",");
  assert(after.every((n, i) => Number(n) === Number(before[i]) + 1), "reboot counts " + before + " -> " + after);
  assert(psql("SELECT target FROM operations WHERE kind = 'reboot-vm' ORDER BY id DESC LIMIT 1").split(" ").length === 2,
    "not one operation for both");
  await shot(page, "instances-bulk-rebooted");
}, [page]);

await check("export one VM from its row and one student by email: the browser saves each zip to disk", async () => {
  for (const h of [aliceHost, bobHost]) {
    fs.mkdirSync(WORK + "/vms/" + h + "/home/Desktop", {recursive: true});
    fs.writeFileSync(WORK + "/vms/" + h + "/home/Desktop/" + h + ".slp", "labels of " + h + "\n");
  }
  const listed = (file) => execFileSync("unzip", ["-Z1", file], {encoding: "utf8"}).trim().split("\n");
  await page.goto(BASE + "/admin/instances");
  const link = `tr[data-hostname='${bobHost}'] a[aria-label='Export data of ${bobHost}']`;
  await page.waitForSelector(link);
  let [dl] = await Promise.all([page.waitForEvent("download"), page.click(link)]);
  await dl.saveAs(WORK + "/bob-vm.zip");
  let names = listed(WORK + "/bob-vm.zip");
  assert(names.some((n) => n.endsWith("/" + bobHost + ".slp")) && !names.some((n) => n.includes(aliceHost)),
    "VM export: " + names);
  await page.fill("#export_email", "alice@example.com");
  [dl] = await Promise.all([page.waitForEvent("download"), page.click("#export_email_button")]);
  await dl.saveAs(WORK + "/alice.zip");
  names = listed(WORK + "/alice.zip");
  assert(names.some((n) => n.endsWith("/" + aliceHost + ".slp")) && !names.some((n) => n.includes(bobHost)),
    "student export: " + names);
  assertClean(page, "exports");
}, [page]);

await check("the audit page colours outcomes by meaning; the log page's tabs follow the ARIA pattern", async () => {
  await page.goto(BASE + "/admin/audit");
  await page.waitForSelector("td[data-label='Outcome'] .badge, td .badge");
  const badges = await page.$$eval(".badge", (bs) => bs.map((b) => [b.textContent.trim(), b.className]));
  const good = badges.filter(([t]) => ["ok", "success", "succeeded"].includes(t));
  assert(good.length > 0 && good.every(([, c]) => c.includes("good") && !c.includes("fail")), "success badges: " + good);
  const bg = await page.evaluate(() => Object.fromEntries(["good", "fail"].map((k) => {
    const b = document.createElement("span");
    b.className = "badge " + k;
    document.body.append(b);
    const c = getComputedStyle(b).backgroundColor;
    b.remove();
    return [k, c];
  })));
  assert(bg.good !== bg.fail, "success and failure badges share a colour: " + JSON.stringify(bg));
  await page.goto(BASE + "/admin/logs/" + aliceHost);
  await page.waitForSelector("[role=tablist] [role=tab][aria-selected='true']");
  await page.focus("#tab_all");
  await page.keyboard.press("ArrowRight");
  const sel = await page.$$eval("[role=tab]", (ts) => ts.map((t) => [t.id, t.getAttribute("aria-selected"), t.tabIndex]));
  assert(JSON.stringify(sel.find((t) => t[1] === "true")) === JSON.stringify(["tab_cloud_init", "true", 0])
    && sel.filter((t) => t[2] === 0).length === 1, "tabs after ArrowRight: " + JSON.stringify(sel));
  assert(await page.evaluate(() => document.activeElement.id) === "tab_cloud_init", "focus did not move");
  assert(await page.getAttribute("#log_panel", "aria-labelledby") === "tab_cloud_init", "panel not labelled by the tab");
}, [page]);

await check("every admin page: axe, light and dark, 375 px and desktop", async () => {
  const op = psql("SELECT max(id) FROM operations");
  for (const [path, name] of [["/admin/instances", "instances"], ["/admin/create", "create"],
    ["/admin/scheduled-destruction", "schedule"], ["/admin/instances/delete", "delete"], ["/admin/audit", "audit"],
    ["/admin/logs/" + aliceHost, "logs"], ["/admin/operations/" + op, "operation"]]) {
    page.consoleErrors.length = 0;
    await page.goto(BASE + path);
    await page.waitForTimeout(500);
    // one layout: the navigation marks the page (a VM's logs under Instances; an operation under none)
    const current = await page.$$eval("nav a[aria-current='page']", (as) => as.map((a) => a.getAttribute("href")));
    const want = path.startsWith("/admin/logs/") ? "/admin/instances" : path.startsWith("/admin/operations/") ? "" : path;
    assert(current.join(",") === want, path + ": aria-current " + current + ", not " + want);
    assert(await page.locator("a.skip[href='#main']").count() === 1, path + ": no skip link");
    await looks(page, name, adminTheme);
    assertClean(page, path);
  }
  const anon = await browser.newContext();
  const lp = await newPage(anon);
  await lp.goto(BASE + "/admin/login");
  await looks(lp, "login", adminTheme);
  await lp.goto(BASE + "/");
  await looks(lp, "student-index", studentTheme);
  await anon.close();
}, [page]);

await check("a teardown scheduled seconds away: countdown, students' banner, then the fleet is gone", async () => {
  await page.goto(BASE + "/admin/scheduled-destruction");
  const classEnd = "tr[data-name^='class end '] button.cancel";
  await page.waitForSelector(classEnd);
  await page.click(classEnd);
  await page.waitForSelector("#schedule_status:has-text('cancelled successfully')");
  await page.waitForSelector("tr[data-name^='class end ']:has-text('cancelled')");
  const local = await page.evaluate(() => {
    // Chromium writes a datetime-local value of ":00" seconds without them,
    // and Playwright's fill then calls it malformed: never pick :00
    let d = new Date(Date.now() + 45000);
    if (d.getSeconds() === 0) d = new Date(d.getTime() + 1000);
    const pad = (n) => String(n).padStart(2, "0");
    return d.getFullYear() + "-" + pad(d.getMonth() + 1) + "-" + pad(d.getDate()) + "T" + pad(d.getHours()) + ":"
      + pad(d.getMinutes()) + ":" + pad(d.getSeconds());
  });
  await page.fill("#schedule_name", "end of class");
  await page.fill("#destruction_time", local);
  await page.check("#export_before");
  await page.click("#create_schedule");
  await page.waitForSelector("#schedule_status:has-text('Scheduled destruction created successfully')");
  await page.waitForSelector("tr[data-name='end of class']:has-text('scheduled')");
  await shot(page, "schedule-created");
  await bp.goto(BASE + bobLink);
  await bp.waitForSelector("#class_end_banner:not([hidden])", {timeout: 10000});
  assert(/The class ends in 1 min/.test(await bp.textContent("#class_end_banner")), await bp.textContent("#class_end_banner"));
  await shot(bp, "student-banner");
  await axe(bp, "student page with the banner");
  await page.goto(BASE + "/admin");
  await page.waitForFunction(() => /left/.test(document.getElementById("end_left").textContent), null, {timeout: 10000});
  assert((await page.textContent("#end_text")).includes("end of class"), await page.textContent("#end_text"));
  await shot(page, "dashboard-countdown");
  await page.waitForFunction(() => document.getElementById("op_box") && !document.getElementById("op_box").hidden,
    null, {timeout: 90000});
  await shot(page, "dashboard-teardown-running");
  await page.waitForFunction(() => document.getElementById("fleet_total").textContent === "(0 VMs)", null,
    {timeout: 180000});
  await page.goto(BASE + "/admin/scheduled-destruction");
  await page.waitForSelector("tr[data-name='end of class']:has-text('completed')", {timeout: 30000});
  await shot(page, "schedule-completed");
  assert(psql("SELECT count(*) FROM fleet") === "0", "fleet left");
  assert(!fs.existsSync(WORK + "/vms/" + bobHost), "VM left running");
  // the checked zip was kept; the browser saves it to disk (a plain link)
  const kept = psql("SELECT name FROM export_archives ORDER BY created_at DESC LIMIT 1");
  assert(kept && fs.existsSync(WORK + "/kept/" + kept), "no kept export: " + kept);
  await page.goto(BASE + "/admin/instances/delete");
  const keptLink = `#kept_body a[download='${kept}']`;
  await page.waitForSelector(keptLink);
  await shot(page, "delete-kept-export");
  const [dl] = await Promise.all([page.waitForEvent("download"), page.click(keptLink)]);
  await dl.saveAs(WORK + "/saved.zip");
  execFileSync("cmp", [WORK + "/saved.zip", WORK + "/kept/" + kept]);
  fs.mkdirSync(WORK + "/unpacked");
  execFileSync("unzip", ["-q", WORK + "/saved.zip", "-d", WORK + "/unpacked"]);
  const sums = execFileSync("sha256sum", ["-c", "MANIFEST.txt"], {cwd: WORK + "/unpacked", encoding: "utf8"});
  assert(sums.includes(aliceHost + ".slp: OK") && sums.includes(bobHost + ".slp: OK"), "manifest check: " + sums);
  await page.goto(BASE + "/admin");
  await page.waitForSelector("#auto_list li:has-text('schedule-destroy')");
  await shot(page, "dashboard-after-class");
}, [page, bp]);

await browser.close();
finish();
