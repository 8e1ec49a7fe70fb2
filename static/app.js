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

  // After a campaign edit is saved the server reports (HX-Trigger "campaign-version") the
  // stream's version before and after. Other edit forms still open on the version before saw
  // the same state, so they move to the new one; a form older than that stays stale (409).
  document.addEventListener("campaign-version", function (evt) {
    var d = evt.detail || {};
    document.querySelectorAll('input[name="version"][data-stream]').forEach(function (el) {
      if (el.dataset.stream === d.stream && el.value === String(d.from)) el.value = String(d.to);
    });
  });

  document.addEventListener("DOMContentLoaded", function () { bindCounters(document); });
  document.addEventListener("htmx:load", function (evt) { bindCounters(evt.detail.elt); });
})();
