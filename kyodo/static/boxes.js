// Place a text box by dragging on a page preview: fills the fields of #box-form
// (document, page numbered from 1, and x, y, width, height in PDF points with the
// origin at the bottom-left). The fields remain the keyboard way.
(function () {
  "use strict";
  var form = document.getElementById("box-form");
  if (!form) { return; }
  var MIN_DRAG_PX = 4; // a click or a shaky tap is not a box
  document.querySelectorAll(".page-preview").forEach(function (figure) {
    var img = figure.querySelector("img");
    var frame = figure.querySelector(".page-frame") || figure;
    var start = null;
    var mark = document.createElement("div");
    mark.className = "box-mark";
    mark.hidden = true;
    mark.setAttribute("aria-hidden", "true");
    frame.appendChild(mark);
    img.style.cursor = "crosshair";
    // Only where boxes are placed does a drag on the page draw; elsewhere (the
    // contractor's phone) a swipe over the page scrolls it.
    img.style.touchAction = "none";
    function point(ev) {
      // Relative to the picture itself; clamped so a drag past the edge stops at the page edge.
      var r = img.getBoundingClientRect();
      return {
        x: Math.min(Math.max(ev.clientX - r.left, 0), r.width),
        y: Math.min(Math.max(ev.clientY - r.top, 0), r.height),
        r: r
      };
    }
    function draw(a, b) {
      mark.hidden = false;
      mark.style.left = (img.offsetLeft + Math.min(a.x, b.x)) + "px";
      mark.style.top = (img.offsetTop + Math.min(a.y, b.y)) + "px";
      mark.style.width = Math.abs(b.x - a.x) + "px";
      mark.style.height = Math.abs(b.y - a.y) + "px";
    }
    img.addEventListener("dragstart", function (ev) { ev.preventDefault(); });
    img.addEventListener("pointerdown", function (ev) {
      if (ev.button !== 0) { return; }
      ev.preventDefault();
      // Keep receiving the moves and the release even when the pointer leaves the picture.
      img.setPointerCapture(ev.pointerId);
      start = point(ev);
      mark.hidden = true;
    });
    img.addEventListener("pointermove", function (ev) {
      if (!start) { return; }
      draw(start, point(ev));
    });
    function finish(ev) {
      if (!start) { return; }
      var p = point(ev), r = p.r, from = start;
      start = null;
      if (img.hasPointerCapture(ev.pointerId)) { img.releasePointerCapture(ev.pointerId); }
      if (ev.type === "pointercancel" || Math.abs(p.x - from.x) < MIN_DRAG_PX || Math.abs(p.y - from.y) < MIN_DRAG_PX) {
        mark.hidden = true;
        return;
      }
      draw(from, p);
      var scale = parseFloat(figure.dataset.width) / r.width; // points per CSS pixel
      var pageHeight = parseFloat(figure.dataset.height);
      var left = Math.min(from.x, p.x), bottom = Math.max(from.y, p.y);
      form.elements.document_id.value = figure.dataset.document;
      form.elements.page.value = figure.dataset.page;
      form.elements.x.value = (left * scale).toFixed(1);
      form.elements.y.value = (pageHeight - bottom * scale).toFixed(1);
      form.elements.width.value = (Math.abs(p.x - from.x) * scale).toFixed(1);
      form.elements.height.value = (Math.abs(p.y - from.y) * scale).toFixed(1);
      form.elements.label.focus();
    }
    img.addEventListener("pointerup", finish);
    img.addEventListener("pointercancel", finish);
  });
})();
