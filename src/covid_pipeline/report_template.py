"""The report's page shell: inline CSS and a small script (hover read-outs, sortable tables).

Kept apart from report.py so the look can change without touching the data code. The page must
stay self-contained: no external fonts, scripts, images or styles (a test checks for none).
"""

from __future__ import annotations

CSS = """
:root { --ink:#1f2933; --muted:#616e7c; --line:#e4e7eb; --bg:#f5f7fa; --card:#fff; --ok:#2f8f46; --bad:#c8372d;
        --warn:#d97706; }
* { box-sizing: border-box; }
body { margin:0; background:var(--bg); color:var(--ink);
       font:14px/1.45 system-ui,-apple-system,'Segoe UI',Roboto,sans-serif; }
header { background:linear-gradient(120deg,#1f3b5a,#2f5d8a); color:#fff; padding:26px 40px 22px; }
header h1 { margin:0 0 4px; font-size:24px; font-weight:650; letter-spacing:.2px; }
header .meta { opacity:.85; font-size:13px; }
main { max-width:1320px; margin:0 auto; padding:22px 32px 40px; }
.kpis { display:grid; grid-template-columns:repeat(auto-fit,minmax(170px,1fr)); gap:14px; margin:-40px 0 22px; }
.kpi { background:var(--card); border-radius:10px; padding:14px 16px; box-shadow:0 1px 3px rgba(15,23,42,.12); }
.kpi .label { color:var(--muted); font-size:12px; text-transform:uppercase; letter-spacing:.6px; }
.kpi .value { font-size:24px; font-weight:650; margin-top:2px; font-variant-numeric:tabular-nums; }
.kpi .sub { color:var(--muted); font-size:12px; }
section { background:var(--card); border-radius:10px; padding:18px 20px 20px; margin-bottom:18px;
          box-shadow:0 1px 3px rgba(15,23,42,.08); }
section h2 { margin:0 0 4px; font-size:17px; }
section p.note { margin:0 0 12px; color:var(--muted); font-size:13px; }
.grid2 { display:grid; grid-template-columns:minmax(0,1fr) minmax(0,1fr); gap:18px; align-items:start; }
.grid-40-60 { display:grid; grid-template-columns:minmax(0,2fr) minmax(0,3fr); gap:18px;
              align-items:start; }
@media (max-width: 1000px) { .grid2, .grid-40-60 { grid-template-columns:1fr; } }
th.run-col { text-align:center; line-height:1.25; }
.nowrap { white-space:nowrap; }
td.wrap { word-break:break-word; } td.run-col { text-align:center; }
.chart-box { position:relative; }
svg.chart { width:100%; height:auto; display:block; font-family:system-ui,-apple-system,'Segoe UI',Roboto,sans-serif; }
svg .chart-title { font-size:13px; font-weight:600; fill:var(--ink); }
svg .tick { font-size:11px; fill:var(--muted); }
svg .axis-label { font-size:11px; fill:var(--muted); }
svg .legend { font-size:12px; fill:var(--ink); }
svg .grid { stroke:var(--line); stroke-width:1; }
svg .axis { stroke:#9aa5b1; stroke-width:1; }
svg .series { fill:none; stroke-width:2; stroke-linejoin:round; stroke-linecap:round; }
svg .hover-line { stroke:#52606d; stroke-dasharray:3 3; }
svg .bar-label, svg .bar-value { font-size:12px; fill:var(--ink); }
svg .bar-value { fill:var(--muted); }
svg .threshold { stroke:var(--bad); stroke-dasharray:5 4; stroke-width:1.5; }
svg .threshold-label { font-size:11px; fill:var(--bad); }
svg .empty { font-size:13px; fill:var(--muted); }
.tooltip { position:absolute; pointer-events:none; background:rgba(31,41,51,.94); color:#fff; font-size:12px;
           padding:7px 9px; border-radius:6px; white-space:nowrap; display:none; z-index:5; }
.tooltip b { font-weight:600; }
.tooltip .sw { display:inline-block; width:9px; height:9px; border-radius:2px; margin-right:5px; }
table { border-collapse:collapse; width:100%; font-variant-numeric:tabular-nums; }
th, td { padding:6px 9px; border-bottom:1px solid var(--line); text-align:left; vertical-align:middle; }
th { font-size:12px; color:var(--muted); font-weight:600; text-transform:uppercase; letter-spacing:.4px;
     background:#fafbfc; position:sticky; top:0; }
th.sortable { cursor:pointer; user-select:none; }
th.sortable:after { content:' \\2195'; opacity:.35; }
td.num, th.num { text-align:right; }
tr:hover td { background:#f8fafc; }
.scroll { max-height:460px; overflow:auto; border:1px solid var(--line); border-radius:8px; }
.chip { display:inline-block; padding:1px 8px; border-radius:10px; font-size:12px; font-weight:600; }
.chip.ok { background:#e3f4e8; color:var(--ok); }
.chip.bad { background:#fde8e6; color:var(--bad); }
.chip.warn { background:#fef3c7; color:var(--warn); }
.chip.na { background:#eef1f5; color:var(--muted); }
.mono { font-family:ui-monospace,SFMono-Regular,Menlo,monospace; font-size:12px; }
.warnings { background:#fff8e6; border:1px solid #f6d58e; border-radius:8px; padding:10px 14px; margin-bottom:18px;
            color:#7a5200; }
footer { color:var(--muted); font-size:12px; text-align:center; padding:8px 0 24px; }
"""

SCRIPT = r"""
(function () {
  "use strict";
  function fmt(v) {
    if (v === null || v === undefined) return "–";
    if (Math.abs(v) >= 100) return Math.round(v).toLocaleString("en-US");
    return v.toLocaleString("en-US", {maximumFractionDigits: 2});
  }
  function nearest(values, iso) {
    var lo = 0, hi = values.length - 1;
    if (hi < 0) return null;
    while (lo < hi) { var mid = (lo + hi) >> 1; if (values[mid][0] < iso) lo = mid + 1; else hi = mid; }
    return values[lo][0] === iso ? values[lo][1] : null;
  }
  var interactive = 0;
  document.querySelectorAll("svg.line-chart").forEach(function (svg) {
    var target = svg.querySelector(".hover-target");
    if (!target) return;
    var box = svg.parentNode, tip = document.createElement("div");
    tip.className = "tooltip"; box.appendChild(tip);
    var first = new Date(svg.dataset.first + "T00:00:00Z"), span = +svg.dataset.span;
    var left = +target.dataset.left, width = +target.dataset.width;
    var hover = svg.querySelector(".hover"), line = svg.querySelector(".hover-line");
    var paths = Array.prototype.map.call(svg.querySelectorAll("path.series"), function (p) {
      return {name: p.dataset.name, color: p.getAttribute("stroke"), values: JSON.parse(p.dataset.values)};
    });
    target.addEventListener("mousemove", function (ev) {
      var pt = svg.createSVGPoint(); pt.x = ev.clientX; pt.y = ev.clientY;
      var local = pt.matrixTransform(svg.getScreenCTM().inverse());
      var dayIndex = Math.round((local.x - left) / width * span);
      dayIndex = Math.max(0, Math.min(span, dayIndex));
      var day = new Date(first.getTime() + dayIndex * 86400000).toISOString().slice(0, 10);
      var x = left + dayIndex / span * width;
      line.setAttribute("x1", x); line.setAttribute("x2", x); hover.setAttribute("visibility", "visible");
      var rows = paths.map(function (p) {
        var name = p.name.replace(/[&<>]/g, function (c) { return {"&": "&amp;", "<": "&lt;", ">": "&gt;"}[c]; });
        return "<div><span class='sw' style='background:" + p.color + "'></span>" + name + ": <b>" +
          fmt(nearest(p.values, day)) + "</b></div>";
      });
      tip.innerHTML = "<div><b>" + day + "</b></div>" + rows.join("");
      tip.style.display = "block";
      var rect = box.getBoundingClientRect();
      var px = ev.clientX - rect.left + 14;
      if (px + tip.offsetWidth > rect.width) px = ev.clientX - rect.left - tip.offsetWidth - 14;
      tip.style.left = px + "px"; tip.style.top = (ev.clientY - rect.top + 10) + "px";
    });
    target.addEventListener("mouseleave", function () {
      tip.style.display = "none"; hover.setAttribute("visibility", "hidden");
    });
    svg.dataset.interactive = "ready";
    interactive += 1;
  });
  document.querySelectorAll("table.sortable").forEach(function (table) {
    table.querySelectorAll("th.sortable").forEach(function (th, index) {
      th.addEventListener("click", function () {
        var body = table.tBodies[0], rows = Array.prototype.slice.call(body.rows);
        var desc = th.dataset.dir !== "desc"; th.dataset.dir = desc ? "desc" : "asc";
        rows.sort(function (a, b) {
          var x = a.cells[th.cellIndex].dataset.sort || a.cells[th.cellIndex].textContent;
          var y = b.cells[th.cellIndex].dataset.sort || b.cells[th.cellIndex].textContent;
          var nx = parseFloat(x), ny = parseFloat(y);
          var cmp = (!isNaN(nx) && !isNaN(ny)) ? nx - ny : x.localeCompare(y);
          return desc ? -cmp : cmp;
        });
        rows.forEach(function (r) { body.appendChild(r); });
      });
    });
  });
  var drawn = Array.prototype.filter.call(document.querySelectorAll("svg.chart path.series, svg.chart rect.bar"),
    function (el) { return el.tagName === "rect" || (el.getAttribute("d") || "").length > 0; }).length;
  document.body.dataset.chartsDrawn = String(drawn);
  document.body.dataset.interactiveCharts = String(interactive);
  document.body.dataset.reportReady = "1";
})();
"""

PAGE = """<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{title}</title>
<style>{css}</style>
</head>
<body data-report-ready="0">
<header><h1>{title}</h1><div class="meta">{meta}</div></header>
<main>
{body}
</main>
<footer>{footer}</footer>
<script>{script}</script>
</body>
</html>
"""
