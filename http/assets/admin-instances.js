// /admin/instances: the live table of VMs (first render from the page's own
// data, then /api/export-metrics?format=json: our column names), choosable columns, per-VM and bulk
// actions (reboot, replace, destroy, release, logs, export) each asked once
// and followed as an operation, a startup-time chart and CSV download.
"use strict";
(function () {
  const $ = (id) => document.getElementById(id);
  let vms = [];
  try { vms = JSON.parse($("vm_data").dataset.vms || "[]"); } catch (e) { vms = []; }
  const selected = new Set();

  const STATES = {starting: ["Starting", "warn"], free: ["Free", "good"], assigned: ["Assigned", ""],
    connecting: ["Connecting", "warn"], connected: ["Connected", "good"], in_use: ["In use", "good"],
    unhealthy: ["Unhealthy GPU", "fail"], stale: ["Stale (silent)", "fail"], error: ["Error", "fail"]};

  function when(ts) { return ts ? LL.ago(ts) : "—"; }
  // Why a row needs a look, or "" (the row then gets the attention marker)
  function trouble(v) {
    if (["error", "stale", "unhealthy"].includes(v.state)) return STATES[v.state][0];
    if (v.start_host_ok === false) return "start-host failed";
    if (v.disk_free_pct !== null && v.disk_free_pct !== undefined && v.disk_free_pct < 10) return "disk almost full";
    if (v.attention) return v.attention;
    return "";
  }

  // [key, label, render(v, i) -> Node or text, shown by default]
  const COLUMNS = [
    ["no", "No.", (v, i) => i + 1, true],
    ["hostname", "Hostname", (v) => v.hostname, true],
    ["state", "State", (v) => {
      const [label, cls] = STATES[v.state] || [v.state || "Unknown", ""];
      const span = LL.el("span", {});
      span.append(LL.el("span", {className: "badge " + cls}, label));
      if (v.attention) span.append(LL.el("span", {className: "state-note"}, v.attention));
      return span;
    }, true],
    ["status", "VM Status", (v) => {
      const s = v.status || "Unknown";
      return LL.el("span", {className: "badge " + String(s).toLowerCase()}, s);
    }, false],
    ["user", "User Email", (v) => v.user_email || "—", true],
    ["in_use", "In Use", (v) => (v.in_use === true ? "Yes" : "No"), true],
    ["gpu", "GPU Health Status", (v) => {
      const g = v.gpu_health || "—";
      return g === "Unhealthy" ? LL.el("span", {className: "badge fail"}, "Unhealthy") : g;
    }, true],
    ["delivered", "Delivered At", (v) => when(v.delivered_at), true],
    ["start_host", "Start-host", (v) => {
      if (v.start_host_ok === true) return LL.el("span", {className: "badge good"}, "OK");
      if (v.start_host_ok === false) {
        const span = LL.el("span", {});
        span.append(LL.el("span", {className: "badge fail"}, "Failed"),
          LL.el("span", {className: "reason"}, v.start_host_error || "no reason given"));
        return span;
      }
      return v.user_email ? "waiting" : "—";
    }, true],
    ["crd", "CRD Connected", (v) => {
      if (v.crd_active === true) return LL.el("span", {className: "badge good"}, "Yes");
      if (v.crd_active === false && v.delivered_at) return LL.el("span", {className: "badge warn"}, "No");
      return v.crd_active === false ? "No" : "—";
    }, true],
    ["disk", "Disk Free", (v) => {
      if (v.disk_free_pct === null || v.disk_free_pct === undefined) return "—";
      const t = v.disk_free_pct + " %";
      return v.disk_free_pct < 10 ? LL.el("span", {className: "badge fail"}, t + " (low)") : t;
    }, true],
    ["reboots", "Reboots", (v) => String(v.reboot_count || 0), false],
    ["tf", "Terraform Apply Duration", (v) => LL.seconds(v.terraform_duration_seconds), false],
    ["ci", "Cloud-Init Duration", (v) => LL.seconds(v.cloud_init_duration_seconds), false],
    ["ct", "Container Startup Duration", (v) => LL.seconds(v.container_duration_seconds), false],
    ["total", "Total Startup Duration", (v) => LL.el("strong", {}, LL.seconds(v.total_startup_seconds)), true],
    ["seen", "Last Seen", (v) => LL.ago(v.last_seen_at), true],
    ["logs", "Logs", (v) => LL.el("a", {href: "/admin/logs/" + encodeURIComponent(v.hostname), target: "_blank",
      rel: "noopener"}, "View Logs"), true],
  ];
  let shown;
  try { shown = new Set(JSON.parse(localStorage.getItem("lablink-columns") || "null")); } catch (e) { shown = null; }
  if (!shown || !shown.size) shown = new Set(COLUMNS.filter((c) => c[3]).map((c) => c[0]));

  function buildChooser() {
    const list = $("column_list");
    for (const [key, label] of COLUMNS) {
      const id = "col_" + key;
      const box = LL.el("input", {type: "checkbox", id: id, checked: shown.has(key)});
      box.addEventListener("change", () => {
        if (box.checked) shown.add(key); else shown.delete(key);
        localStorage.setItem("lablink-columns", JSON.stringify(Array.from(shown)));
        render();
      });
      const lab = LL.el("label", {className: "check", for: id});
      lab.append(box, " " + label);
      list.append(lab);
    }
  }

  function visible() {
    const q = $("instance_filter").value.trim().toLowerCase();
    if (!q) return vms;
    return vms.filter((v) => [v.hostname, v.status, v.state, v.user_email].some((x) => x && String(x).toLowerCase().includes(q)));
  }

  // --- actions ---------------------------------------------------------------
  const NOUNS = {reboot: "Reboot", replace: "Replace", move: "Replace under a new name", destroy: "Destroy",
    release: "Release"};
  const WARN = {
    reboot: "The VM restarts; a connected student loses the desktop for a minute.",
    replace: "The VM is destroyed and created again under the same name. An assigned student stays assigned and gets a fresh delivery.",
    move: "A new VM is made under a new name; the student moves to it and this VM is destroyed.",
    destroy: "The VM and everything on it are deleted. Export its data first.",
    release: "The student loses this VM; it goes back to the pool.",
  };

  function say(text, bad) {
    const m = $("instances_message");
    m.textContent = text;
    m.className = bad ? "bad" : "muted";
  }

  function followAction(id, title) {
    $("action_section").hidden = false;
    $("action_title").textContent = title + " (operation " + id + ")";
    $("action_link").href = "/admin/operations/" + encodeURIComponent(id);
    $("action_output").textContent = "";
    LL.followOperation(id, {
      progress: $("action_progress"), output: $("action_output"), state: $("action_state"),
      onEnd: (ok, op) => {
        say(title + (ok ? " finished." : " failed" + (op.error ? ": " + op.error : ".")), !ok);
        refresh();
      },
    });
  }

  async function run(action, hosts) {
    const what = hosts.length === 1 ? hosts[0] : hosts.length + " VMs (" + hosts.join(", ") + ")";
    if (!confirm(NOUNS[action] + " " + what + "?\n\n" + WARN[action])) return;
    let r;
    if (hosts.length > 1) {
      r = await LL.api("/api/vms/bulk", {method: "POST", headers: {"Content-Type": "application/json"},
        body: JSON.stringify({action: action, hostnames: hosts})});
    } else {
      const h = encodeURIComponent(hosts[0]);
      const url = action === "reboot" ? "/api/reboot-vm"
        : action === "move" ? "/api/vms/" + h + "/replace?new_name=1"
        : "/api/vms/" + h + "/" + action;
      r = await LL.api(url, action === "reboot"
        ? {method: "POST", headers: {"Content-Type": "application/json"}, body: JSON.stringify({hostname: hosts[0]})}
        : {method: "POST"});
    }
    const b = r.body && typeof r.body === "object" ? r.body : {};
    if (!r.ok) { say(LL.errorText(r, NOUNS[action] + " " + what), true); refresh(); return; }
    if (b.operation_id !== undefined) followAction(b.operation_id, NOUNS[action] + " " + what);
    else if (action === "release") say(what + (hosts.length === 1 ? " was" : " were") + " released back to the pool.");
    else say(b.message || (NOUNS[action] + " " + what + ": done."));
    selected.clear();
    refresh();
  }

  function actionButtons(v) {
    const box = LL.el("div", {className: "actions"});
    const add = (action, label, cls) => {
      const b = LL.el("button", {type: "button", className: cls || "ghost", "data-action": action,
        "aria-label": label + " " + v.hostname}, label);
      b.addEventListener("click", () => run(action, [v.hostname]));
      box.append(b);
    };
    add("reboot", "Reboot");
    add("replace", "Replace");
    if (v.user_email) add("move", "New VM");
    if (v.user_email) add("release", "Release", "ghost release");
    add("destroy", "Destroy", "danger");
    box.append(LL.el("a", {href: "/api/scp-client?hostname=" + encodeURIComponent(v.hostname), download: "",
      className: "button secondary", "aria-label": "Export data of " + v.hostname}, "Export"));
    return box;
  }

  function updateBulk() {
    for (const h of Array.from(selected)) if (!vms.some((v) => v.hostname === h)) selected.delete(h);
    $("selected_count").textContent = selected.size;
    for (const b of document.querySelectorAll("#bulk_bar [data-bulk]")) b.disabled = selected.size === 0;
  }

  // --- table ---------------------------------------------------------------
  function renderTable() {
    const cols = COLUMNS.filter((c) => shown.has(c[0]));
    const head = $("instances_head");
    head.replaceChildren();
    const all = LL.el("input", {type: "checkbox", id: "select_all", "aria-label": "Select every VM shown"});
    const th0 = LL.el("th", {scope: "col"});
    th0.append(all);
    head.append(th0);
    for (const c of cols) head.append(LL.el("th", {scope: "col"}, c[1]));
    head.append(LL.el("th", {scope: "col"}, "Actions"));
    const body = $("instances_body");
    body.replaceChildren();
    const list = visible();
    all.checked = list.length > 0 && list.every((v) => selected.has(v.hostname));
    all.addEventListener("change", () => {
      for (const v of list) { if (all.checked) selected.add(v.hostname); else selected.delete(v.hostname); }
      renderTable();
    });
    list.forEach((v, i) => {
      const why = trouble(v);
      const tr = LL.el("tr", {"data-hostname": v.hostname, "data-state": v.state || "", className: why ? "attention" : null});
      const sel = LL.el("td", {"data-label": "Select"});
      const box = LL.el("input", {type: "checkbox", className: "select", checked: selected.has(v.hostname),
        "aria-label": "Select " + v.hostname});
      box.addEventListener("change", () => { if (box.checked) selected.add(v.hostname); else selected.delete(v.hostname); updateBulk(); });
      sel.append(box);
      if (why) sel.append(LL.el("span", {className: "visually-hidden"}, "Needs attention: " + why));
      tr.append(sel);
      for (const [, label, get] of cols) {
        const td = LL.el("td", {"data-label": label});
        const value = get(v, i);
        if (value instanceof Node) td.append(value); else td.textContent = value;
        tr.append(td);
      }
      const actions = LL.el("td", {"data-label": "Actions"});
      actions.append(actionButtons(v));
      tr.append(actions);
      body.append(tr);
    });
    if (!vms.length) say("No VMs yet. Create some on the Create page.");
    else if ($("instances_message").textContent === "No VMs yet. Create some on the Create page.") say("");
    updateBulk();
  }

  // Horizontal stacked bars: terraform, cloud-init, container per VM.
  function renderChart() {
    const svg = $("startup_chart");
    const NS = "http://www.w3.org/2000/svg";
    svg.replaceChildren();
    const rows = vms.filter((v) => [v.terraform_duration_seconds, v.cloud_init_duration_seconds,
      v.container_duration_seconds].some((x) => x !== null && x !== undefined));
    $("chart_message").textContent = rows.length ? "" : "No startup times reported yet.";
    const width = 600, label = 150, bar = 16, gap = 8, top = 4;
    const height = top + rows.length * (bar + gap) + 20;
    svg.setAttribute("viewBox", "0 0 " + width + " " + Math.max(height, 30));
    const totals = rows.map((v) => (Number(v.terraform_duration_seconds) || 0) + (Number(v.cloud_init_duration_seconds) || 0)
      + (Number(v.container_duration_seconds) || 0));
    const max = Math.max(1, ...totals);
    const scale = (width - label - 50) / max;
    const mk = (tag, attrs, text) => {
      const n = document.createElementNS(NS, tag);
      for (const [k, val] of Object.entries(attrs)) n.setAttribute(k, String(val));
      if (text !== undefined) n.textContent = text;
      svg.append(n);
      return n;
    };
    rows.forEach((v, i) => {
      const y = top + i * (bar + gap);
      mk("text", {x: 0, y: y + bar - 4}, v.hostname.length > 22 ? v.hostname.slice(0, 21) + "…" : v.hostname);
      let x = label;
      for (const [key, cls, name] of [["terraform_duration_seconds", "tf", "Terraform"], ["cloud_init_duration_seconds", "ci", "Cloud-init"],
        ["container_duration_seconds", "ct", "Container"]]) {
        const s = Number(v[key]) || 0;
        if (s <= 0) continue;
        const w = Math.max(1, s * scale);
        const rect = mk("rect", {x: x, y: y, width: w, height: bar, class: "bar " + cls});
        const title = document.createElementNS(NS, "title");
        title.textContent = v.hostname + " " + name + ": " + s.toFixed(1) + " s";
        rect.append(title);
        x += w;
      }
      mk("text", {x: x + 4, y: y + bar - 4}, totals[i].toFixed(1) + " s");
    });
    mk("line", {x1: label, y1: height - 16, x2: width - 50, y2: height - 16});
    mk("text", {x: label, y: height - 4}, "0 s");
    mk("text", {x: width - 90, y: height - 4}, max.toFixed(0) + " s");
  }

  function csvCell(v) {
    if (v === null || v === undefined) return "";
    let s = String(v);
    if (/^[=+\-@]/.test(s)) s = "'" + s;  // no formulas in spreadsheets
    return /[",\n\r]/.test(s) ? '"' + s.replace(/"/g, '""') + '"' : s;
  }
  $("download_csv").addEventListener("click", () => {
    const keys = [];
    for (const v of vms) for (const k of Object.keys(v)) if (!keys.includes(k)) keys.push(k);
    if (!keys.length) keys.push("hostname");
    const lines = [keys.join(",")].concat(vms.map((v) => keys.map((k) => csvCell(v[k])).join(",")));
    const stamp = new Date().toISOString().replace(/[:.]/g, "-");
    LL.download("lablink_instances_" + stamp + ".csv", new Blob([lines.join("\r\n") + "\r\n"], {type: "text/csv"}));
  });

  for (const b of document.querySelectorAll("#bulk_bar [data-bulk]")) {
    b.addEventListener("click", () => { if (selected.size) run(b.dataset.bulk, Array.from(selected).sort()); });
  }

  async function refresh() {
    const r = await LL.api("/api/export-metrics?format=json");
    if (r.ok && r.body && Array.isArray(r.body.vms)) {
      vms = r.body.vms;
      $("instances_updated").textContent = new Date().toLocaleTimeString();
      render();
    }
  }
  function render() { renderTable(); renderChart(); }
  $("instance_filter").addEventListener("input", renderTable);
  let timer = setInterval(refresh, 3000);
  $("live_instances").addEventListener("change", (ev) => {
    clearInterval(timer);
    timer = ev.target.checked ? setInterval(refresh, 3000) : null;
  });
  // An action running when the page opened is followed here too
  (async () => {
    const r = await LL.api("/api/operations?limit=5");
    if (!r.ok || !r.body || r.body.active === null || r.body.active === undefined) return;
    const op = (r.body.operations || []).find((o) => o.id === r.body.active);
    if (op && op.kind !== "launch") followAction(op.id, op.kind + (op.target ? " " + op.target : ""));
  })();
  // /admin/instances?filter=...: the dashboard's links to a state or a VM
  const wanted = new URLSearchParams(location.search).get("filter");
  if (wanted) $("instance_filter").value = wanted;
  buildChooser();
  render();
  refresh();
})();
