// /admin/scheduled-destruction: create and cancel teardown schedules
// through upstream's API (/api/schedule-destruction); times are entered in
// the browser's zone and sent in UTC.
"use strict";
(function () {
  const $ = (id) => document.getElementById(id);
  $("export_before").checked = $("schedule_meta").dataset.exportDefault === "1";
  $("recurring").addEventListener("change", () => { $("recurrence_box").hidden = !$("recurring").checked; });

  function say(text, bad) {
    $("schedule_status").textContent = text;
    $("schedule_status").className = bad ? "bad" : "ok";
  }

  async function load() {
    const r = await LL.api("/api/schedule-destruction");
    const body = $("schedules_body");
    if (!r.ok || !r.body || !Array.isArray(r.body.schedules)) { say(LL.errorText(r, "schedules"), true); return; }
    body.replaceChildren();
    for (const s of r.body.schedules) {
      const tr = LL.el("tr", {"data-id": s.id, "data-name": s.schedule_name});
      const cell = (label, node) => { const td = LL.el("td", {"data-label": label}); td.append(node); tr.append(td); };
      cell("Schedule Name", s.schedule_name + (s.export_before_destroy ? " (export first)" : ""));
      cell("Destruction Time", new Date(s.destruction_time).toLocaleString());
      cell("Recurrence", s.recurrence_rule || "once");
      cell("Status", LL.el("span", {className: "badge " + LL.outcomeClass(s.status === "scheduled" ? "" : s.status)}, s.status));
      cell("Last Executed", s.last_execution_time
        ? new Date(s.last_execution_time).toLocaleString() + (s.last_execution_result ? ": " + s.last_execution_result : "") : "—");
      const actions = LL.el("td", {"data-label": "Actions"});
      if (s.status === "scheduled" || s.status === "failed" || s.status === "executing") {
        const b = LL.el("button", {type: "button", className: "ghost cancel", "aria-label": "Cancel " + s.schedule_name}, "Cancel");
        b.addEventListener("click", async () => {
          if (!confirm("Cancel the schedule " + s.schedule_name + "?")) return;
          const c = await LL.api("/api/schedule-destruction/" + s.id, {method: "DELETE"});
          say(c.ok ? c.body.message : LL.errorText(c, "cancel"), !c.ok);
          load();
        });
        actions.append(b);
      } else actions.textContent = "—";
      tr.append(actions);
      body.append(tr);
    }
    if (!r.body.schedules.length) {
      const tr = LL.el("tr");
      tr.append(LL.el("td", {colspan: 6}, "No schedules."));
      body.append(tr);
    }
  }

  $("schedule_form").addEventListener("submit", async (ev) => {
    ev.preventDefault();
    const local = $("destruction_time").value;
    const when = new Date(local);
    if (!local || Number.isNaN(when.getTime())) { say("Enter a destruction time.", true); return; }
    const r = await LL.api("/api/schedule-destruction", {method: "POST", headers: {"Content-Type": "application/json"},
      body: JSON.stringify({schedule_name: $("schedule_name").value, destruction_time: when.toISOString(),
        recurrence_rule: $("recurring").checked ? $("recurrence_rule").value : null,
        export_before_destroy: $("export_before").checked})});
    say(r.ok ? r.body.message : LL.errorText(r, "schedule"), !r.ok);
    if (r.ok) $("schedule_form").reset();
    load();
  });
  load();
  setInterval(load, 5000);
})();
