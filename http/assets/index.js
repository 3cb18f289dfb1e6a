// Live count of available VMs (the page works without it).
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
})();
