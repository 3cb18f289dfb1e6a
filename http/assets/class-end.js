// The end of the class, on the student pages: a banner in its last 30
// minutes (GET /api/class-end, read again every 30 s).
"use strict";
(function () {
  const banner = document.getElementById("class_end_banner");
  if (!banner) return;
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
      const min = Math.max(0, Math.ceil(left / 60));
      banner.textContent = left > 0 ? "The class ends in " + min + " min: save your work now. The VMs are deleted then."
        : "The class has ended: the VMs are being deleted.";
    }
  }
  classEnd().then(tick);
  setInterval(classEnd, 30000);
  setInterval(tick, 1000);
})();
