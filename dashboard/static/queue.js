// The live queue: Server-Sent Events say something changed, the rows are fetched again and
// swapped in place (no page reload), new alerts are announced to screen readers, actions are
// sent without leaving the page, and escalation countdowns tick each second.
(function () {
  "use strict";
  var rows = document.getElementById("queue-rows");
  var live = document.getElementById("queue-live");
  var status = document.getElementById("queue-status");
  if (!rows) return;
  var known = ids();
  var pending = null;
  var busy = false;

  function ids() {
    var out = {};
    rows.querySelectorAll("tr[data-alert-id]").forEach(function (tr) { out[tr.dataset.alertId] = tr.dataset.announce; });
    return out;
  }

  function refresh() {
    if (busy) { pending = pending || setTimeout(function () { pending = null; refresh(); }, 200); return; }
    busy = true;
    fetch("/queue/rows", { headers: { Accept: "text/html" }, credentials: "same-origin" })
      .then(function (r) { if (!r.ok) throw new Error(r.status); return r.text(); })
      .then(function (html) {
        // Taken just before the swap: a note half typed, an outcome chosen or an open
        // "Assign or resolve" must survive another alert arriving.
        var open = {};
        rows.querySelectorAll("details[open]").forEach(function (d) { var tr = d.closest("tr"); if (tr) open[tr.id] = true; });
        var values = {};
        rows.querySelectorAll("input[id], select[id], textarea[id]").forEach(function (el) {
          values[el.id] = el.type === "checkbox" || el.type === "radio" ? el.checked : el.value;
        });
        var active = document.activeElement;
        var focused = active && rows.contains(active) && active.id;
        var caret = focused && typeof active.selectionStart === "number" ? [active.selectionStart, active.selectionEnd] : null;
        rows.innerHTML = html;
        Object.keys(open).forEach(function (id) { var d = document.querySelector("#" + id + " details"); if (d) d.open = true; });
        Object.keys(values).forEach(function (id) {
          var el = document.getElementById(id);
          if (!el || !rows.contains(el)) return;
          if (typeof values[id] === "boolean") el.checked = values[id]; else el.value = values[id];
        });
        if (focused) {
          var el = document.getElementById(focused);
          if (el) { el.focus(); if (caret && el.setSelectionRange) el.setSelectionRange(caret[0], caret[1]); }
        }
        var now = ids();
        var fresh = Object.keys(now).filter(function (id) { return !(id in known); });
        if (fresh.length) live.textContent = fresh.map(function (id) { return "New alert: " + now[id]; }).join(". ");
        known = now;
        tick();
      })
      .catch(function () { status.textContent = "Could not refresh the queue; retrying."; })
      .finally(function () { busy = false; });
  }

  function tick() {
    var now = Date.now() / 1000;
    rows.querySelectorAll("[data-next-at]").forEach(function (el) {
      var left = Math.max(0, Math.round(parseFloat(el.dataset.nextAt) - now));
      var h = Math.floor(left / 3600), m = Math.floor((left % 3600) / 60), s = left % 60;
      var clock = (h ? h + ":" + String(m).padStart(2, "0") : m) + ":" + String(s).padStart(2, "0");
      el.textContent = el.dataset.current + "; next: " + el.dataset.nextTo + " in " + clock;
    });
  }
  setInterval(tick, 1000);

  document.addEventListener("submit", function (event) {
    var form = event.target;
    if (!form.classList || !form.classList.contains("hof-act")) return;
    event.preventDefault();
    // getAttribute: the hidden input named "action" shadows the form.action property.
    fetch(form.getAttribute("action"), {
      method: "POST",
      body: new FormData(form),
      headers: { "X-Requested-With": "fetch" },
      credentials: "same-origin",
    }).then(function (r) {
      if (r.ok) { status.textContent = "Done."; }
      else { return r.json().then(function (b) { status.textContent = b.detail || "That could not be done."; }); }
    }).catch(function () { status.textContent = "That could not be sent; try again."; })
      .finally(refresh);
  });

  if (window.EventSource) {
    var source = new EventSource("/api/v1/alerts/stream");
    // Each (re)connection reloads the rows: a stream only carries what changes after it
    // starts, and an alert raised while it was away (or before it first opened) must show.
    source.addEventListener("ready", function () {
      status.textContent = "Live: new alerts appear here as they happen.";
      refresh();
    });
    source.addEventListener("change", refresh);
    source.addEventListener("resync", refresh);
    source.onerror = function () { status.textContent = "Reconnecting to live updates…"; };
  }
})();
