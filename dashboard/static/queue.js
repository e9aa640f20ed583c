// The live queue: Server-Sent Events say something changed, the rows are fetched again and
// swapped in place (no page reload), new alerts are announced to screen readers, actions are
// sent without leaving the page, and, once the responder turns it on with the button, a new
// fall (or help call, or smoke) sounds a short tone made with the Web Audio API (no sound file
// is fetched) and shows a browser notification. What each row says about escalation is what
// the notifier recorded; nothing here counts down to a step nobody has taken.
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
        rows.querySelectorAll("details[open][id]").forEach(function (d) { open[d.id] = true; });
        var values = {};
        rows.querySelectorAll("input[id], select[id], textarea[id]").forEach(function (el) {
          values[el.id] = el.type === "checkbox" || el.type === "radio" ? el.checked : el.value;
        });
        var active = document.activeElement;
        var focused = active && rows.contains(active) && active.id;
        var caret = focused && typeof active.selectionStart === "number" ? [active.selectionStart, active.selectionEnd] : null;
        rows.innerHTML = html;
        Object.keys(open).forEach(function (id) { var d = document.getElementById(id); if (d && rows.contains(d)) d.open = true; });
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
        alertFor(fresh);
      })
      .catch(function () { status.textContent = "Could not refresh the queue; retrying."; })
      .finally(function () { busy = false; });
  }

  // -- sound and browser notification for new falls, after the responder opts in ----------
  var ALERTING = { fall: true, button: true, smoke: true };
  var optin = document.getElementById("queue-alerts");
  var optinButton = document.getElementById("queue-alerts-on");
  var optinStatus = document.getElementById("queue-alerts-status");
  var audio = null;
  var alertsOn = false;

  function tone() {
    // Two short beeps at 880 Hz, made here: no file to fetch, nothing outside the page's CSP.
    if (!audio) return;
    if (audio.state === "suspended") audio.resume();
    var t = audio.currentTime;
    [0, 0.3].forEach(function (start) {
      var osc = audio.createOscillator();
      var gain = audio.createGain();
      osc.type = "square";
      osc.frequency.value = 880;
      gain.gain.setValueAtTime(0.0001, t + start);
      gain.gain.exponentialRampToValueAtTime(0.2, t + start + 0.02);
      gain.gain.exponentialRampToValueAtTime(0.0001, t + start + 0.2);
      osc.connect(gain);
      gain.connect(audio.destination);
      osc.start(t + start);
      osc.stop(t + start + 0.22);
    });
    document.documentElement.dataset.hofToneCount = String(Number(document.documentElement.dataset.hofToneCount || 0) + 1);
  }

  function notify(id, words) {
    if (!window.Notification || Notification.permission !== "granted") return;
    var n = new Notification("New alert: " + words, {
      body: "Open the queue to acknowledge it.",
      tag: "hof-alert-" + id,
      requireInteraction: true,
    });
    n.onclick = function () {
      window.focus();
      var tr = document.getElementById("alert-" + id);
      if (tr) tr.scrollIntoView({ block: "center" });
      n.close();
    };
  }

  function alertFor(fresh) {
    if (!alertsOn) return;
    var urgent = fresh.filter(function (id) {
      var tr = rows.querySelector('tr[data-alert-id="' + id + '"]');
      return tr && ALERTING[tr.dataset.category];
    });
    if (!urgent.length) return;
    tone();
    urgent.forEach(function (id) {
      var tr = rows.querySelector('tr[data-alert-id="' + id + '"]');
      notify(id, tr.dataset.announce);
    });
  }

  if (optin && optinButton) {
    optin.hidden = false;
    optinButton.addEventListener("click", function () {
      if (alertsOn) {
        alertsOn = false;
        optinButton.textContent = "Sound and notify me of new falls";
        optinStatus.textContent = "Sound and notifications are off.";
        return;
      }
      // Made inside the click: browsers let a page play sound only after a gesture.
      var Ctx = window.AudioContext || window.webkitAudioContext;
      if (Ctx && !audio) audio = new Ctx();
      alertsOn = true;
      optinButton.textContent = "Turn off sound and notifications";
      var said = "Sound is on for new falls, help calls and smoke.";
      if (window.Notification && Notification.permission === "default") {
        Notification.requestPermission().then(function (p) {
          optinStatus.textContent = said + (p === "granted" ? " Browser notifications are on." : " Browser notifications were not allowed.");
        });
      } else if (window.Notification && Notification.permission === "granted") {
        optinStatus.textContent = said + " Browser notifications are on.";
      } else {
        optinStatus.textContent = said + " This browser will not show notifications.";
      }
      tone();  // one beep now: the responder hears what it sounds like, and that it works
    });
  }

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
    // A change is an alert's, or an attempt of its escalation (a send, a receipt): the stream
    // follows both, so nothing here polls.
    source.addEventListener("change", refresh);
    source.addEventListener("resync", refresh);
    source.onerror = function () { status.textContent = "Reconnecting to live updates…"; };
  }
})();
