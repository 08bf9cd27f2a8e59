// OpenATD check-in page: the camera (getUserMedia, or the phone's camera through a file input),
// the location asked for only at this moment, the attempt kept on the phone before it is sent,
// the result in plain words and a receipt for every attempt.
"use strict";
(function () {
  var root = document.getElementById("checkin");
  var S = JSON.parse(document.getElementById("strings").textContent);
  var Q = window.OpenATDQueue;
  var serverAt = Date.parse(root.dataset.serverTime);
  var offset = isNaN(serverAt) ? 0 : serverAt - Date.now();
  var video = document.getElementById("preview"), canvas = document.getElementById("shot");
  var startBtn = document.getElementById("start-camera"), takeBtn = document.getElementById("take-photo");
  var fallback = document.getElementById("file-fallback"), fileInput = document.getElementById("photo-file");
  var result = document.getElementById("result"), list = document.getElementById("receipts");
  var stream = null;
  var watch = {};  // attempts whose later result (a retry) this page should announce

  function say(text, kind) {
    result.textContent = "";
    var p = document.createElement("p");
    p.textContent = text;
    if (kind) { p.className = "result-" + kind; }
    result.appendChild(p);
    if (kind === "verified" || kind === "review") {  // done for this window: no more photos
      Array.prototype.forEach.call(document.querySelectorAll(".capture"), function (el) { el.hidden = true; });
    }
  }
  function clock(iso) {
    var d = new Date(iso);
    return d.toLocaleString(document.documentElement.lang, { weekday: "short", hour: "2-digit", minute: "2-digit" });
  }
  function localIso(d) {
    var off = -d.getTimezoneOffset(), sign = off >= 0 ? "+" : "-", a = Math.abs(off);
    function two(n) { return (n < 10 ? "0" : "") + n; }
    return d.getFullYear() + "-" + two(d.getMonth() + 1) + "-" + two(d.getDate()) + "T" + two(d.getHours()) +
      ":" + two(d.getMinutes()) + ":" + two(d.getSeconds()) + sign + two(Math.floor(a / 60)) + ":" + two(a % 60);
  }
  function newId() {
    if (window.crypto && crypto.randomUUID) { return crypto.randomUUID(); }
    return String(Date.now()) + "-" + Math.random().toString(16).slice(2);
  }
  function receiptNo(rec) { return rec.id.replace(/-/g, "").slice(0, 8).toUpperCase(); }
  function kindOf(body) {
    if (!body.ok) { return "refused"; }
    if (body.outcome === "verified") { return "verified"; }
    if (body.outcome === "retake_requested") { return "retake"; }
    return "review";
  }

  function render() {
    if (!Q) { return; }
    Q.all().then(function (rows) {
      list.textContent = "";
      rows.forEach(function (r) { if (r.status === "pending") { watch[r.id] = true; } });
      rows.forEach(function (r) {
        var li = document.createElement("li");
        var state = r.status === "sent" ? S.sent : r.status === "pending" ? S.pending : S.refused;
        var text = S.saved.replace("{id}", receiptNo(r)).replace("{time}", clock(r.attempted_at)) + " " + state + ".";
        if (r.status === "pending") { text += " (" + (r.tries || 0) + " " + S.tries + ")"; }
        if (r.message) { text += " " + r.message; }
        if (r.checkin_id) { text += " [" + S.server_receipt + " #" + r.checkin_id + "]"; }
        li.textContent = text;
        li.dataset.status = r.status;
        list.appendChild(li);
      });
    });
  }
  document.addEventListener("openatd:queue", render);
  render();

  function stop() {
    if (stream) { stream.getTracks().forEach(function (t) { t.stop(); }); stream = null; }
    video.hidden = true; takeBtn.hidden = true;
  }
  function useFile() {
    stop();
    if (fallback) { fallback.hidden = false; }
  }
  if (startBtn) {
    startBtn.addEventListener("click", function () {
      if (!navigator.mediaDevices || !navigator.mediaDevices.getUserMedia) { say(S.no_camera, "refused"); useFile(); return; }
      navigator.mediaDevices.getUserMedia({ video: { facingMode: "user", width: { ideal: 1280 } }, audio: false })
        .then(function (s) {
          stream = s; video.srcObject = s; video.hidden = false;
          return video.play();
        }).then(function () { startBtn.hidden = true; takeBtn.hidden = false; takeBtn.focus(); },
          function () { say(S.no_camera, "refused"); useFile(); });
    });
    takeBtn.addEventListener("click", function () {
      canvas.width = video.videoWidth; canvas.height = video.videoHeight;
      canvas.getContext("2d").drawImage(video, 0, 0);
      canvas.toBlob(function (blob) { stop(); startBtn.hidden = false; attempt(blob); }, "image/jpeg", 0.92);
    });
    fileInput.addEventListener("change", function () {
      var file = fileInput.files && fileInput.files[0];
      if (!file) { return; }
      // Re-encode in the browser (a HEIC photo becomes JPEG where the phone can decode it).
      if (window.createImageBitmap) {
        createImageBitmap(file).then(function (bmp) {
          canvas.width = bmp.width; canvas.height = bmp.height;
          canvas.getContext("2d").drawImage(bmp, 0, 0);
          canvas.toBlob(function (blob) { attempt(blob || file); }, "image/jpeg", 0.92);
        }, function () { attempt(file); });
      } else { attempt(file); }
    });
  }

  function attempt(photo) {
    var madeAt = new Date(Date.now() + offset);
    var phoneAt = new Date();
    // The location is asked for now, for this check-in only.
    navigator.geolocation.getCurrentPosition(function (pos) {
      var rec = {
        id: newId(), attempted_at: madeAt.toISOString(), device_time: localIso(phoneAt),
        latitude: pos.coords.latitude, longitude: pos.coords.longitude,
        accuracy_m: Math.min(pos.coords.accuracy || 0, 100000), schedule_id: root.dataset.schedule || "",
        photo: photo, status: "pending", tries: 0
      };
      watch[rec.id] = true;
      Q.put(rec).then(function () {
        render();
        say(S.sending);
        return Q.send(rec);
      }).then(function (body) {
        if (body.ok || !body.kept) { say(body.message, kindOf(body)); }
        else { say(S.failed + (body.message ? " (" + body.message + ")" : ""), "refused"); }
        render();
      });
    }, function () {
      say(S.no_location, "refused");
    }, { enableHighAccuracy: true, timeout: 30000, maximumAge: 0 });
  }
  // Retries of kept attempts (app.js) show their result here too.
  document.addEventListener("openatd:queue", function () {
    Q.all().then(function (rows) {
      rows.forEach(function (r) {
        if (watch[r.id] && r.status !== "pending" && r.message) {
          delete watch[r.id];
          say(r.message, kindOf({ ok: r.status === "sent", outcome: r.outcome }));
        }
      });
    });
  });
})();
