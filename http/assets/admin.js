// Shared by the admin pages: theme, the CSRF token, JSON calls, small
// helpers and following a launch/destroy operation. No inline script (CSP).
"use strict";
(function () {
  const root = document.documentElement;
  const saved = localStorage.getItem("lablink-theme");
  if (saved === "dark" || saved === "light") root.dataset.theme = saved;

  function currentTheme() {
    if (root.dataset.theme) return root.dataset.theme;
    return window.matchMedia("(prefers-color-scheme: dark)").matches ? "dark" : "light";
  }

  const meta = document.querySelector('meta[name="csrf-token"]');
  const csrf = meta ? meta.content : "";

  // fetch() with the CSRF header and JSON preferred. Never throws: returns
  // {ok, status, body, headers, error}.
  async function api(url, options) {
    const opts = Object.assign({method: "GET", headers: {}}, options || {});
    opts.headers = Object.assign({"Accept": "application/json"}, opts.headers);
    if (opts.method !== "GET" && opts.method !== "HEAD" && csrf) opts.headers["X-CSRF-Token"] = csrf;
    opts.credentials = "same-origin";
    opts.cache = "no-store";
    try {
      const res = await fetch(url, opts);
      let body = null;
      const type = res.headers.get("Content-Type") || "";
      if (type.includes("application/json")) {
        try { body = await res.json(); } catch (e) { body = null; }
      } else {
        body = await res.text();
      }
      if (res.status === 401 && body && body.error && /Session expired/.test(body.error)) {
        location.href = "/admin/login?next=" + encodeURIComponent(location.pathname);
      }
      return {ok: res.ok, status: res.status, body: body, headers: res.headers, error: null};
    } catch (e) {
      return {ok: false, status: 0, body: null, headers: null, error: String(e)};
    }
  }

  function errorText(result, what) {
    if (result.status === 0) return what + ": network error (" + result.error + ")";
    const b = result.body;
    const msg = b && typeof b === "object" && b.error ? b.error : "HTTP " + result.status;
    return what + ": " + msg;
  }

  function el(tag, attrs, text) {
    const node = document.createElement(tag);
    for (const [k, v] of Object.entries(attrs || {})) {
      if (v === null || v === undefined || v === false) continue;
      if (k === "className") node.className = v; else node.setAttribute(k, v === true ? "" : String(v));
    }
    if (text !== undefined && text !== null) node.textContent = String(text);
    return node;
  }

  function seconds(v) {
    if (v === null || v === undefined || v === "") return "—";
    const n = Number(v);
    return Number.isFinite(n) ? n.toFixed(1) + "s" : "—";
  }

  function ago(ts) {
    if (!ts) return "—";
    const t = Date.parse(ts);
    if (!Number.isFinite(t)) return String(ts);
    const s = Math.max(0, Math.round((Date.now() - t) / 1000));
    if (s < 60) return s + " s ago";
    if (s < 3600) return Math.round(s / 60) + " min ago";
    if (s < 86400) return Math.round(s / 3600) + " h ago";
    return new Date(t).toISOString().slice(0, 16).replace("T", " ");
  }

  function download(filename, blob) {
    const url = URL.createObjectURL(blob);
    const a = el("a", {href: url, download: filename});
    document.body.appendChild(a);
    a.click();
    a.remove();
    setTimeout(() => URL.revokeObjectURL(url), 10000);
  }

  // Follow an operation (launch or destroy) until it ends. ui: {progress,
  // output, state, onEnd(succeeded, op)}. Live lines come from the SSE
  // stream /api/operations/<id>/events; the state (and the whole output,
  // when the server keeps it) from polling /api/operations/<id>.
  function followOperation(id, ui) {
    let ended = false, source = null, timer = null, sawLive = false;
    const done = (ok, op) => {
      if (ended) return;
      ended = true;
      if (source) source.close();
      if (timer) clearInterval(timer);
      if (ui.progress) { ui.progress.max = 100; ui.progress.value = 100; }
      ui.onEnd(ok, op || {});
    };
    const appendLine = (text) => {
      if (!ui.output || text === undefined || text === null) return;
      ui.output.append(String(text).replace(/\n?$/, "\n"));
      ui.output.scrollTop = ui.output.scrollHeight;
    };
    const applyState = (op) => {
      if (!op || typeof op !== "object") return;
      const status = op.status || op.state;
      const counts = op.vms && typeof op.vms === "object" ? op.vms : op;
      const doneN = Number(counts.done), total = Number(counts.total || op.requested);
      if (ui.progress) {
        if (Number.isFinite(doneN) && Number.isFinite(total) && total > 0) {
          ui.progress.max = total; ui.progress.value = Math.min(doneN, total);
        } else if (status === "running" || status === "queued") {
          ui.progress.removeAttribute("value");
        }
      }
      if (ui.state && status) {
        let text = "Operation " + id + ": " + status;
        if (Number.isFinite(doneN) && Number.isFinite(total) && total > 0) text += " (" + doneN + "/" + total + ")";
        ui.state.textContent = text;
      }
      if (typeof op.output === "string" && ui.output && (!sawLive || op.output.length >= ui.output.textContent.length)) {
        ui.output.textContent = op.output;
        ui.output.scrollTop = ui.output.scrollHeight;
      }
      if (status === "succeeded" || status === "success" || status === "completed") done(true, op);
      else if (status === "failed" || status === "error" || status === "cancelled") done(false, op);
    };
    const onEvent = (ev) => {
      let data = ev.data;
      try { data = JSON.parse(ev.data); } catch (e) { /* a plain line */ }
      if (data && typeof data === "object") {
        const line = data.line !== undefined ? data.line : data.text;
        if (line !== undefined) { sawLive = true; appendLine(line); }
        if (data.status || data.state || data.done !== undefined) applyState(Object.assign({}, data, {output: undefined}));
      } else if (typeof data === "string") {
        sawLive = true;
        appendLine(data);
      }
    };
    if (window.EventSource) {
      source = new EventSource("/api/operations/" + encodeURIComponent(id) + "/events");
      source.onmessage = onEvent;
      for (const name of ["line", "output", "progress", "status", "state", "end", "done", "result"]) {
        source.addEventListener(name, onEvent);
      }
      source.onerror = () => { if (source && source.readyState === EventSource.CLOSED) source = null; };
    }
    const poll = async () => {
      const r = await api("/api/operations/" + encodeURIComponent(id));
      if (r.ok && r.body && typeof r.body === "object") applyState(r.body.operation || r.body);
    };
    poll();
    timer = setInterval(poll, 1500);
    return () => done(false, {status: "abandoned"});
  }

  // The badge class of an outcome word (audit log, operations): success is
  // never shown like failure.
  // The answer r of a POST that starts a launch or a destroy: follow the
  // operation it started (409: the one that runs), or say why not. ui:
  // {verb: "Launching", path: "POST /api/launch", what: "launch", output
  // and state (elements), finish (ok, text), follow (id)}.
  function operationStarted(r, ui) {
    const body = r.body && typeof r.body === "object" ? r.body : {};
    if (r.status === 404 && body.error === "Not found.") {
      ui.finish(false, ui.verb + " is not available on this server (" + ui.path + " answered 404).");
      return;
    }
    if (r.status === 409 && body.operation_id !== undefined) {
      // One operation at a time: follow the one that runs (maybe this very
      // request, sent twice by the browser over a dropped connection)
      ui.state.textContent = (body.error || "Another operation is running.") + " Following operation " + body.operation_id + ".";
      body.operation_id = Number(body.operation_id);
    } else if (!r.ok) {
      if (typeof body.output === "string") ui.output.textContent = body.output;
      ui.finish(false, "Terraform Script Failed: " + errorText(r, ui.what));
      return;
    }
    if (body.operation_id !== undefined) {
      ui.follow(body.operation_id);
      return;
    }
    // A server that ran terraform inside the request (upstream's JSON mode)
    ui.output.textContent = body.output || "";
    ui.finish(body.status !== "error", body.status === "error" ? "Terraform Script Failed: " + (body.error || "")
      : "Terraform Script Ran Successfully!");
  }

  function outcomeClass(outcome) {
    const o = String(outcome || "").toLowerCase();
    if (["success", "ok", "succeeded", "completed", "assigned", "renewed", "recovering"].includes(o)) return "good";
    if (["failure", "failed", "error", "refused", "unrecoverable"].includes(o)) return "fail";
    if (["throttled", "limited", "cancelled", "changed", "empty", "none", "warning"].includes(o)) return "warn";
    return "";
  }

  window.LL = {csrf, api, errorText, el, seconds, ago, download, followOperation, operationStarted, outcomeClass};

  document.addEventListener("DOMContentLoaded", () => {
    const toggle = document.getElementById("theme_toggle");
    if (toggle) {
      toggle.addEventListener("click", () => {
        const next = currentTheme() === "dark" ? "light" : "dark";
        root.dataset.theme = next;
        localStorage.setItem("lablink-theme", next);
      });
    }
  });
})();
