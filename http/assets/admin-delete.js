// /admin/instances/delete: export every VM's data files as one zip (with
// progress) and destroy the fleet (with confirmation and live output).
"use strict";
(function () {
  const $ = (id) => document.getElementById(id);
  const exportButton = $("export_button"), destroyButton = $("destroy_button");
  let busy = false;
  function setBusy(b) { busy = b; exportButton.disabled = b; destroyButton.disabled = b; }

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
  }
  function filenameFrom(headers) {
    const cd = headers.get("Content-Disposition");
    if (!cd) return null;
    const m = /filename\*?=(?:UTF-8'')?"?([^";]+)"?/i.exec(cd);
    return m ? decodeURIComponent(m[1]) : "lablink_data.zip";
  }
  exportButton.addEventListener("click", async () => {
    if (busy) return;
    setBusy(true);
    const status = $("export_status"), p = $("export_progress");
    status.textContent = "Collecting files from the VMs... please wait.";
    p.hidden = false;
    p.removeAttribute("value");
    const timer = setInterval(pollExport, 1000);
    try {
      const res = await fetch("/api/scp-client", {credentials: "same-origin", cache: "no-store"});
      if (!res.ok) {
        let msg = "HTTP " + res.status;
        try { const b = await res.json(); if (b.error) msg = b.error; } catch (e) { /* not JSON */ }
        status.textContent = res.status === 404 && msg === "Not found."
          ? "Export is not available on this server (GET /api/scp-client answered 404)." : "Export failed: " + msg;
        return;
      }
      const name = filenameFrom(res.headers);
      if (!name) { status.textContent = "No downloadable file returned from the server."; return; }
      const reader = res.body.getReader();
      const chunks = [];
      let received = 0;
      for (;;) {
        const {done, value} = await reader.read();
        if (done) break;
        chunks.push(value);
        received += value.length;
        status.textContent = "Downloading " + name + ": " + (received / 1048576).toFixed(1) + " MiB";
      }
      LL.download(name, new Blob(chunks, {type: res.headers.get("Content-Type") || "application/zip"}));
      status.textContent = "Download complete. (" + name + ", " + (received / 1048576).toFixed(1) + " MiB)";
      status.dataset.filename = name;
      p.max = 1; p.value = 1;
    } catch (e) {
      status.textContent = "Export failed: network error (" + e + ")";
    } finally {
      clearInterval(timer);
      await pollExport();
      setBusy(false);
    }
  });

  // --- destroy ---
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
    const body = r.body && typeof r.body === "object" ? r.body : {};
    if (r.status === 404 && body.error === "Not found.") {
      finish(false, "Destroying is not available on this server (POST /destroy answered 404).");
      return;
    }
    if (r.status === 409 && body.operation_id !== undefined) {
      // One operation at a time: follow the one that runs (maybe this very
      // request, sent twice by the browser over a dropped connection)
      $("operation_state").textContent = (body.error || "Another operation is running.") + " Following operation " + body.operation_id + ".";
      body.operation_id = Number(body.operation_id);
    } else if (!r.ok) {
      if (typeof body.output === "string") out.textContent = body.output;
      finish(false, "Terraform Script Failed: " + LL.errorText(r, "destroy"));
      return;
    }
    if (body.operation_id !== undefined) {
      LL.followOperation(body.operation_id, {
        progress: progress, output: out, state: $("operation_state"),
        onEnd: (ok, op) => op.kind && op.kind !== "destroy"
          ? finish(false, "Operation " + op.id + " (" + op.kind + ") ended; the destroy did not start. Try again.")
          : finish(ok, ok ? "Terraform Script Ran Successfully!"
          : "Terraform Script Failed" + (op.error ? ": " + op.error : "")),
      });
      return;
    }
    out.textContent = body.output || "";
    finish(body.status !== "error", body.status === "error" ? "Terraform Script Failed: " + (body.error || "")
      : "Terraform Script Ran Successfully!");
  });
})();
