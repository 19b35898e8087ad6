// The drift check page: draw the picked feature's reference-vs-current chart, sort the table.
(function () {
  "use strict";
  document.addEventListener("DOMContentLoaded", function () {
    var node = document.getElementById("feature-overlays");
    var pick = document.getElementById("feature-pick");
    var target = document.getElementById("chart-feature");
    if (node && pick && target && typeof Plotly !== "undefined") {
      var overlays = JSON.parse(node.textContent);
      var draw = function () {
        var figure = overlays[pick.value];
        if (figure) {
          Plotly.react(target, figure.data, figure.layout, { responsive: true, displaylogo: false });
        }
      };
      pick.addEventListener("change", draw);
      document.querySelectorAll("tr.feature-row").forEach(function (row) {
        row.addEventListener("click", function () {
          pick.value = row.getAttribute("data-feature");
          draw();
        });
      });
      draw();
    }
    // Sortable tables: click a heading; numeric cells sort by their data-value.
    document.querySelectorAll("table.sortable").forEach(function (table) {
      table.querySelectorAll("thead th").forEach(function (th, index) {
        th.style.cursor = "pointer";
        var ascending = false;
        th.addEventListener("click", function () {
          ascending = !ascending;
          var body = table.tBodies[0];
          var rows = Array.prototype.slice.call(body.rows);
          rows.sort(function (a, b) {
            var x = a.cells[index], y = b.cells[index];
            var xv = x.getAttribute("data-value"), yv = y.getAttribute("data-value");
            var cmp = (xv !== null && yv !== null)
              ? parseFloat(xv) - parseFloat(yv)
              : x.textContent.trim().localeCompare(y.textContent.trim());
            return ascending ? cmp : -cmp;
          });
          rows.forEach(function (row) { body.appendChild(row); });
        });
      });
    });
  });
})();
