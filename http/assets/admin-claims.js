// /admin: reset a student's claim (POST /api/claims/reset, admin only and
// audited): shows the new recovery code to hand to the student.
"use strict";
(function () {
  const $ = (id) => document.getElementById(id);
  const form = $("claim_reset_form");
  if (!form) return;
  const email = $("claim_reset_email"), button = $("claim_reset_button"), result = $("claim_reset_result");

  form.addEventListener("submit", async (ev) => {
    ev.preventDefault();
    const address = email.value.trim();
    if (!address) return;
    if (!window.confirm("Give " + address + " a new recovery code? The old one stops working.")) return;
    button.disabled = true;
    result.textContent = "";
    const r = await window.LL.api("/api/claims/reset", {
      method: "POST",
      headers: {"Content-Type": "application/json"},
      body: JSON.stringify({email: address}),
    });
    button.disabled = false;
    result.replaceChildren();
    if (r.ok && r.body && r.body.recovery_code) {
      result.className = "ok";
      result.append("New recovery code for " + r.body.email + " (" + r.body.hostnames.join(", ") + "): ");
      result.append(window.LL.el("code", {id: "claim_reset_code"}, r.body.recovery_code));
    } else {
      result.className = "bad";
      result.textContent = window.LL.errorText(r, "Reset failed");
    }
  });
})();
