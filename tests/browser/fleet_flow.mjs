// The whole class in a real browser, against the real allocator with the
// local provider: an admin launches 2 VMs and watches them become running,
// a student claims one and sees hostname and PIN, the admin opens a VM's
// live log and sees a new line within 2 s, downloads the export and
// destroys the fleet. Each step needs routes other areas build: a step
// whose route is absent (the router's own 404) is skipped with a SKIP line
// naming it, detected here at run time.
import {readFileSync} from "node:fs";
import {BASE, ADMIN, launch, newPage, shot, psql, login, check, assert, finish} from "./harness.mjs";

const basic = "Basic " + Buffer.from(ADMIN.user + ":" + ADMIN.password).toString("base64");

// The route exists unless the router itself answers 404 "Not found.".
async function missing(method, path) {
  const r = await fetch(BASE + path, {method, headers: {Authorization: basic, Accept: "application/json"}});
  const text = await r.text();
  return r.status === 404 && text === '{"error":"Not found."}' ? method + " " + path : null;
}
async function firstMissing(routes) {
  for (const [m, p] of routes) {
    const gone = await missing(m, p);
    if (gone) return "route " + gone + " answers the router's 404 (its area is not merged)";
  }
  return null;
}

// The token terraform handed the VM at its launch (minted per launch; only
// its hash is in the database): from the 0600 tfvars in the work folder.
function agentToken(hostname) {
  const tfvars = JSON.parse(readFileSync(process.env.FLEET_WORK + "/terraform.runtime.tfvars.json", "utf8"));
  const token = tfvars.agent_tokens[hostname];
  assert(token, "no token of " + hostname + " in the tfvars");
  return token;
}

const browser = await launch();
const admin = await browser.newContext({viewport: {width: 1280, height: 900}, acceptDownloads: true});
const page = await newPage(admin);
page.on("dialog", (d) => d.accept());
await login(page, "/admin");
let hosts = [];

await check("admin launches 2 VMs and watches them become running", async () => {
  const why = await firstMissing([["POST", "/api/launch"], ["GET", "/api/operations/0"], ["GET", "/api/vm-status"]]);
  if (why) return {skip: why};
  await page.goto(BASE + "/admin/create");
  await page.fill("#num_vms", "2");
  await page.click("#launch_button");
  await page.waitForSelector("#launch_result:has-text('Terraform Script Ran Successfully!')", {timeout: 180000});
  await shot(page, "fleet-launched");
  await page.waitForFunction(() => document.querySelectorAll("#vm_cards .badge.running").length === 2, null,
    {timeout: 120000});
  hosts = await page.$$eval("#vm_cards .vm-card", (cards) => cards.map((c) => c.dataset.hostname));
  assert(hosts.length === 2, "hosts " + hosts);
  await shot(page, "fleet-running");
}, [page]);

await check("a student claims a VM and sees hostname and PIN", async () => {
  const why = await firstMissing([["POST", "/api/request_vm"]]);
  if (why) return {skip: why};
  if (!hosts.length) return {skip: "no running VMs (the launch step was skipped)"};
  const student = await browser.newContext({viewport: {width: 375, height: 800}});
  const sp = await newPage(student);
  await sp.goto(BASE + "/");
  await sp.fill("#email", "student@example.com");
  await sp.fill("#crd_command", 'DISPLAY= /opt/google/chrome-remote-desktop/start-host --code="4/0Ab_browser-test" ' +
    '--redirect-url="https://remotedesktop.google.com/_/oauthredirect" --name=$(hostname)');
  await Promise.all([sp.waitForLoadState("load"), sp.click("button[type=submit]")]);
  const text = await sp.textContent("body");
  assert(/VM Assigned Successfully!/.test(text), "no success page: " + text.slice(0, 300));
  assert(hosts.some((h) => text.includes(h)), "hostname not shown: " + text.slice(0, 300));
  assert(/\b\d{6}\b/.test(text), "no PIN shown");
  await shot(sp, "student-success");
  await student.close();
}, [page]);

await check("the admin releases the student's VM back to the pool", async () => {
  const why = await firstMissing([["POST", "/api/vms/x/release"]]);
  if (why) return {skip: why};
  const claimed = psql("SELECT hostname FROM vms WHERE user_email = 'student@example.com'");
  if (!claimed) return {skip: "no VM was claimed (the claim step was skipped)"};
  await page.goto(BASE + "/admin/instances");
  const row = `tr[data-hostname='${claimed}']`;
  await page.waitForSelector(row + " button.release");
  await page.click(row + " button.release");
  await page.waitForSelector(`#instances_message:has-text("${claimed} was released back to the pool.")`);
  await page.waitForFunction((sel) => !document.querySelector(sel + " button.release"), row, {timeout: 10000});
  assert(psql("SELECT count(*) FROM vms WHERE user_email IS NOT NULL") === "0", "still assigned");
  await shot(page, "fleet-released");
}, [page]);

await check("the admin opens a VM's live log and sees a new line within 2 s", async () => {
  const why = await firstMissing([["GET", "/api/vm-logs/x"], ["POST", "/api/vm-logs"]]);
  if (why) return {skip: why};
  if (!hosts.length) return {skip: "no running VMs (the launch step was skipped)"};
  const host = hosts[0];
  await page.goto(BASE + "/admin/logs/" + host);
  await page.waitForTimeout(1500);  // the live stream is open
  const marker = "browser-live-" + Date.now();
  const r = await fetch(BASE + "/api/vm-logs", {
    method: "POST",
    headers: {"Content-Type": "application/json", Authorization: "Bearer " + agentToken(host)},
    body: JSON.stringify({log_group: "lablink-cloud-init-test", log_stream: host, messages: [marker]}),
  });
  assert(r.ok, "posting a log line: " + r.status + " " + (await r.text()));
  const t0 = Date.now();
  await page.waitForSelector(`#log_output .log-line:has-text("${marker}")`, {timeout: 2000});
  const seen = Date.now() - t0;
  console.log("note: the new line appeared after " + seen + " ms");
  await shot(page, "fleet-live-log");
}, [page]);

await check("the admin downloads the export of every VM's files", async () => {
  const why = await firstMissing([["GET", "/api/export/status"]]);
  if (why) return {skip: why};
  if (!hosts.length) return {skip: "no running VMs (the launch step was skipped)"};
  const work = process.env.FLEET_WORK;
  for (const h of hosts) psql("SELECT 1");  // the database is there
  if (work) {
    const fs = await import("node:fs");
    for (const h of hosts) {
      const dir = work + "/vms/" + h + "/home/Desktop";
      if (fs.existsSync(dir)) fs.writeFileSync(dir + "/browser-test.slp", "data of " + h + "\n");
    }
  }
  await page.goto(BASE + "/admin/instances/delete");
  // The download, or the page saying why there is none
  const failed = page.waitForSelector("#export_status:text-matches('failed|No downloadable', 'i')", {timeout: 120000})
    .then(async () => { throw new Error("export: " + (await page.textContent("#export_status"))); });
  const [download] = await Promise.all([Promise.race([page.waitForEvent("download", {timeout: 120000}), failed]),
    page.click("#export_button")]);
  failed.catch(() => {});
  assert(/^lablink_data\d{8}_\d{6}\.zip$/.test(download.suggestedFilename()), "file " + download.suggestedFilename());
  await page.waitForSelector("#export_status:has-text('Download complete.')");
  await shot(page, "fleet-exported");
}, [page]);

await check("the admin destroys the fleet", async () => {
  const why = await firstMissing([["POST", "/destroy"]]);
  if (why) return {skip: why};
  if (!hosts.length) return {skip: "no VMs to destroy (the launch step was skipped)"};
  await page.goto(BASE + "/admin/instances/delete");
  await page.click("#destroy_button");
  await page.waitForSelector("#destroy_result:has-text('Terraform Script Ran Successfully!')", {timeout: 180000});
  await shot(page, "fleet-destroyed");
  assert(psql("SELECT count(*) FROM vms") === "0", "VM rows left");
}, [page]);

await browser.close();
finish();
