// Small behaviours that htmx does not cover. No inline scripts: the CSP forbids them.
(function () {
  "use strict";

  // Texts in the page's language: base.html puts them in <script type="application/json"
  // id="i18n-js"> with {name} places; without it (or a key) the Chinese fallback is used.
  var texts = null;
  function t(key, fallback, params) {
    if (texts === null) {
      texts = {};
      var data = document.getElementById("i18n-js");
      try { if (data) texts = JSON.parse(data.textContent) || {}; } catch (e) { texts = {}; }
    }
    var template = typeof texts[key] === "string" ? texts[key] : fallback;
    return template.replace(/\{(\w+)\}/g, function (place, name) {
      return Object.prototype.hasOwnProperty.call(params, name) ? String(params[name]) : place;
    });
  }

  // Live character counters: <textarea data-maxchars="3000"> gets "123 / 3000 字" (in English
  // "123 / 3000 characters").
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
        out.textContent = t("chars", "{n} / {max} 字", { n: n, max: max });
        out.classList.toggle("error", n > max);
      }
      el.addEventListener("input", update);
      update();
    });
  }

  // A report's limit is on all its sections together: <output data-report-total data-max>
  // shows the sum, counted like the server (trimmed sections, code points).
  function bindReportTotal(root) {
    root.querySelectorAll("output[data-report-total]").forEach(function (out) {
      var form = out.closest("form");
      var max = parseInt(out.dataset.max, 10);
      function update() {
        var n = 0;
        form.querySelectorAll("[data-report-section]").forEach(function (el) {
          n += Array.from(el.value.replace(/\r\n/g, "\n").trim()).length;
        });
        out.textContent = t("total", "合计 {n} / {max} 字", { n: n, max: max });
        out.classList.toggle("error", n > max);
      }
      form.addEventListener("input", update);
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

  // Photo uploads: <input type=file data-captions="ID"> gets one caption field per chosen
  // file inside #ID (name "captions", in the files' order); the shared caption stays as the
  // default for any left empty.
  function bindCaptions(root) {
    root.querySelectorAll("input[type=file][data-captions]").forEach(function (input) {
      if (input.dataset.captionsBound) return;
      input.dataset.captionsBound = "1";
      input.addEventListener("change", function () {
        var box = document.getElementById(input.dataset.captions);
        if (!box) return;
        box.textContent = "";
        Array.from(input.files || []).forEach(function (file, i) {
          var id = input.dataset.captions + "-" + i;
          var label = document.createElement("label");
          label.htmlFor = id;
          label.textContent = t("caption", "“{name}”的注释", { name: file.name });
          var field = document.createElement("input");
          field.type = "text";
          field.name = "captions";
          field.id = id;
          field.maxLength = 100;
          box.appendChild(label);
          box.appendChild(field);
        });
      });
    });
  }

  // Upload progress: htmx reports the request's upload progress on the form that sent it;
  // a <progress data-upload-progress> inside that form shows it.
  function progressBar(evt) {
    var form = evt.target && evt.target.closest ? evt.target.closest("form") : null;
    return form ? form.querySelector("progress[data-upload-progress]") : null;
  }
  document.addEventListener("htmx:xhr:loadstart", function (evt) {
    var bar = progressBar(evt);
    if (bar) { bar.value = 0; bar.hidden = false; }
  });
  document.addEventListener("htmx:xhr:progress", function (evt) {
    var bar = progressBar(evt);
    if (bar && evt.detail.lengthComputable && evt.detail.total) {
      bar.value = Math.round((evt.detail.loaded / evt.detail.total) * 100);
    }
  });
  document.addEventListener("htmx:afterRequest", function (evt) {
    var bar = progressBar(evt);
    if (bar) bar.hidden = true;
  });

  document.addEventListener("DOMContentLoaded", function () {
    bindCounters(document);
    bindCaptions(document);
    bindReportTotal(document);
  });
  document.addEventListener("htmx:load", function (evt) {
    bindCounters(evt.detail.elt);
    bindCaptions(evt.detail.elt);
  });
})();
