// Staff maps: zones (participant page, with drawing and editing) and a track with
// accuracy circles (positions page). Data comes from <script type="application/json">
// blocks; tiles only when OPENATD_MAP_TILES_URL is set, else a plain background.
(function () {
  "use strict";
  var el = document.getElementById("map");
  if (!el || !window.L) { return; }

  function data(id) {
    var node = document.getElementById(id);
    return node ? JSON.parse(node.textContent || "null") : null;
  }

  var map = L.map(el, { preferCanvas: false });
  map.setView([20, 0], 2); // a view first: Leaflet adds layers only to a map that has one
  var tiles = el.getAttribute("data-tiles");
  if (tiles) {
    L.tileLayer(tiles, { maxZoom: 19, attribution: el.getAttribute("data-attribution") || "" }).addTo(map);
  } else {
    el.classList.add("plain");
  }
  L.control.scale({ metric: true, imperial: false }).addTo(map);
  var bounds = L.latLngBounds([]);
  var zoneLayers = {};

  function zoneStyle(kind) {
    return kind === "exclusion"
      ? { color: "#b3261e", weight: 2, fillOpacity: 0.15 }
      : { color: "#23774a", weight: 2, fillOpacity: 0.12 };
  }

  (data("zones-data") || []).forEach(function (z) {
    var layer;
    if (z.circle) {
      layer = L.circle([z.circle.lat, z.circle.lon], Object.assign({ radius: z.circle.radius_m }, zoneStyle(z.kind)));
    } else if (z.geometry) {
      layer = L.geoJSON(z.geometry, { style: zoneStyle(z.kind) });
    }
    if (!layer) { return; }
    layer.bindTooltip(z.name + " (" + z.kind + ")");
    layer.addTo(map);
    zoneLayers[z.id] = layer;
    bounds.extend(layer.getBounds());
  });

  var track = data("track-data") || [];
  if (track.length) {
    var line = track.map(function (f) { return [f.lat, f.lon]; });
    L.polyline(line, { color: "#2452a8", weight: 2 }).addTo(map);
    track.forEach(function (f) {
      if (f.acc) {
        L.circle([f.lat, f.lon], { radius: f.acc, color: "#2452a8", weight: 1, fillOpacity: 0.08 }).addTo(map);
      }
      L.circleMarker([f.lat, f.lon], { radius: 3, color: "#1d2330", weight: 1, fillOpacity: 1 })
        .bindTooltip(f.t + (f.acc ? " ± " + Math.round(f.acc) + " m" : "")).addTo(map);
      bounds.extend([f.lat, f.lon]);
    });
  }
  if (bounds.isValid()) {
    map.fitBounds(bounds.pad(0.2), { maxZoom: 17 });
  }
  window.openatdMap = map; // ready: for the browser tests and the console

  // Fill a form's shape fields from a drawn or edited layer.
  function fill(form, layer) {
    var q = function (n) { return form.querySelector("[name=" + n + "]"); };
    if (layer instanceof L.Circle) {
      var c = layer.getLatLng();
      q("circle_lat").value = c.lat.toFixed(7);
      q("circle_lon").value = c.lng.toFixed(7);
      q("circle_radius_m").value = layer.getRadius().toFixed(1);
      q("geometry").value = "";
      return "circle, " + Math.round(layer.getRadius()) + " m";
    }
    var gj = layer.toGeoJSON();
    var geom = gj.type === "FeatureCollection" ? gj.features[0].geometry : gj.geometry;
    q("geometry").value = JSON.stringify(geom);
    q("circle_lat").value = ""; q("circle_lon").value = ""; q("circle_radius_m").value = "";
    return geom.type.toLowerCase() + " with " + (geom.coordinates[0].length - 1) + " corners";
  }

  var form = document.getElementById("zone-form");
  if (el.getAttribute("data-mode") !== "zones" || !form || !map.pm) { return; }
  map.pm.addControls({
    position: "topleft", drawMarker: false, drawCircleMarker: false, drawPolyline: false,
    drawText: false, cutPolygon: false, rotateMode: false, editMode: false, dragMode: false,
    removalMode: false,
  });
  // Geoman's toolbar buttons are links without text: name them from their titles.
  el.querySelectorAll(".leaflet-buttons-control-button").forEach(function (a) {
    var title = a.parentNode && a.parentNode.getAttribute("title");
    if (title) { a.setAttribute("aria-label", title); }
  });
  var drawn = null;
  map.on("pm:create", function (e) {
    if (drawn) { map.removeLayer(drawn); }
    drawn = e.layer;
    document.getElementById("zone-drawn").textContent = "Drawn: " + fill(form, drawn) + ". Name it and save.";
  });

  var file = document.getElementById("zone-file");
  if (file) {
    file.addEventListener("change", function () {
      var f = file.files && file.files[0];
      if (!f) { return; }
      f.text().then(function (text) {
        document.getElementById("zone-geometry").value = text;
        document.getElementById("zone-drawn").textContent = "Loaded " + f.name + ". Name it and save.";
        try {
          var shown = L.geoJSON(JSON.parse(text), { style: { color: "#5b6475", dashArray: "4" } }).addTo(map);
          map.fitBounds(shown.getBounds().pad(0.2));
        } catch (err) { /* the server says what is wrong with it */ }
      });
    });
  }

  document.querySelectorAll("button.edit-zone").forEach(function (button) {
    button.addEventListener("click", function () {
      var id = button.getAttribute("data-zone-id");
      var layer = zoneLayers[id];
      var replace = document.querySelector("form.replace-zone[data-zone-id='" + id + "']");
      if (!layer || !replace) { return; }
      var target = layer instanceof L.Circle ? layer : layer.getLayers()[0];
      target.pm.enable({ allowSelfIntersection: false });
      map.fitBounds(layer.getBounds().pad(0.3));
      fill(replace, target);
      target.on("pm:edit", function () { fill(replace, target); });
      replace.hidden = false;
      button.hidden = true;
    });
  });
})();
