// /admin/create: launch VMs without leaving the page, follow the operation
// live (progress and terraform output), then watch the VMs come up.
"use strict";
(function () {
  const $ = (id) => document.getElementById(id);
  const form = $("launch_form"), input = $("num_vms"), button = $("launch_button");
  const statusLine = $("launch_status"), result = $("launch_result");

  function validCount() {
    const n = Number(input.value);
    return Number.isInteger(n) && n > 0;
  }
  input.addEventListener("input", () => { button.disabled = !validCount(); });
  button.disabled = !validCount();

  function finish(ok, text) {
    result.textContent = text;
    result.className = ok ? "ok" : "bad";
    button.textContent = "Launch VMs";
    button.disabled = !validCount();
    statusLine.textContent = "";
    refreshStatus();
  }

  // Follow operation id on this page (after a submit, or found running).
  function follow(id) {
    $("output_section").hidden = false;
    button.disabled = true;
    button.textContent = "Launching...";
    LL.followOperation(id, {
      progress: $("launch_progress"),
      output: $("terraform_output"),
      state: $("operation_state"),
      onEnd: (ok, op) => op.kind && op.kind !== "launch"
        ? finish(false, "Operation " + op.id + " (" + op.kind + ") ended; the launch did not start. Try again.")
        : finish(ok, ok ? "Terraform Script Ran Successfully!"
        : "Terraform Script Failed" + (op.error ? ": " + op.error : "")),
    });
  }

  // A reload keeps the running launch: find it and follow it again.
  (async () => {
    const r = await LL.api("/api/operations?limit=5");
    if (!r.ok || !r.body || r.body.active === null || r.body.active === undefined) return;
    const op = (r.body.operations || []).find((o) => o.id === r.body.active);
    if (!op || op.kind !== "launch") return;
    statusLine.textContent = "A launch is running (operation " + op.id + ").";
    $("terraform_output").textContent = "";
    follow(op.id);
  })();

  form.addEventListener("submit", async (ev) => {
    ev.preventDefault();
    if (!validCount()) return;
    button.disabled = true;
    button.textContent = "Launching...";
    statusLine.textContent = "Launching VMs... please wait.";
    $("output_section").hidden = false;
    $("terraform_output").textContent = "";
    result.textContent = "";
    $("operation_state").textContent = "";
    $("launch_progress").removeAttribute("value");
    const r = await LL.api("/api/launch", {
      method: "POST",
      headers: {"Content-Type": "application/x-www-form-urlencoded"},
      body: new URLSearchParams({num_vms: input.value}).toString(),
    });
    LL.operationStarted(r, {verb: "Launching", path: "POST /api/launch", what: "launch",
      output: $("terraform_output"), state: $("operation_state"), finish, follow});
  });

  // --- end of class: a schedule through /api/schedule-destruction ---
  async function showEnd() {
    const r = await LL.api("/api/schedule-destruction?status=scheduled");
    const next = r.ok && r.body && r.body.schedules && r.body.schedules[0];
    $("end_status").textContent = next
      ? "The fleet is destroyed at " + new Date(next.destruction_time).toLocaleString() + " (" + next.schedule_name + ")."
      : "No end scheduled.";
  }
  $("end_form").addEventListener("submit", async (ev) => {
    ev.preventDefault();
    const when = new Date($("class_end").value);
    if (Number.isNaN(when.getTime())) { $("end_status").textContent = "Enter the time the class ends."; return; }
    const r = await LL.api("/api/schedule-destruction", {method: "POST", headers: {"Content-Type": "application/json"},
      body: JSON.stringify({schedule_name: "class end " + when.toISOString(), destruction_time: when.toISOString(),
        export_before_destroy: $("end_export").checked})});
    if (!r.ok) { $("end_status").textContent = LL.errorText(r, "end of class"); return; }
    showEnd();
  });
  showEnd();

  // --- VM status panel (GET /api/vm-status: {"hostname": "status", ...}) ---
  let auto = true, timer = null;
  async function refreshStatus() {
    const r = await LL.api("/api/vm-status");
    const cards = $("vm_cards"), msg = $("status_message");
    $("status_updated").textContent = new Date().toLocaleTimeString();
    if (r.status === 404 && r.body && r.body.error !== "Not found.") {
      cards.replaceChildren();
      for (const k of ["running", "initializing", "error", "total"]) $("count_" + k).textContent = "0";
      msg.textContent = "No VM status available. Please ensure VMs are created.";
      return;
    }
    if (!r.ok || !r.body || typeof r.body !== "object") {
      msg.textContent = r.status === 404 ? "VM status is not available on this server (GET /api/vm-status answered 404)."
        : LL.errorText(r, "VM status");
      return;
    }
    msg.textContent = "";
    const entries = Object.entries(r.body).sort((a, b) => a[0].localeCompare(b[0], undefined, {numeric: true}));
    const counts = {running: 0, initializing: 0, error: 0};
    cards.replaceChildren();
    for (const [host, status] of entries) {
      const s = typeof status === "string" ? status : (status && status.status) || "unknown";
      if (counts[s] !== undefined) counts[s]++;
      const card = LL.el("div", {className: "vm-card", "data-hostname": host});
      const left = LL.el("div");
      left.append(LL.el("strong", {}, host), document.createElement("br"),
        LL.el("span", {className: "badge " + s}, s.toUpperCase()));
      const link = LL.el("a", {href: "/admin/logs/" + encodeURIComponent(host), target: "_blank", rel: "noopener"}, "View Logs");
      card.append(left, link);
      cards.append(card);
    }
    $("count_running").textContent = counts.running;
    $("count_initializing").textContent = counts.initializing;
    $("count_error").textContent = counts.error;
    $("count_total").textContent = entries.length;
  }
  function schedule() {
    if (timer) clearInterval(timer);
    timer = auto ? setInterval(refreshStatus, 3000) : null;
  }
  $("auto_refresh").addEventListener("click", () => {
    auto = !auto;
    $("auto_refresh").textContent = "Auto Refresh: " + (auto ? "ON" : "OFF");
    schedule();
  });
  $("refresh_status").addEventListener("click", refreshStatus);
  refreshStatus();
  schedule();
})();
