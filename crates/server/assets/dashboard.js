// Tenure dashboard: draws the charts whose specs the server embeds as JSON
// (<script type="application/json" data-chart-for=ID>), and sorts tables by
// a click on a column header. No network, no build step: plain ES2017 over
// the vendored uPlot.
(function () {
  "use strict";

  var monthly = /^\d{4}-\d{2}$/;
  var daily = /^\d{4}-\d{2}-\d{2}$/;

  // x values: dates become Unix seconds (UTC noon, so a day never slips);
  // anything else (feature names, step labels, n) is an index with labels.
  function xAxis(xs) {
    if (xs.length && xs.every(function (x) { return monthly.test(x) || daily.test(x); })) {
      return {
        time: true,
        values: xs.map(function (x) {
          var d = monthly.test(x) ? x + "-01" : x;
          return Date.parse(d + "T12:00:00Z") / 1000;
        }),
      };
    }
    return { time: false, values: xs.map(function (_, i) { return i; }), labels: xs };
  }

  function compact(v) {
    var a = Math.abs(v);
    if (a >= 1e9) return (v / 1e9).toFixed(1) + "B";
    if (a >= 1e6) return (v / 1e6).toFixed(1) + "M";
    if (a >= 1e4) return (v / 1e3).toFixed(0) + "k";
    if (a >= 1e3) return (v / 1e3).toFixed(1) + "k";
    if (a > 0 && a < 1) return v.toFixed(2);
    return String(Math.round(v * 100) / 100);
  }

  function fmt(unit) {
    return function (v) {
      if (v == null) return "–";
      if (unit === "%") return v.toFixed(1) + "%";
      if (unit === "ratio") return v.toFixed(3);
      return compact(v);
    };
  }


  function draw(el, spec) {
    var x = xAxis(spec.x);
    var data = [x.values];
    // The legend names the series and, under the cursor, its values: blank
    // until then rather than placeholder dashes.
    var isMonthly = spec.x.length > 0 && monthly.test(spec.x[0]);
    var series = [{
      label: x.time ? (isMonthly ? "month" : "day") : "",
      value: function (u, v) {
        if (v == null) return "";
        return x.time ? new Date(v * 1000).toISOString().slice(0, isMonthly ? 7 : 10) : x.labels[v];
      },
    }];
    var bands = [];
    var barCount = spec.series.filter(function (s) { return s.kind === "bar"; }).length;
    var f = fmt(spec.unit);

    // Stacked bars: positive values stack up from 0, negative ones down;
    // each bar is drawn from the running total, the legend shows its own value.
    var posAcc = spec.x.map(function () { return 0; });
    var negAcc = spec.x.map(function () { return 0; });
    var drawn = [];
    spec.series.forEach(function (s, i) {
      var vals = s.values;
      if (spec.stacked && s.kind === "bar") {
        vals = s.values.map(function (v, j) {
          if (v == null) return null;
          if (v >= 0) { posAcc[j] += v; return posAcc[j]; }
          negAcc[j] += v; return negAcc[j];
        });
      }
      drawn.push({ spec: s, vals: vals, raw: s.values, index: i });
    });
    // Draw the largest stacked bars first so smaller ones stay visible on top.
    var order = drawn.slice();
    if (spec.stacked) {
      order.sort(function (a, b) {
        var ka = a.spec.kind === "bar" ? 0 : 1, kb = b.spec.kind === "bar" ? 0 : 1;
        if (ka !== kb) return ka - kb;
        return b.index - a.index;
      });
    }
    var barIndex = 0;
    order.forEach(function (d) {
      var s = d.spec;
      var conf = {
        label: s.label,
        stroke: s.color,
        width: s.kind === "band" ? 1 : 2,
        value: (function (raw) { return function (u, v, si, idx) { return idx == null ? "" : f(raw[idx]); }; })(d.raw),
        spanGaps: false,
        points: { show: spec.x.length < 40 },
      };
      if (s.kind === "band") conf.dash = [4, 4];
      if (s.kind === "bar") {
        var groups = spec.stacked ? 1 : barCount;
        var gi = spec.stacked ? 0 : barIndex;
        conf.fill = s.color;
        conf.width = 0;
        conf.points = { show: false };
        conf.paths = uPlot.paths.bars({ size: [0.7 / groups, 60], align: 0, gap: 1, disp: { x0: { unit: 2, values: function (u, sIdx, i0, i1) { var out = []; for (var k = i0; k <= i1; k++) out.push((gi - (groups - 1) / 2) * (0.7 / groups)); return out; } } } });
        barIndex++;
      }
      series.push(conf);
      data.push(d.vals);
    });
    // Confidence bands: a "band" series pair (high, low) is shaded between them.
    var bandIdx = [];
    series.forEach(function (s, i) { if (i > 0 && order[i - 1].spec.kind === "band") bandIdx.push(i); });
    for (var b = 0; b + 1 < bandIdx.length; b += 2) {
      bands.push({ series: [bandIdx[b], bandIdx[b + 1]], fill: "rgba(59,111,216,0.12)" });
    }

    // Bars are centred on their date: half a step of room on either side so
    // the first and last bars are not cut by the plot's edges.
    var timeRange;
    if (x.time && barCount > 0) {
      var step = x.values.length > 1 ? x.values[1] - x.values[0] : 86400;
      timeRange = function (u, min, max) { return [min - step / 2, max + step / 2]; };
    }
    var width = Math.max(280, el.clientWidth || 600);
    // Named categories (features, steps) that do not fit side by side are
    // written at a slant, each ending at its tick, with room below the axis
    // for the longest one.
    var slant = 0, axisSize = 0;
    if (!x.time) {
      var longest = Math.max.apply(null, x.labels.map(function (s) { return Math.min(14, String(s).length); }));
      if (x.labels.length * (longest * 6.5 + 8) > width - 80) {
        slant = 40;
        axisSize = Math.ceil(longest * 6.5 * 0.65 + 28);
      }
    }
    var opts = {
      width: width,
      height: 260,
      series: series,
      bands: bands,
      legend: { live: true },
      cursor: { drag: { x: true, y: false } },
      scales: { x: { time: x.time, range: x.time ? timeRange : function () { return [-0.5, spec.x.length - 0.5]; } } },
      axes: [
        {
          stroke: "#5b6578",
          grid: { stroke: "#eef1f6" },
          space: x.time ? 60 : 30,
          values: x.time ? undefined : function (u, ticks) { return ticks.map(function (t) { return Number.isInteger(t) && x.labels[t] != null ? String(x.labels[t]).slice(0, 14) : ""; }); },
        },
        {
          stroke: "#5b6578",
          grid: { stroke: "#eef1f6" },
          size: 64,
          label: spec.unit,
          labelSize: 18,
          values: function (u, ticks) { return ticks.map(f); },
        },
      ],
    };
    if (slant) {
      opts.axes[0].rotate = slant;
      opts.axes[0].align = 2;
      opts.axes[0].size = axisSize;
    }
    if (spec.series.some(function (s) { return s.kind === "bar"; })) {
      opts.scales.y = { range: function (u, lo, hi) { return [Math.min(0, lo), Math.max(0, hi) * 1.05 || 1]; } };
    }
    var plot = new uPlot(opts, data, el);
    el.setAttribute("data-drawn", String(series.length - 1));
    window.addEventListener("resize", function () {
      plot.setSize({ width: Math.max(280, el.clientWidth || 600), height: 260 });
    });
  }

  function drawAll() {
    var specs = document.querySelectorAll("script[data-chart-for]");
    Array.prototype.forEach.call(specs, function (s) {
      var el = document.getElementById(s.getAttribute("data-chart-for"));
      if (!el || el.hasAttribute("data-drawn") || el.hasAttribute("data-error")) return;
      try {
        draw(el, JSON.parse(s.textContent));
      } catch (e) {
        el.setAttribute("data-error", String(e));
        el.textContent = "This chart could not be drawn: " + e;
        if (window.console) console.error(e);
      }
    });
  }

  // Sorting: numbers by their raw value (data-v), text alphabetically; a
  // second click reverses.
  function sortable(table) {
    var heads = table.querySelectorAll("thead th");
    Array.prototype.forEach.call(heads, function (th, col) {
      th.addEventListener("click", function () {
        var asc = th.getAttribute("data-sort") !== "asc";
        Array.prototype.forEach.call(heads, function (h) { h.removeAttribute("data-sort"); });
        th.setAttribute("data-sort", asc ? "asc" : "desc");
        var body = table.tBodies[0];
        var rows = Array.prototype.slice.call(body.rows);
        rows.sort(function (a, b) {
          var va = a.cells[col].getAttribute("data-v"), vb = b.cells[col].getAttribute("data-v");
          var na = parseFloat(va), nb = parseFloat(vb);
          var c;
          if (va === "" && vb === "") c = 0;
          else if (va === "") return 1;
          else if (vb === "") return -1;
          else if (!isNaN(na) && !isNaN(nb) && String(na) === va.trim() || (!isNaN(na) && !isNaN(nb) && /^-?[\d.e+-]+$/.test(va) && /^-?[\d.e+-]+$/.test(vb))) c = na - nb;
          else c = va.localeCompare(vb);
          return asc ? c : -c;
        });
        rows.forEach(function (r) { body.appendChild(r); });
      });
    });
  }

  // Parts the server had not computed yet when it sent the page (right
  // after start-up): each placeholder names the URL of its HTML.
  function fillParts() {
    Array.prototype.forEach.call(document.querySelectorAll("[data-part]"), function (el) {
      fetch(el.getAttribute("data-part"), { credentials: "same-origin" })
        .then(function (r) {
          if (!r.ok) throw new Error("the server answered " + r.status);
          return r.text();
        })
        .then(function (html) {
          var box = document.createElement("div");
          box.innerHTML = html;
          var added = Array.prototype.slice.call(box.children);
          // A whole page's body names the page (an account's name).
          var titled = box.querySelector("[data-title]");
          var h1 = document.querySelector("main h1");
          if (titled && h1) {
            h1.textContent = titled.getAttribute("data-title");
            document.title = h1.textContent + " · Tenure";
          }
          added.forEach(function (node) { el.parentNode.insertBefore(node, el); });
          el.parentNode.removeChild(el);
          drawAll();
          added.forEach(function (node) {
            var tables = node.matches("table.sortable") ? [node] : node.querySelectorAll("table.sortable");
            Array.prototype.forEach.call(tables, sortable);
          });
        })
        .catch(function (e) {
          el.classList.add("failed");
          el.removeAttribute("aria-busy");
          var hint = el.querySelector(".hint");
          if (hint) hint.textContent = "This part could not be loaded (" + e.message + "): reload the page.";
        });
    });
  }

  function init() {
    drawAll();
    Array.prototype.forEach.call(document.querySelectorAll("table.sortable"), sortable);
    fillParts();
  }

  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", init);
  else init();
})();
