// Small helpers for server-rendered pages: live fragments and Plotly charts.
(function () {
  "use strict";

  // <div data-poll="/url" data-interval="5000"> is refreshed with the fragment at /url.
  function poll(el) {
    var url = el.getAttribute("data-poll");
    var every = parseInt(el.getAttribute("data-interval") || "5000", 10);
    function tick() {
      fetch(url, { credentials: "same-origin", headers: { "X-Requested-With": "fetch" } })
        .then(function (r) { return r.ok ? r.text() : Promise.reject(r.status); })
        .then(function (html) { el.innerHTML = html; })
        .catch(function () { /* keep the last good view; try again next tick */ })
        .finally(function () { setTimeout(tick, every); });
    }
    tick();
  }

  // <script type="application/json" id="charts">[{id, figure}]</script> draws each figure.
  function drawCharts() {
    var node = document.getElementById("charts-data");
    if (!node || typeof Plotly === "undefined") { return; }
    JSON.parse(node.textContent).forEach(function (chart) {
      var target = document.getElementById(chart.id);
      if (target) {
        Plotly.newPlot(target, chart.figure.data, chart.figure.layout,
          { responsive: true, displaylogo: false });
      }
    });
  }

  document.addEventListener("DOMContentLoaded", function () {
    document.querySelectorAll("[data-poll]").forEach(poll);
    drawCharts();
  });
})();
