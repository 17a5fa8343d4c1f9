// A small vector map with no tiles: the person and the shelters on a local plane, north up,
// with a scale bar. Honest about what it is: positions and straight-line distances only.
const SVG = "http://www.w3.org/2000/svg";

function el(name, attrs, text) {
  const e = document.createElementNS(SVG, name);
  for (const [k, v] of Object.entries(attrs)) e.setAttribute(k, v);
  if (text !== undefined) e.textContent = text;
  return e;
}

function niceKm(km) {
  for (const step of [0.1, 0.2, 0.5, 1, 2, 5, 10, 20, 50]) if (step >= km) return step;
  return 100;
}

export function drawMap(container, origin, shelters, label) {
  container.replaceChildren();
  const size = 300, pad = 28;
  const kmLat = 110.57, kmLon = 111.32 * Math.cos((origin.lat * Math.PI) / 180);
  const pts = shelters.map((s) => ({ x: (s.lon - origin.lon) * kmLon, y: (s.lat - origin.lat) * kmLat, s }));
  const reach = Math.max(0.3, ...pts.map((p) => Math.max(Math.abs(p.x), Math.abs(p.y))));
  const scale = (size / 2 - pad) / reach;
  const svg = el("svg", { viewBox: `0 0 ${size} ${size}`, role: "img", "aria-label": label, class: "map-svg" });
  svg.append(el("title", {}, label));
  svg.append(el("rect", { x: 0, y: 0, width: size, height: size, class: "map-bg" }));
  for (const r of [0.33, 0.66, 1]) {
    svg.append(el("circle", { cx: size / 2, cy: size / 2, r: r * (size / 2 - pad), class: "map-ring" }));
  }
  svg.append(el("text", { x: size / 2, y: 14, class: "map-north", "text-anchor": "middle" }, "N ↑"));
  pts.forEach((p, i) => {
    const cx = size / 2 + p.x * scale, cy = size / 2 - p.y * scale;
    svg.append(el("line", { x1: size / 2, y1: size / 2, x2: cx, y2: cy, class: "map-ray" }));
    const g = el("g", { class: "map-shelter" });
    g.append(el("title", {}, `${i + 1}. ${p.s.name}`));
    g.append(el("circle", { cx, cy, r: 11 }));
    g.append(el("text", { x: cx, y: cy + 4, "text-anchor": "middle" }, String(i + 1)));
    svg.append(g);
  });
  const me = el("circle", { cx: size / 2, cy: size / 2, r: 7, class: "map-me" });
  me.append(el("title", {}, "●"));
  svg.append(me);
  const bar = niceKm(reach / 2);
  const w = bar * scale;
  svg.append(el("line", { x1: 12, y1: size - 14, x2: 12 + w, y2: size - 14, class: "map-scale" }));
  svg.append(el("text", { x: 12, y: size - 20, class: "map-scale-text" }, bar < 1 ? `${bar * 1000} m` : `${bar} km`));
  container.append(svg);
}
