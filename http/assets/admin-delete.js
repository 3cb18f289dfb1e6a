// /admin/instances/delete: export every VM's data files as one zip (with
// progress) and destroy the fleet (with confirmation and live output).
"use strict";
(function () {
  const $ = (id) => document.getElementById(id);
  const exportButton = $("export_button"), destroyButton = $("destroy_button");
  let busy = false;
  function setBusy(b) {
    busy = b;
    destroyButton.disabled = b;
    $("export_destroy_button").disabled = b;
    exportButton.setAttribute("aria-disabled", b ? "true" : "false");
  }

  // --- export ---
  function showExportStatus(st) {
    if (!st || typeof st !== "object") return;
    const p = $("export_progress");
    const done = Number(st.done ?? st.vms_done), total = Number(st.total ?? st.vms_total);
    if (Number.isFinite(done) && Number.isFinite(total) && total > 0) { p.max = total; p.value = Math.min(done, total); }
    if (Number.isFinite(total) && total > 0) {
      const parts = ["VMs " + (Number.isFinite(done) ? done : 0) + "/" + total];
      if (st.files !== undefined) parts.push(st.files + " files");
      if (st.bytes !== undefined) parts.push((Number(st.bytes) / 1048576).toFixed(1) + " MiB");
      if (st.failed) parts.push(st.failed + " VMs failed");
      $("export_progress").title = parts.join(" · ");
      $("export_summary").textContent = parts.join(" · ");
    }
    const list = $("export_vms");
    const vms = Array.isArray(st.vms) ? st.vms : [];
    list.replaceChildren(...vms.map((v) => {
      const parts = [v.hostname || v.vm || "?", v.status || v.state || ""];
      if (v.files !== undefined) parts.push(v.files + " files");
      if (v.error) parts.push(v.error);
      return LL.el("li", {"data-hostname": v.hostname || ""}, parts.filter(Boolean).join(" · "));
    }));
  }
  async function pollExport() {
    const r = await LL.api("/api/export/status");
    if (r.ok) showExportStatus(r.body);
    return r.ok ? r.body : null;
  }
  // The download is the browser's own (a plain link): it streams the zip to
  // disk, never into this page's memory. The page follows the export's
  // progress until the exporter says it ended.
  exportButton.addEventListener("click", (ev) => {
    if (busy) { ev.preventDefault(); return; }
    setBusy(true);
    const status = $("export_status"), p = $("export_progress");
    status.textContent = "Collecting files from the VMs... the download starts as soon as the first bytes are ready.";
    p.hidden = false;
    p.removeAttribute("value");
    let seenRunning = false, polls = 0;
    const timer = setInterval(async () => {
      const st = await pollExport();
      polls++;
      if (st && st.running) { seenRunning = true; return; }
      if (!st || (!seenRunning && polls < 5)) return;
      clearInterval(timer);
      setBusy(false);
      p.max = 1; p.value = 1;
      status.textContent = st.vms_total
        ? "Export finished (" + st.filename + "): " + st.files + " files, " + (Number(st.bytes) / 1048576).toFixed(1)
          + " MiB" + (st.failed ? "; " + st.failed + " VMs could not be read" : "") + ". Download complete."
        : "The export ended without a file (see the message in the downloaded answer).";
      status.dataset.filename = st.filename || "";
    }, 1000);
  });

  // --- export, then destroy; the kept zips ---
  function size(n) { return (Number(n) / 1048576).toFixed(1) + " MiB"; }
  async function loadKept() {
    const r = await LL.api("/api/exports");
    const body = $("kept_body");
    body.replaceChildren();
    const list = r.ok && r.body && Array.isArray(r.body.exports) ? r.body.exports : [];
    for (const x of list) {
      const tr = LL.el("tr", {"data-name": x.name});
      const cell = (label, node) => { const td = LL.el("td", {"data-label": label}); td.append(node); tr.append(td); };
      cell("File", x.here ? LL.el("a", {href: "/api/exports/" + encodeURIComponent(x.name), download: x.name}, x.name)
        : x.name + " (on " + x.allocator + ")");
      cell("Size", size(x.bytes));
      cell("Files", String(x.files));
      cell("Made", LL.ago(x.created_at));
      cell("Downloaded", x.downloaded_at ? LL.ago(x.downloaded_at) : "not yet");
      const del = LL.el("button", {type: "button", className: "ghost", "aria-label": "Delete " + x.name}, "Delete");
      del.addEventListener("click", async () => {
        if (!confirm("Delete " + x.name + " from the allocator?" + (x.downloaded_at ? "" : " It was never downloaded."))) return;
        await LL.api("/api/exports/" + encodeURIComponent(x.name), {method: "DELETE"});
        loadKept();
      });
      cell("Actions", del);
      body.append(tr);
    }
    if (!list.length) {
      const tr = LL.el("tr");
      tr.append(LL.el("td", {colspan: 6}, "None kept."));
      body.append(tr);
    }
  }
  $("export_destroy_button").addEventListener("click", async () => {
    if (busy) return;
    if (!confirm("Export every VM's data to the allocator, then destroy all instances?")) return;
    setBusy(true);
    const r = await LL.api("/api/export-destroy", {method: "POST"});
    const body = r.body && typeof r.body === "object" ? r.body : {};
    if (!r.ok && body.operation_id === undefined) {
      $("destroy_result").textContent = LL.errorText(r, "export, then destroy");
      $("destroy_result").className = "bad";
      setBusy(false);
      return;
    }
    followDestroy(Number(body.operation_id), "export-destroy");
  });
  loadKept();

  // --- destroy ---
  function followDestroy(id, kind) {
    const result = $("destroy_result"), progress = $("destroy_progress");
    progress.hidden = false;
    progress.removeAttribute("value");
    $("output_details").open = true;
    $("terraform_output").textContent = "";
    const finish = (ok, text) => {
      result.textContent = text;
      result.className = ok ? "ok" : "bad";
      $("destroy_status").textContent = "";
      setBusy(false);
      loadKept();
    };
    LL.followOperation(id, {
      progress: progress, output: $("terraform_output"), state: $("operation_state"),
      onEnd: (ok, op) => op.kind && op.kind !== kind
        ? finish(false, "Operation " + op.id + " (" + op.kind + ") ended; the " + kind + " did not start. Try again.")
        : finish(ok, ok ? "Terraform Script Ran Successfully!"
        : "Terraform Script Failed" + (op.error ? ": " + op.error : "")),
    });
  }
  $("destroy_form").addEventListener("submit", async (ev) => {
    ev.preventDefault();
    if (busy) return;
    if (!confirm("Are you sure you want to delete all instances?")) return;
    setBusy(true);
    const status = $("destroy_status"), result = $("destroy_result"), out = $("terraform_output");
    const progress = $("destroy_progress");
    status.textContent = "Destroying VMs... please wait.";
    result.textContent = "";
    out.textContent = "";
    progress.hidden = false;
    progress.removeAttribute("value");
    $("output_details").open = true;
    const finish = (ok, text) => {
      result.textContent = text;
      result.className = ok ? "ok" : "bad";
      status.textContent = "";
      setBusy(false);
    };
    const r = await LL.api("/destroy", {method: "POST"});
    LL.operationStarted(r, {verb: "Destroying", path: "POST /destroy", what: "destroy",
      output: out, state: $("operation_state"), finish, follow: (id) => followDestroy(id, "destroy")});
  });
})();
