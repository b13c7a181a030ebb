// Small progressive enhancement only; every action works without it.
"use strict";
document.addEventListener("submit", function (event) {
  var form = event.target;
  var question = form.getAttribute("data-confirm");
  if (question && !window.confirm(question)) {
    event.preventDefault();
    return;
  }
  var button = form.querySelector("button[type=submit]");
  if (button) {
    // A second click while the first request runs would send the action twice.
    window.setTimeout(function () { button.disabled = true; }, 0);
  }
});
