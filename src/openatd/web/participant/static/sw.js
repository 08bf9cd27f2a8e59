// OpenATD participant app service worker: caches the app shell only (style, scripts, icons, the
// offline page). Pages with personal data are never cached; without a connection a page
// request shows the offline page, and kept check-ins wait in IndexedDB (see app.js).
"use strict";
var SHELL = "openatd-shell-v1";
var FILES = ["/me/static/app.css", "/me/static/app.js", "/me/static/checkin.js",
  "/me/static/icon-192.png", "/me/static/icon-512.png", "/me/offline"];
self.addEventListener("install", function (event) {
  event.waitUntil(caches.open(SHELL).then(function (c) { return c.addAll(FILES); })
    .then(function () { return self.skipWaiting(); }));
});
self.addEventListener("activate", function (event) {
  event.waitUntil(caches.keys().then(function (keys) {
    return Promise.all(keys.filter(function (k) { return k !== SHELL; })
      .map(function (k) { return caches.delete(k); }));
  }).then(function () { return self.clients.claim(); }));
});
self.addEventListener("fetch", function (event) {
  var req = event.request;
  if (req.method !== "GET") { return; }
  var url = new URL(req.url);
  if (url.origin !== self.location.origin) { return; }
  if (url.pathname.indexOf("/me/static/") === 0) {
    // Stale-while-revalidate: the cached copy at once, refreshed from the network behind it.
    event.respondWith(caches.open(SHELL).then(function (cache) {
      return cache.match(req).then(function (hit) {
        var fresh = fetch(req).then(function (resp) {
          if (resp.ok) { cache.put(req, resp.clone()); }
          return resp;
        });
        if (hit) { fresh.catch(function () {}); return hit; }
        return fresh;
      });
    }));
  } else if (req.mode === "navigate" && url.pathname.indexOf("/me/") === 0) {
    event.respondWith(fetch(req).catch(function () { return caches.match("/me/offline"); }));
  }
});
