// amigo's pages: bar and line charts (uPlot) from the JSON the server put
// in the page; nothing else runs here (htmx does the partial updates).
(function () {
  "use strict";
  function draw(el) {
    var src = document.getElementById(el.getAttribute("data-src"));
    var d = src ? JSON.parse(src.textContent || "null") : null;
    if (!d || !d.x || d.x.length === 0 || d.y.every(function (v) { return v === null; })) {
      el.textContent = el.getAttribute("data-empty") || "";
      el.style.minHeight = "0";
      return;
    }
    var line = el.getAttribute("data-kind") === "line";
    var series = [{}, {
      label: el.getAttribute("data-label") || "",
      stroke: "#2b6cb0",
      fill: line ? undefined : "rgba(43,108,176,0.55)",
      width: line ? 2 : 1,
      points: { show: line },
      paths: line ? undefined : uPlot.paths.bars({ size: [0.8, 40] })
    }];
    var data = [d.x, d.y];
    if (line && typeof d.low === "number") {
      series.push({ label: "low", stroke: "#2f855a", dash: [4, 4], width: 1, points: { show: false } });
      series.push({ label: "high", stroke: "#c53030", dash: [4, 4], width: 1, points: { show: false } });
      data.push(d.x.map(function () { return d.low; }), d.x.map(function () { return d.high; }));
    }
    el.textContent = "";
    new uPlot({ width: Math.max(el.clientWidth, 280), height: 220, legend: { show: false }, scales: { x: { time: true }, y: line ? {} : { range: function (u, min, max) { return [0, max > 0 ? max * 1.1 : 1]; } } }, axes: [{}, { size: 56 }], series: series }, data, el);
  }
  function all() { document.querySelectorAll(".chart").forEach(draw); }
  if (document.readyState === "loading") { document.addEventListener("DOMContentLoaded", all); } else { all(); }
})();
// The customer's app is installable: its service worker keeps the shell.
if ("serviceWorker" in navigator && location.pathname.indexOf("/app/") === 0) {
  navigator.serviceWorker.register("/app/sw.js", { scope: "/app/" }).catch(function () {});
}
// A receipt's print button.
document.addEventListener("click", function (e) {
  if (e.target && e.target.hasAttribute && e.target.hasAttribute("data-print")) { window.print(); }
});
