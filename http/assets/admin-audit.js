// /admin/audit: the audit log, newest first, with a link to older entries.
"use strict";
(function () {
  const $ = (id) => document.getElementById(id);
  let entries = [];
  try { entries = JSON.parse($("audit_data").dataset.entries || "[]"); } catch (e) { entries = []; }
  const body = $("audit_body");
  const cols = [["Time", "at"], ["Actor", "actor"], ["Action", "action"], ["Target", "target"],
    ["Outcome", "outcome"], ["Detail", "detail"]];
  for (const e of entries) {
    const tr = LL.el("tr", {"data-id": e.id});
    for (const [label, key] of cols) {
      const td = LL.el("td", {"data-label": label});
      if (key === "outcome") td.append(LL.el("span", {className: "badge " + LL.outcomeClass(e.outcome)}, e.outcome));
      else td.textContent = e[key] === null || e[key] === undefined ? "—" : e[key];
      tr.append(td);
    }
    body.append(tr);
  }
  if (!entries.length) {
    const tr = LL.el("tr");
    tr.append(LL.el("td", {colspan: 6}, "No entries."));
    body.append(tr);
  }
  if (entries.length >= 200) {
    const older = $("audit_older");
    older.href = "/admin/audit?before=" + entries[entries.length - 1].id;
    older.hidden = false;
  }
})();
