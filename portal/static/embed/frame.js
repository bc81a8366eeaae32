/* Inside the iframe: tell the partner page (only an origin the form allows) how tall the form is,
   and where to go after a submission when the form names a page. */
(function () {
  "use strict";
  var body = document.body;
  var parentOrigin = body.getAttribute("data-parent-origin");
  if (!parentOrigin || window.parent === window) { return; }
  var main = document.getElementById("main");

  function post(message) {
    message.type = "portal-signup";
    message.form = body.getAttribute("data-form");
    window.parent.postMessage(message, parentOrigin);
  }

  function tellHeight() {
    var style = window.getComputedStyle(main);
    post({ height: Math.ceil(main.getBoundingClientRect().height + parseFloat(style.marginTop) +
                             parseFloat(style.marginBottom)) });
  }

  new ResizeObserver(tellHeight).observe(main);
  var redirect = body.getAttribute("data-redirect");
  if (redirect) { post({ redirect: redirect }); }
})();
