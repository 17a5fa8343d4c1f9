// The shelters on a Leaflet map with vector layers only, no tiles (no map data leaves this origin):
// the person (or the district's seat), the shelters numbered as in the list above, a line to each with
// the nearest one drawn bold (the bearing to walk), north up, a scale bar. Positions and
// straight-line distances only. Leaflet sets its styles from script, which this page's CSP allows.

function labelHtml(text) {
  const span = document.createElement("span");
  span.textContent = text;
  return span;
}

export function drawMap(container, origin, shelters, label, youText) {
  const L = window.L;
  if (container.leaflet) { container.leaflet.remove(); container.leaflet = null; }
  container.replaceChildren();
  container.setAttribute("role", "img");
  container.setAttribute("aria-label", label);
  if (!L) return;
  const map = L.map(container, { attributionControl: false, zoomControl: true, keyboard: false, fadeAnimation: false,
    zoomAnimation: false, markerZoomAnimation: false });
  container.leaflet = map;
  const here = [origin.lat, origin.lon];
  if (origin.source === "district") {
    L.circle(here, { radius: 800, className: "map-district", interactive: false }).addTo(map);
  }
  shelters.forEach((s, i) => {
    const at = [s.lat, s.lon];
    L.polyline([here, at], { className: i === 0 ? "map-bearing" : "map-ray", interactive: false }).addTo(map);
    L.circleMarker(at, { radius: 11, className: "map-shelter", interactive: false }).addTo(map)
      .bindTooltip(labelHtml(String(i + 1)), { permanent: true, direction: "right", className: "map-label" });
  });
  L.circleMarker(here, { radius: 7, className: "map-me", interactive: false }).addTo(map)
    .bindTooltip(labelHtml(youText), { permanent: true, direction: "left", className: "map-label map-label-me" });
  L.control.scale({ imperial: false, position: "bottomleft" }).addTo(map);
  const bounds = L.latLngBounds([here, ...shelters.map((s) => [s.lat, s.lon])]);
  map.fitBounds(bounds.pad(0.4), { animate: false, maxZoom: 16 });
}
