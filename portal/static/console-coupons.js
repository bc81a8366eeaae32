// Coupon book pages: confirmation before archiving, and the upload's progress.
// (The Content-Security-Policy forbids inline scripts, so this lives here; every page works without it.)
(function () {
  "use strict";

  // <form data-confirm="..."> asks before it is sent.
  document.addEventListener("submit", function (event) {
    var form = event.target.closest("form[data-confirm]");
    if (form && !window.confirm(form.getAttribute("data-confirm"))) {
      event.preventDefault();
      event.stopImmediatePropagation();
    }
  }, true);

  function uploadParts(event) {
    var form = event.target && event.target.closest && event.target.closest("#upload-form");
    if (!form) return null;
    return { form: form, bar: form.querySelector("#upload-progress"), text: form.querySelector("#upload-progress-text") };
  }

  // The real progress of the file's upload, from the browser's XMLHttpRequest (sent by htmx).
  document.addEventListener("htmx:xhr:progress", function (event) {
    var parts = uploadParts(event);
    if (!parts || !parts.bar || !event.detail.lengthComputable) return;
    var percent = Math.round(100 * event.detail.loaded / event.detail.total);
    parts.bar.hidden = false;
    parts.bar.value = percent;
    parts.text.textContent = percent < 100 ? "Uploading… " + percent + " %" : "Uploaded; checking the codes…";
  });

  document.addEventListener("htmx:beforeRequest", function (event) {
    var parts = uploadParts(event);
    if (!parts) return;
    parts.form.querySelectorAll("button").forEach(function (button) { button.disabled = true; });
  });

  document.addEventListener("htmx:afterRequest", function (event) {
    var parts = uploadParts(event);
    if (!parts) return;
    parts.form.querySelectorAll("button").forEach(function (button) { button.disabled = false; });
    var status = event.detail.xhr && event.detail.xhr.status;
    if (status === 413) {
      parts.bar.hidden = true;
      parts.text.textContent = "The file is too large for one upload: split it into smaller files.";
    } else if (!event.detail.successful && status !== 422) {
      parts.bar.hidden = true;
      parts.text.textContent = "The upload failed (" + (status || "no connection") + "). Try again.";
    }
  });
})();
