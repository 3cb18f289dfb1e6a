// /admin/logs/<hostname>: live tail (SSE /api/vm-logs/<h>/events, or
// polling /api/vm-logs/<h>?after=<id> when the stream is unavailable),
// search, stream tabs, follow and download.
"use strict";
(function () {
  const $ = (id) => document.getElementById(id);
  const host = $("log_meta").dataset.hostname;
  const base = "/api/vm-logs/" + encodeURIComponent(host);
  const out = $("log_output");
  const MAX_LINES = 50000;
  let lines = [];          // {id, stream, text}
  let lastId = 0;          // highest id seen
  let stream = "";         // tab filter
  let live = true, source = null, pollTimer = null, loading = false;

  // Accept the shapes the logs API may answer with: an array of entries
  // ({id, stream, line}) under lines/entries, or upstream's whole-text form.
  function extract(body) {
    if (!body || typeof body !== "object") return {entries: [], whole: false};
    const arr = Array.isArray(body) ? body : body.lines || body.entries || body.items;
    if (Array.isArray(arr)) {
      return {whole: false, last: body.last_id ?? body.next_after, entries: arr.map((x) => typeof x === "string" ? {text: x}
        : {id: Number(x.id) || 0, stream: x.stream || x.kind || "", text: x.line ?? x.text ?? x.message ?? ""})};
    }
    if (body.line !== undefined || body.text !== undefined)
      return {whole: false, entries: [{id: Number(body.id) || 0, stream: body.stream || "", text: body.line ?? body.text}]};
    const entries = [];
    const split = (text, s) => { if (typeof text === "string" && text) for (const t of text.split("\n")) entries.push({stream: s, text: t}); };
    if (typeof body.cloud_init_logs === "string" || typeof body.docker_logs === "string") {
      split(body.cloud_init_logs, "cloud_init");
      split(body.docker_logs, "docker");
    } else split(body.logs, "");
    return {whole: true, entries: entries};
  }

  function matches(l) {
    const q = $("log_search").value;
    return (!stream || l.stream === stream) && (!q || l.text.toLowerCase().includes(q.toLowerCase()));
  }
  function lineNode(l) {
    const q = $("log_search").value;
    const div = document.createElement("div");
    div.className = "log-line";
    if (l.id) div.dataset.id = l.id;
    if (!q) { div.textContent = l.text; return div; }
    const low = l.text.toLowerCase(), ql = q.toLowerCase();
    let i = 0, j;
    while ((j = low.indexOf(ql, i)) >= 0) {
      div.append(l.text.slice(i, j), LL.el("mark", {}, l.text.slice(j, j + q.length)));
      i = j + q.length;
    }
    div.append(l.text.slice(i));
    return div;
  }
  function stats() {
    const count = (s) => lines.filter((l) => l.stream === s).length;
    $("count_all").textContent = lines.length;
    $("count_cloud_init").textContent = count("cloud_init");
    $("count_docker").textContent = count("docker");
    $("count_agent").textContent = count("agent");
    $("line_count").textContent = lines.filter(matches).length;
    $("last_updated").textContent = new Date().toLocaleTimeString();
  }
  function follow() { if ($("follow_tail").checked) out.scrollTop = out.scrollHeight; }
  function renderAll() {
    out.replaceChildren(...lines.filter(matches).map(lineNode));
    stats();
    follow();
  }
  function add(entries, whole) {
    if (whole) { lines = []; lastId = 0; }
    const fresh = [];
    for (const e of entries) {
      if (e.id && e.id <= lastId && !whole) continue;  // seen already
      if (e.id) lastId = Math.max(lastId, e.id);
      lines.push(e);
      fresh.push(e);
    }
    if (lines.length > MAX_LINES) { lines = lines.slice(-MAX_LINES); renderAll(); return; }
    if (whole) { renderAll(); return; }
    out.append(...fresh.filter(matches).map(lineNode));
    stats();
    follow();
  }

  async function load() {
    if (loading) return;
    loading = true;
    const r = await LL.api(base + "?after=" + lastId);
    loading = false;
    const err = $("log_error");
    if (r.status === 503) { err.textContent = "The VM is currently initializing. Please wait."; return; }
    if (r.status === 404 && r.body && r.body.error === "Not found.") {
      err.textContent = "Logs are not available on this server (GET " + base + " answered 404).";
      setLive(false);
      $("live_indicator").textContent = "Unavailable";
      return;
    }
    if (!r.ok) { err.textContent = r.status === 0 ? "Network error: " + r.error : "Error loading logs. Please try again."; return; }
    err.textContent = "";
    const got = extract(r.body);
    add(got.entries, got.whole);
  }

  function startPolling() { if (!pollTimer) pollTimer = setInterval(load, 1000); }
  function stopLive() {
    if (source) { source.close(); source = null; }
    if (pollTimer) { clearInterval(pollTimer); pollTimer = null; }
  }
  function startLive() {
    stopLive();
    if (!window.EventSource) { startPolling(); return; }
    let opened = false;
    source = new EventSource(base + "/events?after=" + lastId);
    const onEvent = (ev) => {
      let data = ev.data;
      try { data = JSON.parse(ev.data); } catch (e) { data = {text: ev.data}; }
      const got = extract(Array.isArray(data) ? {lines: data} : data);
      add(got.entries, false);
    };
    source.onopen = () => { opened = true; if (pollTimer) { clearInterval(pollTimer); pollTimer = null; } };
    source.onmessage = onEvent;
    for (const name of ["line", "lines", "log"]) source.addEventListener(name, onEvent);
    source.onerror = () => {
      // No stream on this server (404) or it dropped: poll instead; the
      // browser reconnects an open stream by itself.
      if (!opened || source.readyState === EventSource.CLOSED) {
        if (source && source.readyState === EventSource.CLOSED) source = null;
        startPolling();
      }
    };
  }
  function setLive(on) {
    live = on;
    $("live_toggle").textContent = on ? "Stop Live Tail" : "Start Live Tail";
    $("live_indicator").textContent = on ? "Live" : "Paused";
    $("live_indicator").className = on ? "live" : "live off";
    if (on) startLive(); else stopLive();
  }

  $("refresh_logs").addEventListener("click", load);
  $("live_toggle").addEventListener("click", () => setLive(!live));
  $("log_search").addEventListener("input", renderAll);
  $("follow_tail").addEventListener("change", follow);
  // Tabs (WAI-ARIA tabs pattern): one tab stop, arrows/Home/End move and
  // select, the panel is labelled by the selected tab.
  const tabs = Array.from(document.querySelectorAll("#stream_tabs [role=tab]"));
  function selectTab(tab, focus) {
    stream = tab.dataset.stream;
    for (const t of tabs) {
      const on = t === tab;
      t.setAttribute("aria-selected", on ? "true" : "false");
      t.tabIndex = on ? 0 : -1;
    }
    $("log_panel").setAttribute("aria-labelledby", tab.id);
    if (focus) tab.focus();
    renderAll();
  }
  for (const tab of tabs) {
    tab.addEventListener("click", () => selectTab(tab, false));
    tab.addEventListener("keydown", (ev) => {
      const i = tabs.indexOf(tab);
      const next = {ArrowRight: i + 1, ArrowLeft: i - 1, Home: 0, End: tabs.length - 1}[ev.key];
      if (next === undefined) return;
      ev.preventDefault();
      selectTab(tabs[(next + tabs.length) % tabs.length], true);
    });
  }
  $("download_logs").addEventListener("click", () => {
    const text = lines.filter(matches).map((l) => l.text).join("\n") + "\n";
    const stamp = new Date().toISOString().replace(/[:.]/g, "-");
    LL.download(host + "_logs_" + stamp + ".txt", new Blob([text], {type: "text/plain"}));
  });
  load().then(() => { if ($("live_indicator").textContent !== "Unavailable") setLive(true); });
})();
