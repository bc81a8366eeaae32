// Kept out of the page so the Content-Security-Policy can forbid inline scripts.
window.addEventListener("load", function () {
  var script = document.querySelector("script[data-spec-url]");
  window.ui = SwaggerUIBundle({ url: script.dataset.specUrl, dom_id: "#swagger-ui", deepLinking: true });
});
