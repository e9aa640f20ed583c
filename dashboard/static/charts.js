// Draws the home page's charts with uPlot from the series the page embeds as JSON.
// Each chart is a figure with a caption; the numbers are also in the table below the charts.
(function () {
  "use strict";
  var source = document.getElementById("series-data");
  var area = document.getElementById("charts-area");
  if (!source || !area || typeof uPlot === "undefined") return;
  var data = JSON.parse(source.textContent);
  // Distinguishable on white and for common colour blindness (Okabe-Ito), plus dashes.
  var colours = ["#0072B2", "#D55E00", "#009E73", "#CC79A7", "#E69F00", "#56B4E9", "#000000"];
  var dashes = [[], [6, 3], [2, 2], [8, 3, 2, 3]];
  var rooms = Object.keys(data.rooms).sort();

  function aligned(key, timeKey) {
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

  function label(room) {
    var text = room.replace(/_/g, " ");
    return text.charAt(0).toUpperCase() + text.slice(1);
  }

  data.quantities.forEach(function (q) {
    var timeKey = q.key === "mould_index" ? "mould_time" : "time";
    var set = aligned(q.key, timeKey);
    if (set.rooms.length === 0) return;
    var lines = data.thresholds[q.key] || [];
    var figure = document.createElement("figure");
    figure.className = "hof-chart";
    figure.setAttribute("role", "group");
    var caption = document.createElement("figcaption");
    caption.className = "govuk-heading-s";
    caption.textContent = q.label + (q.unit ? " (" + q.unit + ")" : "") + " by room";
    figure.appendChild(caption);
    var holder = document.createElement("div");
    holder.setAttribute("role", "img");
    holder.setAttribute(
      "aria-label",
      q.label + " for " + set.rooms.map(label).join(", ") +
        (lines.length ? "; lines at " + lines.map(function (l) { return l.label; }).join("; ") : "") +
        ". The table below the charts gives the figures."
    );
    figure.appendChild(holder);
    area.appendChild(figure);
    var values = [];
    set.columns.slice(1).forEach(function (c) { c.forEach(function (v) { if (v !== null) values.push(v); }); });
    lines.forEach(function (l) { values.push(l.value); });
    var lo = Math.min.apply(null, values), hi = Math.max.apply(null, values);
    var pad = (hi - lo) * 0.08 || 1;
    new uPlot(
      {
        width: Math.max(300, area.clientWidth),
        height: 240,
        series: [{}].concat(
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
        axes: [{}, { label: q.unit || "" }],
        plugins: [thresholdPlugin(lines)],
      },
      set.columns,
      holder
    );
  });
})();
