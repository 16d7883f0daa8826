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
