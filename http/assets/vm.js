// The student's VM page and the success page: follow the VM live
// (/api/vm-progress/<host>?t=<token> every 2 s) and copy the PIN (the
// class-end banner: class-end.js). Without this script the page refreshes
// itself (noscript) and shows the same.
"use strict";
(function () {
  const $ = (id) => document.getElementById(id);
  const root = $("vm_progress");
  if (!root) return;
  const host = root.dataset.host, token = root.dataset.token;

  const copy = $("copy_pin");
  if (copy && navigator.clipboard) {
    copy.hidden = !/^\d+$/.test($("pin").textContent.trim());
    copy.addEventListener("click", async () => {
      try {
        await navigator.clipboard.writeText($("pin").textContent.trim());
        $("copy_status").textContent = "Copied.";
      } catch (e) {
        $("copy_status").textContent = "Select the PIN and copy it.";
      }
    });
  }

  // Releasing asks once (without this script the form posts directly)
  const release = $("release_form");
  if (release)
    release.addEventListener("submit", (e) => {
      if (!window.confirm("Release " + host + "? It stops being yours and its files may be deleted."))
        e.preventDefault();
    });

  function step(id, cls, note) {
    const li = $(id);
    if (!li) return;
    li.className = cls;
    const n = li.querySelector(".note");
    if (n) n.textContent = note;
  }
  function render(v) {
    step("step_delivered", v.steps.delivered ? "done" : "", v.steps.delivered ? "done" : "waiting");
    step("step_start_host", v.steps.start_host === "ok" ? "done" : v.steps.start_host === "failed" ? "failed" : "",
      v.steps.start_host === "ok" ? "done" : v.steps.start_host === "failed" ? "failed" : "waiting");
    step("step_online", v.steps.online ? "done" : "", v.steps.online ? "online" : "not yet");
    if ($("message").textContent !== v.message) $("message").textContent = v.message;
    const todo = $("todo");
    if (todo) { todo.hidden = !v.todo; todo.textContent = v.todo || ""; }
    const form = $("new_command");
    if (form) form.hidden = !v.needs_command;
    const pin = v.pin || "(none yet)";
    if ($("pin").textContent.trim() !== pin) $("pin").textContent = pin;
    if (copy) copy.hidden = !v.pin || !navigator.clipboard;
  }
  let gone = false;
  async function follow() {
    if (gone || !host || !token) return;
    try {
      const res = await fetch("/api/vm-progress/" + encodeURIComponent(host) + "?t=" + encodeURIComponent(token),
        {cache: "no-store"});
      if (res.status === 404) {
        gone = true;
        $("message").textContent = "This VM is no longer yours (it was released). Request a VM again on the home page.";
        return;
      }
      if (res.ok) render(await res.json());
    } catch (e) { /* try again */ }
  }
  follow();
  setInterval(follow, 2000);
})();
