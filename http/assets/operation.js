// The progress page of an operation (launch, destroy, reboot, replace,
// export): follows /api/operations/<id>/events (Server-Sent Events) and
// shows the output, the VM counts and the final status.
"use strict";
(function () {
  const main = document.getElementById("operation");
  const id = main ? main.dataset.operationId : "";
  const box = document.getElementById("operation-progress-box");
  const errorBox = document.getElementById("operation-error");
  if (errorBox && !errorBox.textContent.trim()) errorBox.hidden = true;
  if (!id) { if (box) box.hidden = true; return; }
  const out = document.getElementById("operation-output");
  const statusEl = document.getElementById("operation-status");
  const bar = document.getElementById("operation-progress");
  const doneEl = document.getElementById("operation-done");
  const totalEl = document.getElementById("operation-total");
  const source = new EventSource("/api/operations/" + encodeURIComponent(id) + "/events");
  statusEl.textContent = "running";
  source.addEventListener("line", (e) => {
    const data = JSON.parse(e.data);
    out.append(data.line + "\n");
    out.scrollTop = out.scrollHeight;
  });
  source.addEventListener("progress", (e) => {
    const data = JSON.parse(e.data);
    doneEl.textContent = data.done;
    totalEl.textContent = data.total;
    bar.max = Math.max(1, data.total);
    bar.value = data.done;
  });
  source.addEventListener("status", (e) => {
    const data = JSON.parse(e.data);
    statusEl.textContent = data.status;
    statusEl.className = "state " + (data.status === "succeeded" ? "good" : data.status === "failed" ? "fail" : "");
    if (data.status === "succeeded") { bar.max = 1; bar.value = 1; }
    if (data.error) {
      errorBox.textContent = data.error;
      errorBox.hidden = false;
    }
    source.close();
  });
})();
