// Draws the home page's charts with uPlot from the series the page embeds as JSON, and turns
// the range links into an in-page switch that fetches /api/v1/homes/{id}/series. Without
// JavaScript the links load the page for that range; the figures are always in the table.
(function () {
  "use strict";
  var source = document.getElementById("series-data");
  var area = document.getElementById("charts-area");
  if (!source || !area || typeof uPlot === "undefined") return;
  var data = JSON.parse(source.textContent);
  var quantities = data.quantities;
  var home = area.getAttribute("data-home");
  // Distinguishable on white and for common colour blindness (Okabe-Ito), plus dashes.
  var colours = ["#0072B2", "#D55E00", "#009E73", "#CC79A7", "#E69F00", "#56B4E9", "#000000"];
  var dashes = [[], [6, 3], [2, 2], [8, 3, 2, 3]];
  var plots = [];
  // UK dates and a 24-hour clock in London time on the time axis and in the legend: uPlot's
  // defaults are American (11/29/26, 1pm) in the browser's zone. Rows as uPlot's own table:
  // tick step (s), the tick's format, then the formats when a year, month, day, hour, minute
  // or second rolls over, and 1: append the rollover to the tick.
  var DAY = 86400;
  var ukTimeAxis = [
    [365 * DAY, "{YYYY}", null, null, null, null, null, null, 1],
    [28 * DAY, "{MMM}", "\n{YYYY}", null, null, null, null, null, 1],
    [DAY, "{D}/{M}", "\n{YYYY}", null, null, null, null, null, 1],
    [3600, "{HH}:{mm}", "\n{D}/{M}/{YY}", null, "\n{D}/{M}", null, null, null, 1],
    [60, "{HH}:{mm}", "\n{D}/{M}/{YY}", null, "\n{D}/{M}", null, null, null, 1],
    [1, ":{ss}", "\n{D}/{M}/{YY} {HH}:{mm}", null, "\n{D}/{M} {HH}:{mm}", null, "\n{HH}:{mm}", null, 1],
  ];
  function london(ts) { return uPlot.tzDate(new Date(ts * 1e3), "Europe/London"); }

  function label(room) {
    var text = room.replace(/_/g, " ");
    return text.charAt(0).toUpperCase() + text.slice(1);
  }

  function aligned(rooms, key, timeKey) {
    var stamps = {};
    rooms.forEach(function (room) {
      (data.rooms[room][timeKey] || []).forEach(function (t) { stamps[t] = true; });
    });
    var xs = Object.keys(stamps).map(Number).sort(function (a, b) { return a - b; });
    var index = {};
    xs.forEach(function (t, i) { index[t] = i; });
    var columns = [xs];
    var used = [];
    rooms.forEach(function (room) {
      var r = data.rooms[room];
      var values = r[key];
      if (!values || !values.some(function (v) { return v !== null; })) return;
      var column = xs.map(function () { return null; });
      (r[timeKey] || []).forEach(function (t, i) { column[index[t]] = values[i]; });
      columns.push(column);
      used.push(room);
    });
    return { columns: columns, rooms: used };
  }

  function thresholdPlugin(lines) {
    return {
      hooks: {
        draw: function (u) {
          var ctx = u.ctx;
          ctx.save();
          ctx.setLineDash([4, 4]);
          ctx.lineWidth = 1.5 * devicePixelRatio;
          ctx.strokeStyle = "#505a5f";
          ctx.fillStyle = "#0b0c0c";
          ctx.font = 12 * devicePixelRatio + "px arial, sans-serif";
          ctx.textAlign = "right";
          lines.forEach(function (line) {
            var y = u.valToPos(line.value, "y", true);
            if (y < u.bbox.top || y > u.bbox.top + u.bbox.height) return;
            ctx.beginPath();
            ctx.moveTo(u.bbox.left, y);
            ctx.lineTo(u.bbox.left + u.bbox.width, y);
            ctx.stroke();
            ctx.fillText(line.label, u.bbox.left + u.bbox.width - 4 * devicePixelRatio, y - 4 * devicePixelRatio);
          });
          ctx.restore();
        },
      },
    };
  }

  function element(tag, className, text) {
    var node = document.createElement(tag);
    if (className) node.className = className;
    if (text !== undefined) node.textContent = text;
    return node;
  }

  function chart(q, rooms) {
    var timeKey = q.key === "mould_index" ? "mould_time" : "time";
    var set = aligned(rooms, q.key, timeKey);
    if (set.rooms.length === 0) return;
    var lines = data.thresholds[q.key] || [];
    var figure = element("figure", "hof-chart");
    figure.setAttribute("role", "group");
    figure.setAttribute("aria-labelledby", "chart-" + q.key);
    var caption = element("figcaption", "govuk-heading-s", q.label + (q.unit ? " (" + q.unit + ")" : "") + " by room");
    caption.id = "chart-" + q.key;
    figure.appendChild(caption);
    var holder = element("div");
    holder.setAttribute("role", "img");
    holder.setAttribute(
      "aria-label",
      q.label + " for " + set.rooms.map(label).join(", ") +
        (lines.length ? "; lines at " + lines.map(function (l) { return l.label; }).join("; ") : "") +
        ". The table below the charts gives the figures."
    );
    figure.appendChild(holder);
    if (lines.length) {
      var key = element("p", "govuk-body-s hof-chart-lines", "Dashed lines: " + lines.map(function (l) { return l.label; }).join("; ") + ".");
      figure.appendChild(key);
    }
    area.appendChild(figure);
    var values = [];
    set.columns.slice(1).forEach(function (c) { c.forEach(function (v) { if (v !== null) values.push(v); }); });
    lines.forEach(function (l) { values.push(l.value); });
    var lo = Math.min.apply(null, values), hi = Math.max.apply(null, values);
    var pad = (hi - lo) * 0.08 || 1;
    plots.push(new uPlot(
      {
        width: Math.max(300, area.clientWidth),
        height: 240,
        tzDate: london,
        series: [{ value: "{DD}/{MM}/{YYYY} {HH}:{mm}" }].concat(
          set.rooms.map(function (room, i) {
            return {
              label: label(room),
              stroke: colours[i % colours.length],
              dash: dashes[Math.floor(i / colours.length) % dashes.length],
              width: 2,
              spanGaps: false,
              value: function (u, v) { return v === null ? "–" : v.toFixed(1) + (q.unit ? " " + q.unit : ""); },
            };
          })
        ),
        scales: { x: { time: true }, y: { range: [lo - pad, hi + pad] } },
        axes: [{ values: ukTimeAxis }, { label: q.unit || "" }],
        plugins: [thresholdPlugin(lines)],
      },
      set.columns,
      holder
    ));
  }

  function draw() {
    plots.forEach(function (p) { p.destroy(); });
    plots = [];
    area.textContent = "";
    var rooms = Object.keys(data.rooms).sort();
    quantities.forEach(function (q) { chart(q, rooms); });
    if (plots.length === 0) area.appendChild(element("p", "govuk-body", "No readings in this range."));
  }

  // The table alternative, computed as the server computes it (lowest, mean, highest).
  function summarise(rangeLabel) {
    var table = document.getElementById("series-table");
    if (!table) return;
    table.querySelector("caption").textContent = "Lowest, mean and highest over " + rangeLabel;
    var body = table.querySelector("tbody");
    body.textContent = "";
    Object.keys(data.rooms).sort().forEach(function (room) {
      quantities.forEach(function (q) {
        var values = (data.rooms[room][q.key] || []).filter(function (v) { return v !== null; });
        if (!values.length) return;
        var sum = values.reduce(function (a, b) { return a + b; }, 0);
        var row = element("tr", "govuk-table__row");
        row.appendChild(element("td", "govuk-table__cell", label(room)));
        row.appendChild(element("td", "govuk-table__cell", q.label + (q.unit ? " (" + q.unit + ")" : "")));
        [Math.min.apply(null, values), sum / values.length, Math.max.apply(null, values)].forEach(function (v) {
          row.appendChild(element("td", "govuk-table__cell govuk-table__cell--numeric", v.toFixed(1)));
        });
        body.appendChild(row);
      });
    });
    if (!body.children.length) {
      var empty = element("tr", "govuk-table__row");
      var cell = element("td", "govuk-table__cell", "No readings in this range.");
      cell.colSpan = 5;
      empty.appendChild(cell);
      body.appendChild(empty);
    }
  }

  var nav = document.querySelector(".hof-range-list");
  var heading = document.getElementById("charts");
  var status = document.getElementById("charts-status");

  function mark(range) {
    if (!nav) return;
    nav.querySelectorAll("li").forEach(function (item) {
      var key = item.getAttribute("data-range");
      var text = item.getAttribute("data-label");
      item.textContent = "";
      if (key === range) {
        var current = element("strong", "", text);
        current.setAttribute("aria-current", "true");
        item.appendChild(current);
      } else {
        var link = element("a", "govuk-link", text);
        link.href = "/homes/" + encodeURIComponent(home) + "?range=" + key + "#charts";
        link.setAttribute("data-range", key);
        item.appendChild(link);
      }
    });
  }

  function show(range, rangeLabel, push) {
    if (status) status.textContent = "Loading " + rangeLabel + " of readings";
    return fetch("/api/v1/homes/" + encodeURIComponent(home) + "/series?range=" + encodeURIComponent(range), {
      credentials: "same-origin",
      headers: { Accept: "application/json" },
    }).then(function (response) {
      if (!response.ok) throw new Error("HTTP " + response.status);
      return response.json();
    }).then(function (body) {
      data.rooms = body.rooms;
      data.thresholds = body.thresholds;
      data.range = body.range;
      draw();
      summarise(rangeLabel);
      mark(range);
      if (heading) heading.textContent = "Readings over " + rangeLabel;
      if (status) status.textContent = "Showing " + rangeLabel + " of readings";
      if (push) history.pushState({ range: range, label: rangeLabel }, "", "?range=" + range + "#charts");
    });
  }

  if (nav) {
    nav.addEventListener("click", function (event) {
      var link = event.target.closest("a[data-range]");
      if (!link || event.ctrlKey || event.metaKey || event.shiftKey) return;
      event.preventDefault();
      var item = link.closest("li");
      show(link.getAttribute("data-range"), item.getAttribute("data-label"), true).catch(function () {
        window.location.href = link.href; // the page itself still works
      });
    });
    window.addEventListener("popstate", function (event) {
      var state = event.state || { range: data.initial, label: data.initialLabel };
      show(state.range, state.label, false).catch(function () { window.location.reload(); });
    });
  }
  data.initial = data.range;
  var current = nav && nav.querySelector("[aria-current]");
  data.initialLabel = current ? current.textContent : data.range;

  var resizing = null;
  window.addEventListener("resize", function () {
    clearTimeout(resizing);
    resizing = setTimeout(function () {
      var width = Math.max(300, area.clientWidth);
      plots.forEach(function (p) { p.setSize({ width: width, height: 240 }); });
    }, 150);
  });
  draw();
})();
