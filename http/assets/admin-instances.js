// /admin/instances: the live table of VMs (first render from the page's own
// data, then /api/export-metrics?format=json: our column names, where its
// default is upstream's keys; or this page's JSON form when that API is
// absent), a startup-time chart, CSV download and "release to the pool".
"use strict";
(function () {
  const $ = (id) => document.getElementById(id);
  let vms = [];
  try { vms = JSON.parse($("vm_data").dataset.vms || "[]"); } catch (e) { vms = []; }
  let source = "/api/export-metrics?format=json";

  const columns = [
    ["No.", (v, i) => i + 1],
    ["Hostname", (v) => v.hostname],
    ["VM Status", (v) => v.status || "Unknown"],
    ["User Email", (v) => v.user_email || v.useremail || "—"],
    ["In Use", (v) => (v.in_use === true || v.inuse === true ? "Yes" : "No")],
    ["GPU Health Status", (v) => v.gpu_health || v.healthy || "—"],
    ["Terraform Apply Duration", (v) => LL.seconds(v.terraform_duration_seconds)],
    ["Cloud-Init Duration", (v) => LL.seconds(v.cloud_init_duration_seconds)],
    ["Container Startup Duration", (v) => LL.seconds(v.container_duration_seconds ?? v.container_startup_duration_seconds)],
    ["Total Startup Duration", (v) => LL.seconds(v.total_startup_seconds ?? v.total_startup_duration_seconds)],
    ["Last Seen", (v) => LL.ago(v.last_seen_at)],
  ];

  function visible() {
    const q = $("instance_filter").value.trim().toLowerCase();
    if (!q) return vms;
    return vms.filter((v) => [v.hostname, v.status, v.user_email].some((x) => x && String(x).toLowerCase().includes(q)));
  }

  async function release(host, button) {
    if (!confirm("Release " + host + " back to the pool? The student loses this VM.")) return;
    button.disabled = true;
    const r = await LL.api("/api/vms/" + encodeURIComponent(host) + "/release", {method: "POST"});
    if (r.ok) $("instances_message").textContent = host + " was released back to the pool.";
    else if (r.status === 404 && r.body && r.body.error === "Not found.")
      $("instances_message").textContent = "Releasing is not available on this server (POST /api/vms/<hostname>/release answered 404).";
    else $("instances_message").textContent = LL.errorText(r, "release " + host);
    button.disabled = false;
    refresh();
  }

  function renderTable() {
    const body = $("instances_body");
    body.replaceChildren();
    const list = visible();
    list.forEach((v, i) => {
      const tr = LL.el("tr", {"data-hostname": v.hostname});
      for (const [label, get] of columns) {
        const td = LL.el("td", {"data-label": label});
        const value = get(v, i);
        if (label === "VM Status") td.append(LL.el("span", {className: "badge " + String(value).toLowerCase()}, value));
        else if (label === "Total Startup Duration") td.append(LL.el("strong", {}, value));
        else td.textContent = value;
        tr.append(td);
      }
      const logs = LL.el("td", {"data-label": "Logs"});
      logs.append(LL.el("a", {href: "/admin/logs/" + encodeURIComponent(v.hostname), target: "_blank", rel: "noopener"}, "View Logs"));
      tr.append(logs);
      const actions = LL.el("td", {"data-label": "Actions"});
      if (v.user_email) {
        const b = LL.el("button", {type: "button", className: "ghost release"}, "Release");
        b.addEventListener("click", () => release(v.hostname, b));
        actions.append(b);
      } else actions.textContent = "—";
      tr.append(actions);
      body.append(tr);
    });
    if (!vms.length) $("instances_message").textContent = "No VMs yet. Create some on the Create page.";
    else if ($("instances_message").textContent === "No VMs yet. Create some on the Create page.") $("instances_message").textContent = "";
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

  async function refresh() {
    let r = await LL.api(source);
    if (r.status === 404 && source !== "/admin/instances") {
      source = "/admin/instances";  // export-metrics not on this server
      r = await LL.api(source);
    }
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
  render();
  refresh();
})();
