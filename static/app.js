// Small behaviours that htmx does not cover. No inline scripts: the CSP forbids them.
(function () {
  "use strict";

  // Live character counters: <textarea data-maxchars="3000"> gets "123 / 3000 字".
  // Characters are counted as code points, like the server does (not UTF-16 units, not bytes).
  function bindCounters(root) {
    root.querySelectorAll("[data-maxchars]").forEach(function (el) {
      if (el.dataset.counterBound) return;
      el.dataset.counterBound = "1";
      var max = parseInt(el.dataset.maxchars, 10);
      var out = document.createElement("small");
      out.className = "char-counter";
      out.setAttribute("aria-live", "polite");
      el.insertAdjacentElement("afterend", out);
      function update() {
        var n = Array.from(el.value.replace(/\r\n/g, "\n")).length;
        out.textContent = n + " / " + max + " 字";
        out.classList.toggle("error", n > max);
      }
      el.addEventListener("input", update);
      update();
    });
  }

  // Ask before an action marked data-confirm (e.g. making a comment visible to the unit).
  document.addEventListener("htmx:confirm", function (evt) {
    var el = evt.detail.elt;
    var message = el.getAttribute("data-confirm");
    if (message && !window.confirm(message)) evt.preventDefault();
  });
  document.addEventListener("submit", function (evt) {
    var form = evt.target;
    var message = form.getAttribute && form.getAttribute("data-confirm");
    if (message && !form.hasAttribute("hx-post") && !window.confirm(message)) evt.preventDefault();
  });

  document.addEventListener("DOMContentLoaded", function () { bindCounters(document); });
  document.addEventListener("htmx:load", function (evt) { bindCounters(evt.detail.elt); });
})();
