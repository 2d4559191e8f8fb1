// shuangtan dashboard, one meter's page: busy buttons while a correction is sent, and the
// outcome of a correction brought into view (charts are drawn by app.js).
"use strict";
(function () {
  document.addEventListener("DOMContentLoaded", function () {
    document.querySelectorAll("#quarantine-table form").forEach(function (form) {
      form.addEventListener("submit", function () {
        form.setAttribute("aria-busy", "true");
        window.setTimeout(function () {
          form.querySelectorAll("button").forEach(function (b) { b.disabled = true; });
        }, 0);
      });
    });
    var outcome = document.querySelector("[id$='-outcome'], #quarantine-table [aria-invalid='true']");
    if (outcome) {
      outcome.scrollIntoView({ block: "center" });
      if (outcome.tagName !== "INPUT") { outcome.setAttribute("tabindex", "-1"); }
      outcome.focus({ preventScroll: true });
    }
  });
})();
