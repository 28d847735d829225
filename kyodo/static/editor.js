// The text-field step of the contract editor (signing/templates/signing/editor/boxes.html).
// Everything here fills the fields of the plain forms, in millimetres from the
// page's top-left corner, which then post as they would without a script:
// * the selected field (#selected-box): arrow keys move it by 1 mm (Shift: resize),
//   Enter saves; dragging it moves it, dragging its corner resizes it, and letting go saves;
// * dragging on an empty part of the page draws a new field into #new-box-form.
(function () {
  "use strict";
  var frame = document.querySelector(".ed-frame");
  if (!frame) { return; }
  var pageW = parseFloat(frame.dataset.widthMm), pageH = parseFloat(frame.dataset.heightMm);
  var img = frame.querySelector("img");
  var status = document.getElementById("box-status");
  var MIN_W = 3.5, MIN_H = 2.8, MIN_DRAG_PX = 4;

  function round(v) { return Math.round(v * 10) / 10; }
  function mmPerPx() { return pageW / frame.getBoundingClientRect().width; }
  function clamp(v, lo, hi) { return Math.min(Math.max(v, lo), hi); }

  // ------------------------------------------------------------- the selected field
  var selected = document.getElementById("selected-box");
  var form = document.getElementById("box-form");
  if (selected && form) {
    var f = form.elements;
    var box = { left: parseFloat(f.left.value), top: parseFloat(f.top.value),
                width: parseFloat(f.width.value), height: parseFloat(f.height.value) };
    var show = function (announce) {
      box.width = clamp(box.width, MIN_W, pageW);
      box.height = clamp(box.height, MIN_H, pageH);
      box.left = clamp(box.left, 0, pageW - box.width);
      box.top = clamp(box.top, 0, pageH - box.height);
      ["left", "top", "width", "height"].forEach(function (k) { f[k].value = round(box[k]).toFixed(1); });
      selected.style.left = (box.left / pageW * 100) + "%";
      selected.style.top = (box.top / pageH * 100) + "%";
      selected.style.width = (box.width / pageW * 100) + "%";
      selected.style.height = (box.height / pageH * 100) + "%";
      if (announce && status) {
        status.textContent = f.left.labels[0].textContent + " " + f.left.value + ", " +
          f.top.labels[0].textContent + " " + f.top.value + ", " +
          f.width.labels[0].textContent + " " + f.width.value + ", " +
          f.height.labels[0].textContent + " " + f.height.value;
      }
    };
    ["left", "top", "width", "height"].forEach(function (k) {
      f[k].addEventListener("change", function () {
        var v = parseFloat(f[k].value);
        if (!isNaN(v)) { box[k] = v; show(false); }
      });
    });
    selected.focus({ preventScroll: false });
    selected.addEventListener("click", function (ev) { ev.preventDefault(); });
    selected.addEventListener("keydown", function (ev) {
      var step = 1;
      var moves = { ArrowLeft: [-step, 0], ArrowRight: [step, 0], ArrowUp: [0, -step], ArrowDown: [0, step] };
      if (moves[ev.key]) {
        ev.preventDefault();
        var d = moves[ev.key];
        if (ev.shiftKey) { box.width += d[0]; box.height += d[1]; } else { box.left += d[0]; box.top += d[1]; }
        show(true);
      } else if (ev.key === "Enter") {
        ev.preventDefault();
        form.requestSubmit();
      } else if (ev.key === "Delete") {
        ev.preventDefault();
        document.getElementById("box-remove").requestSubmit();
      }
    });
    var handle = selected.querySelector(".ed-handle");
    var drag = null;
    selected.addEventListener("pointerdown", function (ev) {
      if (ev.button !== 0) { return; }
      ev.preventDefault();
      selected.setPointerCapture(ev.pointerId);
      drag = { x: ev.clientX, y: ev.clientY, start: Object.assign({}, box), resize: ev.target === handle, moved: false };
    });
    selected.addEventListener("pointermove", function (ev) {
      if (!drag) { return; }
      var k = mmPerPx(), dx = (ev.clientX - drag.x) * k, dy = (ev.clientY - drag.y) * k;
      if (Math.abs(ev.clientX - drag.x) + Math.abs(ev.clientY - drag.y) >= MIN_DRAG_PX) { drag.moved = true; }
      if (drag.resize) { box.width = drag.start.width + dx; box.height = drag.start.height + dy; }
      else { box.left = drag.start.left + dx; box.top = drag.start.top + dy; }
      show(false);
    });
    var drop = function (ev) {
      if (!drag) { return; }
      var moved = drag.moved && ev.type !== "pointercancel";
      drag = null;
      if (moved) { form.requestSubmit(); } else { selected.focus(); }
    };
    selected.addEventListener("pointerup", drop);
    selected.addEventListener("pointercancel", drop);
  }

  // ------------------------------------------------------------- drawing a new field
  var add = document.getElementById("new-box-form");
  if (!add || !img) { return; }
  var mark = document.createElement("div");
  mark.className = "ed-mark";
  mark.hidden = true;
  mark.setAttribute("aria-hidden", "true");
  frame.appendChild(mark);
  var start = null;
  function at(ev) {
    var r = img.getBoundingClientRect();
    return { x: clamp(ev.clientX - r.left, 0, r.width), y: clamp(ev.clientY - r.top, 0, r.height) };
  }
  function draw(a, b) {
    mark.hidden = false;
    mark.style.left = Math.min(a.x, b.x) + "px";
    mark.style.top = Math.min(a.y, b.y) + "px";
    mark.style.width = Math.abs(b.x - a.x) + "px";
    mark.style.height = Math.abs(b.y - a.y) + "px";
  }
  img.addEventListener("dragstart", function (ev) { ev.preventDefault(); });
  img.addEventListener("pointerdown", function (ev) {
    if (ev.button !== 0) { return; }
    ev.preventDefault();
    img.setPointerCapture(ev.pointerId);
    start = at(ev);
  });
  img.addEventListener("pointermove", function (ev) { if (start) { draw(start, at(ev)); } });
  function finish(ev) {
    if (!start) { return; }
    var p = at(ev), from = start;
    start = null;
    if (ev.type === "pointercancel" || Math.abs(p.x - from.x) < MIN_DRAG_PX || Math.abs(p.y - from.y) < MIN_DRAG_PX) {
      mark.hidden = true;
      return;
    }
    draw(from, p);
    var k = mmPerPx(), e = add.elements;
    e.left.value = round(Math.min(from.x, p.x) * k).toFixed(1);
    e.top.value = round(Math.min(from.y, p.y) * k).toFixed(1);
    e.width.value = round(Math.abs(p.x - from.x) * k).toFixed(1);
    e.height.value = round(Math.abs(p.y - from.y) * k).toFixed(1);
    e.label.focus();
  }
  img.addEventListener("pointerup", finish);
  img.addEventListener("pointercancel", finish);
})();
