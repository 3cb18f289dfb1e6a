// Live count of available VMs, and a guard against double submits (the page
// works without it).
"use strict";
(function () {
  const target = document.getElementById("unassigned_vms_count");
  async function refresh() {
    try {
      const res = await fetch("/api/unassigned_vms_count", {cache: "no-store"});
      if (!res.ok) throw new Error(res.status);
      const body = await res.json();
      target.textContent = String(body.count);
    } catch (e) {
      target.textContent = "Error fetching VM count";
    }
  }
  refresh();
  setInterval(refresh, 5000);
  // The end of the class: a banner in its last 30 minutes
  const banner = document.getElementById("class_end_banner");
  let endAt = null;
  async function classEnd() {
    try {
      const res = await fetch("/api/class-end", {cache: "no-store"});
      if (!res.ok) return;
      const b = await res.json();
      endAt = b.seconds_left === null ? null : Date.now() + b.seconds_left * 1000;
    } catch (e) { /* keep the last */ }
  }
  function tick() {
    const left = endAt === null ? Infinity : (endAt - Date.now()) / 1000;
    banner.hidden = left > 1800;
    if (left <= 1800) {
      banner.textContent = left > 0 ? "The class ends in " + Math.ceil(left / 60)
        + " min: save your work now. The VMs are deleted then." : "The class has ended: the VMs are being deleted.";
    }
  }
  if (banner) {
    classEnd().then(tick);
    setInterval(classEnd, 30000);
    setInterval(tick, 1000);
  }
  const form = document.getElementById("request_form");
  const button = document.getElementById("submit");
  if (form && button) {
    form.addEventListener("submit", function () {
      button.disabled = true;
      button.textContent = "Requesting…";
    });
  }
})();
