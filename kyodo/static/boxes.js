// Place a text box by dragging on a page preview: fills the numeric fields of
// #box-form in PDF points (origin bottom-left). The fields remain the keyboard way.
(function () {
  "use strict";
  var form = document.getElementById("box-form");
  if (!form) { return; }
  document.querySelectorAll(".page-preview").forEach(function (figure) {
    var img = figure.querySelector("img");
    var start = null;
    var mark = document.createElement("div");
    mark.className = "box-mark";
    figure.style.position = "relative";
    figure.appendChild(mark);
    function point(ev) {
      var r = img.getBoundingClientRect();
      return { x: Math.min(Math.max(ev.clientX - r.left, 0), r.width), y: Math.min(Math.max(ev.clientY - r.top, 0), r.height), r: r };
    }
    img.addEventListener("pointerdown", function (ev) { ev.preventDefault(); start = point(ev); });
    img.addEventListener("pointermove", function (ev) {
      if (!start) { return; }
      var p = point(ev);
      mark.style.cssText = "position:absolute;border:2px solid #c00;left:" + Math.min(start.x, p.x) + "px;top:" +
        Math.min(start.y, p.y) + "px;width:" + Math.abs(p.x - start.x) + "px;height:" + Math.abs(p.y - start.y) + "px";
    });
    img.addEventListener("pointerup", function (ev) {
      if (!start) { return; }
      var p = point(ev), r = p.r;
      var scale = parseFloat(figure.dataset.width) / r.width;
      var pageHeight = parseFloat(figure.dataset.height);
      var left = Math.min(start.x, p.x), bottom = Math.max(start.y, p.y);
      form.elements.document_id.value = figure.dataset.document;
      form.elements.page.value = figure.dataset.page;
      form.elements.x.value = (left * scale).toFixed(1);
      form.elements.y.value = (pageHeight - bottom * scale).toFixed(1);
      form.elements.width.value = (Math.abs(p.x - start.x) * scale).toFixed(1);
      form.elements.height.value = (Math.abs(p.y - start.y) * scale).toFixed(1);
      start = null;
      form.elements.label.focus();
    });
  });
})();
