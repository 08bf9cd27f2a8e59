// OpenATD participant app: the service worker, and the queue of check-ins kept on this phone.
// A check-in attempt is stored in IndexedDB before it is sent; one that could not be sent is
// retried on every page of the app, when the connection comes back and every 30 seconds.
"use strict";
(function () {
  if ("serviceWorker" in navigator) {
    navigator.serviceWorker.register("/me/sw.js", { scope: "/me/" }).catch(function () {});
  }
  var DB = "openatd-me", STORE = "attempts";
  function open() {
    return new Promise(function (resolve, reject) {
      var req = indexedDB.open(DB, 1);
      req.onupgradeneeded = function () { req.result.createObjectStore(STORE, { keyPath: "id" }); };
      req.onsuccess = function () { resolve(req.result); };
      req.onerror = function () { reject(req.error); };
    });
  }
  function tx(mode, work) {
    return open().then(function (db) {
      return new Promise(function (resolve, reject) {
        var t = db.transaction(STORE, mode), out = work(t.objectStore(STORE));
        t.oncomplete = function () { resolve(out && "result" in out ? out.result : undefined); };
        t.onerror = function () { reject(t.error); };
      });
    });
  }
  function put(rec) { return tx("readwrite", function (s) { s.put(rec); }); }
  function all() {
    return tx("readonly", function (s) { return s.getAll(); }).then(function (rows) {
      return (rows || []).sort(function (a, b) { return a.attempted_at < b.attempted_at ? 1 : -1; });
    });
  }
  function csrf() {
    var m = document.querySelector('meta[name="csrf-token"]');
    return m ? m.content : "";
  }
  var sending = {};
  function send(rec) {
    if (sending[rec.id]) { return Promise.resolve({ ok: false, retry: true, busy: true }); }
    sending[rec.id] = true;
    var fd = new FormData();
    fd.append("selfie", rec.photo, "selfie.jpg");
    fd.append("latitude", String(rec.latitude));
    fd.append("longitude", String(rec.longitude));
    fd.append("accuracy_m", String(rec.accuracy_m));
    fd.append("attempted_at", rec.attempted_at);
    fd.append("device_time", rec.device_time);
    if (rec.schedule_id) { fd.append("schedule_id", rec.schedule_id); }
    fd.append("csrf_token", csrf());
    rec.tries = (rec.tries || 0) + 1;
    return fetch("/me/checkin", {
      method: "POST", body: fd, credentials: "same-origin", headers: { "X-CSRF-Token": csrf() }
    }).then(function (resp) {
      return resp.json().catch(function () { return { ok: false, message: "HTTP " + resp.status }; })
        .then(function (body) {
          var keep = !body.ok && (body.retry || resp.status >= 500 || [401, 403, 408, 429].indexOf(resp.status) >= 0);
          return finish(rec, body, keep);
        });
    }, function (err) {
      return finish(rec, { ok: false, message: "network: " + (err && err.message || err) }, true);
    });
  }
  function finish(rec, body, keep) {
    if (body.ok) {
      rec.status = "sent"; rec.photo = null; rec.message = body.message; rec.outcome = body.outcome;
      rec.checkin_id = body.checkin_id; rec.server_time = body.server_time; rec.late = body.late;
    } else if (keep) {
      rec.status = "pending"; rec.last_error = body.message;
    } else {
      rec.status = "refused"; rec.photo = null; rec.message = body.message;
    }
    body.kept = keep;
    return put(rec).then(function () { delete sending[rec.id]; return body; },
      function () { delete sending[rec.id]; return body; });
  }
  function flush() {
    return all().then(function (rows) {
      var pending = rows.filter(function (r) { return r.status === "pending" && r.photo; });
      return pending.reduce(function (p, r) { return p.then(function () { return send(r); }); }, Promise.resolve());
    }).then(function () { document.dispatchEvent(new CustomEvent("openatd:queue")); },
      function () {});
  }
  window.OpenATDQueue = { put: put, all: all, send: send, flush: flush };
  window.addEventListener("online", flush);
  if ("indexedDB" in window) {
    flush();
    setInterval(flush, 30000);
  }
})();
