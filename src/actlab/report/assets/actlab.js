/* actlab pages: sortable tables and the live activation plot.
   No library, no network: the curves are precomputed in Python from the
   catalog's definitions and embedded as JSON; this script only picks one
   and draws it. */
"use strict";
(function () {
  // ---- sortable tables -------------------------------------------------
  function sortKey(td) {
    if (!td || !td.hasAttribute("data-sort")) return null;
    var raw = td.getAttribute("data-sort");
    var num = Number(raw);
    return raw !== "" && isFinite(num) ? num : raw.toLowerCase();
  }

  function compareKeys(a, b) {
    if (typeof a === "number" && typeof b === "number") return a - b;
    return String(a).localeCompare(String(b), undefined, { numeric: true });
  }

  function sortBy(table, col, th) {
    var ascending = th.getAttribute("aria-sort") !== "ascending";
    table.querySelectorAll("thead th").forEach(function (h) { h.removeAttribute("aria-sort"); });
    th.setAttribute("aria-sort", ascending ? "ascending" : "descending");
    var body = table.tBodies[0];
    var rows = Array.prototype.slice.call(body.rows);
    rows.sort(function (r1, r2) {
      var a = sortKey(r1.cells[col]), b = sortKey(r2.cells[col]);
      // Missing values stay at the bottom in both directions.
      if (a === null || b === null) return (a === null) - (b === null);
      var c = compareKeys(a, b);
      return ascending ? c : -c;
    });
    rows.forEach(function (r) { body.appendChild(r); });
  }

  document.querySelectorAll("table.sortable").forEach(function (table) {
    table.querySelectorAll("thead th").forEach(function (th, col) {
      th.tabIndex = 0;
      th.classList.add("sort-handle");
      th.addEventListener("click", function () { sortBy(table, col, th); });
      th.addEventListener("keydown", function (e) {
        if (e.key === "Enter" || e.key === " ") { e.preventDefault(); sortBy(table, col, th); }
      });
    });
  });

  // ---- live plot ---------------------------------------------------------
  var SVGNS = "http://www.w3.org/2000/svg";
  var W = 420, H = 260, L = 44, R = 10, T = 24, B = 30;

  function el(name, attrs, parent) {
    var e = document.createElementNS(SVGNS, name);
    Object.keys(attrs).forEach(function (k) { e.setAttribute(k, attrs[k]); });
    if (parent) parent.appendChild(e);
    return e;
  }

  function ticks(lo, hi, count) {
    var raw = (hi - lo) / count, mag = Math.pow(10, Math.floor(Math.log10(raw)));
    var step = [1, 2, 2.5, 5, 10].map(function (m) { return m * mag; })
      .filter(function (s) { return s >= raw; })[0];
    var out = [];
    for (var v = Math.ceil(lo / step) * step; v <= hi + 1e-9; v += step) out.push(Math.round(v / step) * step);
    return out;
  }

  function label(v) { return String(Number(v.toPrecision(6))); }

  function makePanel(svg, title, xs, ylim) {
    var xlo = xs[0], xhi = xs[xs.length - 1];
    var sx = function (x) { return L + (x - xlo) / (xhi - xlo) * (W - L - R); };
    var sy = function (y) {
      var c = Math.max(ylim[0] - (ylim[1] - ylim[0]), Math.min(ylim[1] + (ylim[1] - ylim[0]), y));
      return T + (ylim[1] - c) / (ylim[1] - ylim[0]) * (H - T - B);
    };
    svg.setAttribute("viewBox", "0 0 " + W + " " + H);
    var clipId = svg.id + "-clip";
    var clip = el("clipPath", { id: clipId }, el("defs", {}, svg));
    el("rect", { x: L, y: T, width: W - L - R, height: H - T - B }, clip);
    el("rect", { "class": "frame", x: L, y: T, width: W - L - R, height: H - T - B }, svg);
    ticks(xlo, xhi, 6).forEach(function (v) {
      el("line", { "class": v === 0 ? "axis" : "grid", x1: sx(v), x2: sx(v), y1: T, y2: H - B }, svg);
      el("text", { "class": "tick", x: sx(v), y: H - B + 14, "text-anchor": "middle" }, svg).textContent = label(v);
    });
    ticks(ylim[0], ylim[1], 5).forEach(function (v) {
      el("line", { "class": v === 0 ? "axis" : "grid", x1: L, x2: W - R, y1: sy(v), y2: sy(v) }, svg);
      el("text", { "class": "tick", x: L - 5, y: sy(v) + 4, "text-anchor": "end" }, svg).textContent = label(v);
    });
    el("text", { "class": "title", x: (L + W - R) / 2, y: T - 8, "text-anchor": "middle" }, svg).textContent = title;
    var g = el("g", { "clip-path": "url(#" + clipId + ")" }, svg);
    var ref = el("path", { "class": "ref" }, g);
    var cur = el("path", { "class": "curve" }, g);
    function path(ys) {
      var d = "", pen = false;
      ys.forEach(function (y, i) {
        if (y === null) { pen = false; return; }
        d += (pen ? "L" : "M") + sx(xs[i]).toFixed(1) + " " + sy(y).toFixed(1);
        pen = true;
      });
      return d;
    }
    return { ref: function (ys) { ref.setAttribute("d", path(ys)); },
             draw: function (ys) { cur.setAttribute("d", path(ys)); } };
  }

  function initLivePlot(section) {
    var data = JSON.parse(document.getElementById(section.getAttribute("data-curves")).textContent);
    var inputs = Array.prototype.slice.call(section.querySelectorAll("input[data-param]"));
    var panels = {
      f: makePanel(section.querySelector("svg[data-panel=f]"), "f(x)", data.x, data.ylim_f),
      df: makePanel(section.querySelector("svg[data-panel=df]"), "f\u2032(x)", data.x, data.ylim_df)
    };
    function flatIndex(pick) {
      // Row-major over data.params, the last parameter fastest (as written in Python).
      var idx = 0;
      data.params.forEach(function (p, k) { idx = idx * p.values.length + pick(p, k); });
      return idx;
    }
    var home = flatIndex(function (p) { return p["default"]; });
    panels.f.ref(data.f[home]);
    panels.df.ref(data.df[home]);
    function update() {
      var idx = flatIndex(function (p, k) { return Number(inputs[k].value); });
      inputs.forEach(function (input, k) {
        var out = section.querySelector("output[data-param='" + input.getAttribute("data-param") + "']");
        if (out) out.textContent = label(data.params[k].values[Number(input.value)]);
      });
      var refused = data.f[idx] === null;
      panels.f.draw(refused ? [] : data.f[idx]);
      panels.df.draw(refused ? [] : data.df[idx]);
      var note = section.querySelector(".refused");
      note.hidden = !refused;
      note.textContent = refused ? "The module refuses this setting: " + data.refused[idx] : "";
      section.setAttribute("data-index", String(idx));
    }
    inputs.forEach(function (input) { input.addEventListener("input", update); });
    var reset = section.querySelector("button.reset");
    if (reset) reset.addEventListener("click", function () {
      inputs.forEach(function (input, k) { input.value = data.params[k]["default"]; });
      update();
    });
    update();
  }

  document.querySelectorAll(".liveplot").forEach(initLivePlot);
})();
