// shuangtan dashboard: a file input's chosen name beside its button, in the page's language
// (the native control speaks the browser's). Markup: templates/_review.html, file_pick.
"use strict";
(function () {
  document.addEventListener("DOMContentLoaded", function () {
    document.querySelectorAll(".file-pick input[type=file]").forEach(function (input) {
      var name = input.parentElement.querySelector("[data-file-name]");
      if (!name) { return; }
      input.addEventListener("change", function () {
        name.textContent = input.files.length ? input.files[0].name : name.dataset.empty;
      });
    });
  });
})();
