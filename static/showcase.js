// Exhibition mode (专题交流展览): keyboard navigation through the slides, fullscreen, optional
// auto-advance. Without this script each slide is its own page with prev/next links.
(function () {
  "use strict";
  function start() {
    var body = document.body;
    if (!body.classList.contains("exhibition")) return;
    var slides = Array.prototype.slice.call(document.querySelectorAll(".slide[data-slide]"));
    if (!slides.length) return;
    var index = Math.max(0, slides.findIndex(function (s) { return !s.hidden; }));
    var timer = null;

    function show(i, push) {
      i = Math.max(0, Math.min(slides.length - 1, i));
      slides.forEach(function (s, k) {
        s.hidden = k !== i;
        s.classList.toggle("current", k === i);
      });
      index = i;
      if (push !== false && window.history && history.replaceState) {
        var url = new URL(window.location.href);
        url.searchParams.set("slide", String(i + 1));
        history.replaceState(null, "", url.toString());
      }
      body.setAttribute("data-current", String(i + 1));
    }

    function fullscreen() {
      if (document.fullscreenElement) {
        if (document.exitFullscreen) document.exitFullscreen();
      } else if (document.documentElement.requestFullscreen) {
        document.documentElement.requestFullscreen().catch(function () {});
      }
    }

    function auto() {
      if (timer) { clearInterval(timer); timer = null; body.removeAttribute("data-auto"); return; }
      var seconds = parseInt(body.getAttribute("data-interval") || "8", 10);
      timer = setInterval(function () { show(index + 1 < slides.length ? index + 1 : 0); }, seconds * 1000);
      body.setAttribute("data-auto", "on");
    }

    document.addEventListener("keydown", function (e) {
      if (e.altKey || e.ctrlKey || e.metaKey) return;
      switch (e.key) {
        case "ArrowRight": case "PageDown": case " ": case "Spacebar":
          show(index + 1); break;
        case "ArrowLeft": case "PageUp":
          show(index - 1); break;
        case "Home": show(0); break;
        case "End": show(slides.length - 1); break;
        case "f": case "F": fullscreen(); break;
        case "a": case "A": auto(); break;
        case "Escape":
          if (document.fullscreenElement) { // first Esc leaves fullscreen, the next the exhibition
            if (document.exitFullscreen) document.exitFullscreen().catch(function () {});
            break;
          }
          window.location.href = body.getAttribute("data-exit");
          break;
        default: return;
      }
      e.preventDefault();
    });

    document.addEventListener("click", function (e) {
      var link = e.target.closest && e.target.closest(".slide-nav a.prev, .slide-nav a.next");
      if (!link) return;
      e.preventDefault();
      show(index + (link.classList.contains("next") ? 1 : -1));
    });

    if (new URL(window.location.href).searchParams.get("auto") === "1") auto();
    show(index, false);
  }
  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", start);
  else start();
})();
