// /admin: the live dashboard. One Server-Sent Events stream
// (/api/dashboard/events) sends the fleet's figures whenever they change:
// counts by state, the running operation, the end of class, the cost
// estimate and budget, the rows needing attention, automatic actions.
"use strict";
(function () {
  const $ = (id) => document.getElementById(id);
  const STATES = [["starting", "Starting", "warn"], ["free", "Free", "good"], ["assigned", "Assigned", ""],
    ["connecting", "Connecting", "warn"], ["connected", "Connected", "good"], ["in_use", "In use", "good"],
    ["unhealthy", "Unhealthy GPU", "fail"], ["stale", "Stale", "fail"], ["error", "Error", "fail"]];
  let endAt = null;

  function usd(v) { return Number.isFinite(v) ? "$" + v.toFixed(2) : "—"; }
  function duration(s) {
    if (s <= 0) return "now";
    const h = Math.floor(s / 3600), m = Math.floor((s % 3600) / 60), sec = Math.floor(s % 60);
    return (h ? h + " h " : "") + (h || m ? m + " min " : "") + (h ? "" : sec + " s");
  }
  function tickEnd() {
    if (endAt === null) { $("end_left").textContent = ""; return; }
    $("end_left").textContent = duration((endAt - Date.now()) / 1000) + " left";
  }
  setInterval(tickEnd, 1000);

  function render(d) {
    const counts = $("state_counts");
    counts.replaceChildren(...STATES.map(([key, label, cls]) => {
      const n = (d.counts && d.counts[key]) || 0;
      const li = LL.el("li", {className: "counter" + (n && cls === "fail" ? " alarm" : ""), "data-state": key});
      const a = LL.el("a", {href: "/admin/instances?filter=" + encodeURIComponent(key)});
      a.append(LL.el("span", {className: "value", id: "count_" + key}, n), LL.el("span", {className: "badge " + cls}, label));
      li.append(a);
      return li;
    }));
    $("fleet_total").textContent = "(" + (d.total || 0) + " VMs)";

    const op = d.operation;
    $("op_none").hidden = !!op;
    $("op_box").hidden = !op;
    if (op) {
      $("op_link").href = "/admin/operations/" + op.id;
      $("op_link").textContent = "Operation " + op.id;
      $("op_text").textContent = op.kind + (op.target ? " " + op.target : "") + ": " + op.status
        + (op.total ? " (" + op.done + " of " + op.total + " VMs)" : "");
      $("op_progress").max = Math.max(1, op.total);
      $("op_progress").value = Math.min(op.done, op.total);
    }

    const s = d.schedule;
    if (s) {
      endAt = Date.now() + s.seconds_left * 1000;
      $("end_text").textContent = "The fleet is destroyed at " + new Date(s.at).toLocaleString()
        + " (" + s.name + (s.status === "executing" ? ", running now" : "") + ").";
    } else {
      endAt = null;
      $("end_text").textContent = "No teardown scheduled.";
    }
    tickEnd();

    const c = d.cost || {}, b = d.budget || {};
    const priced = c.hourly_usd > 0;
    $("cost_so_far").textContent = priced ? usd(c.so_far_usd) : "no price set";
    $("cost_per_hour").textContent = priced ? usd(c.per_hour_usd) + " (" + c.vms + " VMs × " + usd(c.hourly_usd) + ")" : "no price set";
    $("vm_hours").textContent = Number(c.vm_hours || 0).toFixed(2);
    $("budget_used").textContent = b.state === "off" ? "no budget set" : Math.round(b.used_ratio * 100) + " %";
    const banner = $("budget_banner");
    if (b.state === "warning" || b.state === "exceeded") {
      banner.hidden = false;
      banner.textContent = b.state === "warning"
        ? "Budget warning: " + Math.round(b.used_ratio * 100) + " % of the budget is used."
        : "Budget used up (" + Math.round(b.used_ratio * 100) + " %): new launches are refused"
          + (b.destroy_at_limit ? " and the fleet is being destroyed." : ".");
    } else banner.hidden = true;

    const att = d.attention || [];
    $("attention_none").hidden = att.length > 0;
    $("attention_list").replaceChildren(...att.map((a) => {
      const li = LL.el("li", {"data-hostname": a.hostname});
      li.append(LL.el("a", {href: "/admin/instances?filter=" + encodeURIComponent(a.hostname)}, a.hostname), ": ",
        LL.el("span", {className: "bad"}, a.reason), " · ",
        LL.el("a", {href: "/admin/logs/" + encodeURIComponent(a.hostname)}, "logs"));
      return li;
    }));

    const auto = d.automatic || [];
    $("auto_none").hidden = auto.length > 0;
    $("auto_list").replaceChildren(...auto.map((x) => LL.el("li", {},
      LL.ago(x.at) + ": " + x.action + (x.target ? " " + x.target : "") + " — " + x.outcome
      + (x.detail ? " (" + x.detail + ")" : ""))));
  }

  const live = $("dash_live");
  function connect() {
    const source = new EventSource("/api/dashboard/events");
    source.addEventListener("dashboard", (ev) => {
      live.textContent = "Live";
      live.className = "live";
      try { render(JSON.parse(ev.data)); } catch (e) { /* keep the last figures */ }
    });
    source.onerror = () => { live.textContent = "Reconnecting…"; live.className = "live off"; };
  }
  connect();
})();
