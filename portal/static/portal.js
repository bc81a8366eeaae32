// Member portal behaviour that needs JavaScript; every page works without it.
// (The Content-Security-Policy forbids inline scripts, so it lives here.)
(function () {
  "use strict";

  // After htmx swaps in a new page of the history, move focus to its summary so that
  // screen reader users hear what changed and keyboard users continue from there.
  document.addEventListener("htmx:afterSwap", function (event) {
    var target = event.detail && event.detail.target;
    if (!target) return;
    var summary = document.querySelector("#history-results .history__summary");
    if (summary && (target.id === "history-results" || target.contains(summary))) {
      summary.focus();
    }
  });

  // Focus the error summary of a form that came back with errors.
  document.addEventListener("DOMContentLoaded", function () {
    var summary = document.querySelector(".error-summary");
    if (summary) summary.focus();
  });

  // Copy buttons: <button data-copy="#element-id"> copies that element's text or value.
  document.addEventListener("click", function (event) {
    var button = event.target.closest("[data-copy]");
    if (!button || !navigator.clipboard) return;
    var source = document.querySelector(button.getAttribute("data-copy"));
    if (!source) return;
    var text = "value" in source ? source.value : source.textContent;
    navigator.clipboard.writeText(text.trim()).then(function () {
      var done = button.getAttribute("data-copied");
      if (done) {
        var original = button.textContent;
        button.textContent = done;
        setTimeout(function () { button.textContent = original; }, 2000);
      }
    });
  });
})();

// Coupons and referrals (appended).
(function () {
  "use strict";

  // Copy buttons start hidden (they need the clipboard); show them where it exists.
  document.addEventListener("DOMContentLoaded", function () {
    if (!navigator.clipboard) return;
    document.querySelectorAll("button[data-copy][hidden]").forEach(function (button) {
      button.hidden = false;
    });
  });

  // After a claim or an activation swaps the coupons panel (or a coupon), move focus to the message
  // it brought, so that screen reader users hear the outcome and keyboard users are not lost.
  document.addEventListener("htmx:afterSwap", function (event) {
    var target = event.detail && event.detail.target;
    if (!target || !target.querySelector) return;
    var scope = document.getElementById(target.id) || target;
    var message = scope.querySelector(".flashes");
    if (message) message.focus();
  });
})();
