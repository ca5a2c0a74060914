"""The report's inline stylesheet and script (no external resource: the file opens offline).

The script sorts a table by the column whose header is clicked (numbers by their exact ``data-value``,
blanks last), zooms every crop of a view together (one range input; the crops' scroll positions follow
each other), and drives each before/after slider (two overlaid crops, the upper one clipped at the
slider's position; two selects pick which two crops). It uses only standard DOM calls."""

from __future__ import annotations

__all__ = ["PLACEHOLDER", "SCRIPT", "STYLE"]

#: A 1x1 transparent GIF: the slider's images before the script gives them their crops.
PLACEHOLDER = "data:image/gif;base64,R0lGODlhAQABAIAAAAAAAP///yH5BAEAAAAALAAAAAABAAEAAAIBRAA7"

STYLE = """
body { font: 14px/1.4 system-ui, -apple-system, "Segoe UI", sans-serif; margin: 1.5em; color: #222; }
h1 { font-size: 1.5em; } h2 { margin-top: 2em; border-bottom: 1px solid #ccc; } h3 { margin-top: 1.4em; }
table { border-collapse: collapse; margin: 0.5em 0 1em; }
th, td { border: 1px solid #ddd; padding: 2px 6px; }
th { background: #f3f3f3; }
table.sortable th { cursor: pointer; user-select: none; }
table.sortable th[aria-sort="ascending"]::after { content: " \\25B2"; }
table.sortable th[aria-sort="descending"]::after { content: " \\25BC"; }
td.num { text-align: right; font-variant-numeric: tabular-nums; }
td.worst { background: #fde8e8; }
td.best { font-weight: bold; }
td.gain-pos { color: #0a6b2b; } td.gain-neg { color: #a31515; }
table.kv td:first-child { color: #555; white-space: nowrap; }
table.kv td { vertical-align: top; }
code, pre { font-family: ui-monospace, Menlo, Consolas, monospace; font-size: 12px; }
pre { margin: 0; white-space: pre-wrap; word-break: break-all; }
img.chart { max-width: 100%; height: auto; display: block; margin: 0.5em 0; }
.view { border: 1px solid #ccc; border-radius: 4px; padding: 0.6em; margin: 1em 0; }
.view h4 { margin: 0 0 0.4em; }
.panels { display: flex; flex-wrap: wrap; gap: 8px; }
figure.panel { margin: 0; }
figure.panel figcaption { font-size: 12px; text-align: center; }
.port { overflow: auto; border: 1px solid #999; background: #eee; }
img.crop, .stage img { image-rendering: pixelated; image-rendering: crisp-edges; display: block; }
.stage { position: relative; }
.stage img { position: absolute; top: 0; left: 0; }
.compare { margin-top: 0.6em; }
.compare .port { margin: 0.3em 0; }
.controls { margin: 0.3em 0; }
.note { color: #555; }
"""

SCRIPT = """
(function () {
  "use strict";
  function each(list, fn) { Array.prototype.forEach.call(list, fn); }

  function sortKey(cell) {
    if (!cell) { return { num: false, v: "" }; }
    var v = cell.getAttribute("data-value");
    if (v === null) { v = cell.textContent.trim(); }
    var n = Number(v);
    if (v !== "" && !isNaN(n)) { return { num: true, v: n }; }
    return { num: false, v: v.toLowerCase() };
  }

  function sortTable(table, column, header) {
    var body = table.tBodies[0];
    if (!body) { return; }
    var rows = Array.prototype.slice.call(body.rows);
    var ascending = header.getAttribute("aria-sort") !== "ascending";
    rows.sort(function (a, b) {
      var x = sortKey(a.cells[column]), y = sortKey(b.cells[column]);
      if (x.num !== y.num) { return x.num ? -1 : 1; }
      var r = x.num ? x.v - y.v : (x.v < y.v ? -1 : (x.v > y.v ? 1 : 0));
      return ascending ? r : -r;
    });
    each(header.parentNode.cells, function (c) { c.removeAttribute("aria-sort"); });
    header.setAttribute("aria-sort", ascending ? "ascending" : "descending");
    rows.forEach(function (row) { body.appendChild(row); });
  }

  each(document.querySelectorAll("table.sortable"), function (table) {
    if (!table.tHead || !table.tHead.rows.length) { return; }
    each(table.tHead.rows[0].cells, function (header, column) {
      header.title = "sort by this column";
      header.addEventListener("click", function () { sortTable(table, column, header); });
    });
  });

  function setupView(view) {
    var crops = view.querySelectorAll("img.crop");
    var ports = view.querySelectorAll(".port");
    var stage = view.querySelector(".stage");
    var under = view.querySelector("img.under");
    var over = view.querySelector("img.over");
    var zoom = view.querySelector("input.zoom");
    var position = view.querySelector("input.cmp-pos");
    var pickA = view.querySelector("select.cmp-a");
    var pickB = view.querySelector("select.cmp-b");
    var w = Number(view.getAttribute("data-w")), h = Number(view.getAttribute("data-h"));
    var syncing = false;

    function size(img, z) { img.style.width = (w * z) + "px"; img.style.height = (h * z) + "px"; }

    function applyZoom() {
      var z = Number(zoom.value);
      each(crops, function (img) { size(img, z); });
      if (stage) {
        stage.style.width = (w * z) + "px"; stage.style.height = (h * z) + "px";
        size(under, z); size(over, z);
      }
      var label = view.querySelector(".zoom-value");
      if (label) { label.textContent = z + "x"; }
    }

    function applySlider() {
      if (!over) { return; }
      var p = Number(position.value);
      over.style.clipPath = "inset(0 " + (100 - p) + "% 0 0)";
    }

    function applyPicks() {
      if (!under || !over) { return; }
      var a = crops[Number(pickA.value)], b = crops[Number(pickB.value)];
      if (a) { over.src = a.src; over.alt = a.alt; }
      if (b) { under.src = b.src; under.alt = b.alt; }
    }

    each(ports, function (port) {
      port.addEventListener("scroll", function () {
        if (syncing) { return; }
        syncing = true;
        each(ports, function (other) {
          if (other !== port) { other.scrollLeft = port.scrollLeft; other.scrollTop = port.scrollTop; }
        });
        syncing = false;
      });
    });
    if (zoom) { zoom.addEventListener("input", applyZoom); applyZoom(); }
    if (position) { position.addEventListener("input", applySlider); applySlider(); }
    if (pickA && pickB) {
      pickA.addEventListener("change", applyPicks);
      pickB.addEventListener("change", applyPicks);
      applyPicks();
    }
  }

  each(document.querySelectorAll(".view"), setupView);
})();
"""
