// Small helpers for server-rendered pages: live fragments and Plotly charts.
(function () {
  "use strict";

  // <div data-poll="/url" data-interval="5000"> is refreshed with the fragment at /url.
  // A fragment may end the polling: an element with data-poll-stop stops it, and one with
  // data-reload-when-finished stops it and reloads the page once (to draw what finished).
  var reloading = false;
  function poll(el) {
    var url = el.getAttribute("data-poll");
    var every = parseInt(el.getAttribute("data-interval") || "5000", 10);
    function tick() {
      var stop = false;
      fetch(url, { credentials: "same-origin", headers: { "X-Requested-With": "fetch" } })
        .then(function (r) { return r.ok ? r.text() : Promise.reject(r.status); })
        .then(function (html) {
          el.innerHTML = html;
          if (el.querySelector("[data-reload-when-finished]")) {
            stop = true;
            if (!reloading) { reloading = true; window.location.reload(); }
          } else if (el.querySelector("[data-poll-stop]")) {
            stop = true;
          }
        })
        .catch(function () { /* keep the last good view; try again next tick */ })
        .finally(function () { if (!stop) { setTimeout(tick, every); } });
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

  // <select data-fills="#input" data-fill-values="json-script-id">: choosing an option puts
  // that option's default (from the JSON object) in the input, unless the user typed their own.
  function fillDefaults(select) {
    var target = document.querySelector(select.getAttribute("data-fills"));
    var node = document.getElementById(select.getAttribute("data-fill-values"));
    if (!target || !node) { return; }
    var defaults = JSON.parse(node.textContent);
    var previous = select.value;
    select.addEventListener("change", function () {
      if (!target.value || target.value === defaults[previous]) {
        target.value = defaults[select.value] || "";
      }
      previous = select.value;
    });
  }

  document.addEventListener("DOMContentLoaded", function () {
    document.querySelectorAll("[data-poll]").forEach(poll);
    document.querySelectorAll("select[data-fills]").forEach(fillDefaults);
    drawCharts();
  });
})();
