/* Portal signup form for partner sites. Paste where the form should appear:
     <script src="https://PORTAL/embed/signup.js" data-form="PUBLIC_ID" async></script>
   Optional: data-lang="de" (else the visitor's browser language), data-title="Join our club".
   The script inserts an iframe showing the form and keeps it as tall as its content: the form
   posts its height, and messages are taken only from Portal's origin and from that iframe. */
(function () {
  "use strict";
  var script = document.currentScript;
  if (!script || !script.getAttribute("data-form")) { return; }
  var portal = new URL(script.src, document.baseURI).origin;
  var params = new URLSearchParams({ parent: window.location.origin });
  if (script.getAttribute("data-lang")) { params.set("lang", script.getAttribute("data-lang")); }

  var frame = document.createElement("iframe");
  frame.src = portal + "/embed/signup/" + encodeURIComponent(script.getAttribute("data-form")) + "?" + params;
  frame.title = script.getAttribute("data-title") || "Signup form";
  frame.className = "portal-signup-frame";
  frame.style.cssText = "display:block;width:100%;max-width:40rem;height:40rem;border:0;";
  script.parentNode.insertBefore(frame, script.nextSibling);

  window.addEventListener("message", function (event) {
    if (event.origin !== portal || event.source !== frame.contentWindow) { return; }
    var data = event.data;
    if (!data || data.type !== "portal-signup") { return; }
    if (typeof data.height === "number" && data.height > 0 && data.height < 20000) {
      frame.style.height = Math.ceil(data.height) + "px";
    }
    if (typeof data.redirect === "string" && /^https?:\/\//i.test(data.redirect)) {
      window.location.assign(data.redirect);
    }
  });
})();
