// shuangtan dashboard: charts from JSON in the page, live figures, nothing from another host.
"use strict";
(function () {
  var plotlyLoading = null;

  function withPlotly(callback) {
    if (window.Plotly) { callback(); return; }
    if (!plotlyLoading) {
      plotlyLoading = new Promise(function (resolve, reject) {
        var script = document.createElement("script");
        script.src = "/static/plotly.min.js";
        script.onload = resolve;
        script.onerror = reject;
        document.head.appendChild(script);
      });
    }
    plotlyLoading.then(callback);
  }

  function drawChart(element) {
    var source = document.getElementById(element.dataset.chart);
    if (!source) { return; }
    var figure = JSON.parse(source.textContent);
    var config = Object.assign({ responsive: true, displaylogo: false }, figure.config || {});
    window.Plotly.react(element, figure.data, figure.layout || {}, config);
    element.dataset.drawn = "1";
  }

  function drawCharts(root) {
    var charts = (root || document).querySelectorAll("[data-chart]");
    if (!charts.length) { return; }
    withPlotly(function () { charts.forEach(drawChart); });
  }

  // Live figures: an element with data-live="<url>" is refreshed every data-every seconds;
  // children with data-key="<name>" take the JSON member of that name.
  function poll(element) {
    var every = Math.max(5, Number(element.dataset.every || 15)) * 1000;
    function tick() {
      fetch(element.dataset.live, { credentials: "same-origin", headers: { Accept: "application/json" } })
        .then(function (r) { return r.ok ? r.json() : null; })
        .then(function (data) {
          if (!data) { return; }
          element.querySelectorAll("[data-key]").forEach(function (slot) {
            if (Object.prototype.hasOwnProperty.call(data, slot.dataset.key)) {
              slot.textContent = data[slot.dataset.key];
            }
          });
          element.dataset.updated = String(Date.now());
        })
        .catch(function () { /* the next tick tries again */ })
        .finally(function () { window.setTimeout(tick, every); });
    }
    window.setTimeout(tick, every);
  }

  window.shuangtan = { drawCharts: drawCharts, withPlotly: withPlotly };
  document.addEventListener("DOMContentLoaded", function () {
    drawCharts(document);
    document.querySelectorAll("[data-live]").forEach(poll);
  });
})();
