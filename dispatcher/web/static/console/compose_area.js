// The composer's area: the region registry as a searchable tree of checkboxes, and a Leaflet map
// (vector layers only, no tiles) with approximate district outlines, on which the issuer draws
// polygons and circles. Everything chosen is reported through onChange(area).
import { el, lang, t } from "./console.js";

const OUTLINE = { color: "#1d3557", weight: 1, dashArray: "4 3", fillOpacity: 0.04 };
const CHOSEN = { color: "#1d3557", weight: 2, dashArray: null, fillColor: "#1d70b8", fillOpacity: 0.25 };
const DRAWN = { color: "#c4261a", weight: 3, fillOpacity: 0.15 };

export class AreaPicker {
  constructor(onChange) {
    this.onChange = onChange;
    this.codes = new Set();
    this.polygons = [];
    this.circles = [];
    this.mode = null;
    this.pending = [];
    this.outlines = new Map();
  }

  async load(doc) {
    this.doc = doc;
    this.renderTree();
    this.renderMap();
    document.getElementById("region-search").addEventListener("input", (e) => this.filter(e.target.value));
    document.getElementById("draw-polygon").addEventListener("click", () => this.start("polygon"));
    document.getElementById("draw-circle").addEventListener("click", () => this.start("circle"));
    document.getElementById("finish-shape").addEventListener("click", () => this.finishPolygon());
    document.getElementById("clear-shapes").addEventListener("click", () => this.clearShapes());
    document.getElementById("add-circle").addEventListener("click", () => this.circleFromNumbers());
  }

  name(r) {
    return lang() === "en" ? `${r.en} · ${r.zh}` : `${r.zh} · ${r.en}`;
  }

  renderTree() {
    const box = document.getElementById("region-tree");
    const items = this.doc.districts.map((d) => {
      const streets = d.streets.map((s) => el("li", { "data-search": `${s.zh} ${s.en} ${s.code}`.toLowerCase() },
        this.checkbox(s.code, this.name(s))));
      return el("li", { "data-search": `${d.zh} ${d.en} ${d.code}`.toLowerCase(), class: "district" },
        this.checkbox(d.code, this.name(d)), streets.length ? el("ul", {}, streets) : null);
    });
    const root = this.doc.root;
    box.replaceChildren(el("ul", {}, el("li", { "data-search": `${root.zh} ${root.en} 11` },
      this.checkbox(root.code, this.name(root)), el("ul", {}, items))));
  }

  checkbox(code, text) {
    const input = el("input", { type: "checkbox", value: code, id: `region-${code}` });
    input.addEventListener("change", () => this.toggle(code, input.checked));
    return el("label", { for: `region-${code}`, class: "region" }, input, text);
  }

  filter(text) {
    const q = text.trim().toLowerCase();
    for (const li of document.querySelectorAll("#region-tree li")) {
      const self = li.dataset.search.includes(q);
      const child = [...li.querySelectorAll("li")].some((c) => c.dataset.search.includes(q));
      li.hidden = q !== "" && !self && !child;
    }
  }

  toggle(code, on) {
    if (on) this.codes.add(code); else this.codes.delete(code);
    const box = document.getElementById(`region-${code}`);
    if (box) box.checked = on;
    const outline = this.outlines.get(code);
    if (outline) outline.setStyle(on ? CHOSEN : OUTLINE);
    this.changed();
  }

  renderMap() {
    this.map = L.map("map", { attributionControl: false, zoomSnap: 0.25, keyboard: true });
    this.map.fitBounds([[39.44, 115.42], [41.06, 117.51]]);
    for (const f of this.doc.outlines.features) {
      const poly = L.polygon(f.ring, OUTLINE).addTo(this.map);
      poly.bindTooltip(lang() === "en" ? f.en : f.zh, { permanent: true, direction: "center", className: "district-label" });
      poly.on("click", (e) => {
        if (this.mode) return;               // the map itself takes the click while drawing
        this.toggle(f.code, !this.codes.has(f.code));
      });
      this.outlines.set(f.code, poly);
    }
    this.drawn = L.layerGroup().addTo(this.map);
    this.map.on("click", (e) => this.mapClick(e));
  }

  start(mode) {
    this.mode = mode;
    this.pending = [];
    document.getElementById("finish-shape").hidden = mode !== "polygon";
    document.getElementById("map-hint").textContent = t(mode === "polygon" ? "compose_hint_polygon" : "compose_hint_circle");
    document.getElementById("map").classList.add("drawing");
  }

  mapClick(e) {
    if (!this.mode) return;
    const p = [+e.latlng.lat.toFixed(5), +e.latlng.lng.toFixed(5)];
    this.pending.push(p);
    if (this.mode === "polygon") {
      if (this.preview) this.preview.remove();
      this.preview = L.polyline(this.pending, DRAWN).addTo(this.map);
    } else if (this.pending.length === 2) {
      const km = this.map.distance(this.pending[0], this.pending[1]) / 1000;
      this.addCircle(this.pending[0][0], this.pending[0][1], Math.max(0.1, +km.toFixed(2)));
      this.stop();
    }
  }

  finishPolygon() {
    if (this.pending.length < 3) {
      document.getElementById("map-hint").textContent = t("compose_hint_polygon_short");
      return;
    }
    this.addPolygon(this.pending);
    this.stop();
  }

  stop() {
    if (this.preview) { this.preview.remove(); this.preview = null; }
    this.mode = null;
    this.pending = [];
    document.getElementById("finish-shape").hidden = true;
    document.getElementById("map-hint").textContent = t("compose_map_hint");
    document.getElementById("map").classList.remove("drawing");
  }

  addPolygon(points) {
    this.polygons.push(points);
    L.polygon(points, DRAWN).addTo(this.drawn);
    this.changed();
  }

  addCircle(lat, lon, km) {
    this.circles.push([lat, lon, km]);
    L.circle([lat, lon], { ...DRAWN, radius: km * 1000 }).addTo(this.drawn);
    this.changed();
  }

  circleFromNumbers() {
    const v = (id) => parseFloat(document.getElementById(id).value);
    const [lat, lon, km] = [v("circle-lat"), v("circle-lon"), v("circle-radius")];
    if ([lat, lon, km].some(Number.isNaN) || km <= 0) return;
    this.addCircle(lat, lon, km);
    this.map.fitBounds(L.latLng(lat, lon).toBounds(km * 2000));
  }

  clearShapes() {
    this.polygons = [];
    this.circles = [];
    this.drawn.clearLayers();
    this.stop();
    this.changed();
  }

  set(area) {
    for (const code of area.codes || []) this.toggle(code, true);
    for (const p of area.polygons || []) this.addPolygon(p);
    for (const [lat, lon, km] of area.circles || []) this.addCircle(lat, lon, km);
  }

  value() {
    return { codes: [...this.codes].sort(), polygons: this.polygons, circles: this.circles };
  }

  changed() {
    const names = [...this.codes].sort().map((c) => document.querySelector(`label[for="region-${c}"]`)?.textContent || c);
    const parts = [...names];
    if (this.polygons.length) parts.push(t("compose_n_polygons", { n: this.polygons.length }));
    if (this.circles.length) parts.push(t("compose_n_circles", { n: this.circles.length }));
    document.getElementById("area-summary").textContent = parts.length ? t("compose_area_chosen", { list: parts.join("; ") }) : t("compose_area_none");
    this.onChange(this.value());
  }
}
