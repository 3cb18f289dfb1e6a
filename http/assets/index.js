// Live count of available VMs, and a guard against double submits (the page
// works without it; the class-end banner: class-end.js).
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
  const form = document.getElementById("request_form");
  const button = document.getElementById("submit");
  if (form && button) {
    form.addEventListener("submit", function () {
      button.disabled = true;
      button.textContent = "Requesting…";
    });
  }
})();
