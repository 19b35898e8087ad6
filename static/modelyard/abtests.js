// The A/B start form's sample-size calculator: asks the API as the form's fields change.
(function () {
  "use strict";
  var box = document.getElementById("calculator");
  if (!box) { return; }
  function value(id) { var el = document.getElementById(id); return el ? el.value : ""; }
  function show(id, text) { document.getElementById(id).textContent = text; }
  function fmt(n) { return Number(n).toLocaleString(); }
  var timer = null;
  function update() {
    var params = new URLSearchParams({
      baseline: value("calc-baseline"),
      power: value("calc-power"),
      mde: value("id_mde"),
      alpha: value("id_alpha"),
      share: value("id_mode") === "shadow" ? "0.5" : value("id_challenger_share"),
    });
    fetch(box.dataset.url + "?" + params.toString(), { headers: { Accept: "application/json" } })
      .then(function (response) { return response.json().then(function (body) { return [response.ok, body]; }); })
      .then(function (result) {
        var ok = result[0], body = result[1];
        var error = document.getElementById("calc-error");
        if (!ok) {
          error.hidden = false;
          error.textContent = body.detail || JSON.stringify(body);
          ["calc-fixed", "calc-sequential", "calc-total"].forEach(function (id) { show(id, "—"); });
          return;
        }
        error.hidden = true;
        show("calc-fixed", fmt(body.per_arm.champion) + " champion · " + fmt(body.per_arm.challenger) + " challenger");
        show("calc-sequential", fmt(body.sequential_per_arm.champion) + " champion · " + fmt(body.sequential_per_arm.challenger) + " challenger");
        show("calc-total", fmt(body.total));
      });
  }
  function soon() { clearTimeout(timer); timer = setTimeout(update, 250); }
  ["calc-baseline", "calc-power", "id_mde", "id_alpha", "id_challenger_share", "id_mode"].forEach(function (id) {
    var el = document.getElementById(id);
    if (el) { el.addEventListener("input", soon); el.addEventListener("change", soon); }
  });
  update();
})();
