// locality dashboard: draws the Vega-Lite charts and makes tables sortable.
// Progressive enhancement only: every figure is also in the page's HTML tables.
// Chart specs are JSON script tags (never executed); no inline scripts, so the
// Content-Security-Policy can allow scripts from this server only.
(function () {
  "use strict";

  function drawCharts() {
    var specs = document.querySelectorAll("script.chart-spec");
    if (!specs.length || typeof window.vegaEmbed !== "function") {
      return;
    }
    specs.forEach(function (node) {
      var target = document.getElementById(node.getAttribute("data-target"));
      if (!target) {
        return;
      }
      var spec;
      try {
        spec = JSON.parse(node.textContent);
      } catch (err) {
        target.textContent = "The chart's data could not be read.";
        return;
      }
      if (!spec.data || !spec.data.values || !spec.data.values.length) {
        target.textContent = "No data to chart.";
        target.classList.add("chart-empty");
        return;
      }
      window
        .vegaEmbed(target, spec, {
          mode: "vega-lite",
          renderer: "svg",
          // Vega's expression interpreter: no eval, as the CSP requires.
          ast: true,
          actions: { export: true, source: false, compiled: false, editor: false },
          i18n: { SVG_ACTION: "Save as SVG", PNG_ACTION: "Save as PNG" },
        })
        .then(function () {
          target.classList.add("chart-drawn");
        })
        .catch(function (err) {
          target.textContent = "The chart could not be drawn (" + err.message + ").";
        });
    });
  }

  function cellValue(cell) {
    var data = cell.querySelector("data");
    var raw = cell.getAttribute("data-sort") || (data ? data.getAttribute("value") : null);
    if (raw !== null && raw !== "" && !isNaN(Number(raw))) {
      return { num: Number(raw) };
    }
    var text = cell.textContent.trim();
    return { text: text.toLowerCase(), empty: text === "" || text === "–" };
  }

  function compare(a, b) {
    if (a.empty || b.empty) {
      return a.empty === b.empty ? 0 : a.empty ? 1 : -1;
    }
    if ("num" in a && "num" in b) {
      return a.num - b.num;
    }
    var x = "num" in a ? String(a.num) : a.text;
    var y = "num" in b ? String(b.num) : b.text;
    return x < y ? -1 : x > y ? 1 : 0;
  }

  function makeSortable(table) {
    var headers = table.querySelectorAll("thead th");
    var body = table.tBodies[0];
    if (!body) {
      return;
    }
    headers.forEach(function (th, index) {
      var button = document.createElement("button");
      button.type = "button";
      button.className = "sort";
      while (th.firstChild) {
        button.appendChild(th.firstChild);
      }
      th.appendChild(button);
      th.setAttribute("aria-sort", "none");
      button.addEventListener("click", function () {
        var ascending = th.getAttribute("aria-sort") !== "ascending";
        headers.forEach(function (other) {
          other.setAttribute("aria-sort", "none");
        });
        th.setAttribute("aria-sort", ascending ? "ascending" : "descending");
        var rows = Array.prototype.slice.call(body.rows);
        rows.sort(function (r1, r2) {
          var c = compare(cellValue(r1.cells[index]), cellValue(r2.cells[index]));
          return ascending ? c : -c;
        });
        rows.forEach(function (row) {
          body.appendChild(row);
        });
      });
    });
  }

  function start() {
    document.querySelectorAll("table.sortable").forEach(makeSortable);
    drawCharts();
  }

  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", start);
  } else {
    start();
  }
})();
