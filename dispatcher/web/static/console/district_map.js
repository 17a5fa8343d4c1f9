// The share of each district's targeted subscribers reached so far, on a Leaflet map with vector
// layers only (no tiles): a circle at each district's seat, coloured by share, labelled in text.
import { t, el } from "./console.js";

// Share bands: colour with a text label in the legend and the share in every district's label.
const BANDS = [
  [0.99, "#00703c", "dash_band_all"], [0.9, "#85994b", "dash_band_most"],
  [0.5, "#f47738", "dash_band_half"], [0, "#d4351c", "dash_band_few"],
];

function band(share) { return BANDS.find(([min]) => share >= min); }

export class DistrictMap {
  constructor(node, legend, tbody, select, seats) {
    this.node = node; this.tbody = tbody; this.select = select;
    this.seats = Object.fromEntries(seats.map((s) => [s.code, s]));
    // labels above and below in turn, west to east, so neighbouring seats' labels do not cover each other
    this.below = new Set([...seats].sort((a, b) => a.lon - b.lon).filter((_, i) => i % 2).map((s) => s.code));
    this.layers = new Map();
    this.chosen = "";
    this.lastKey = "";
    select.addEventListener("change", () => { this.chosen = select.value; this.lastKey = ""; this.draw(this.alerts || {}); });
    legend.replaceChildren(...BANDS.map(([, colour, key]) => el("li", {},
      el("span", { class: "swatch", "data-colour": colour }), ` ${t(key)}`)));
    legend.querySelectorAll(".swatch").forEach((s) => { s.style.background = s.dataset.colour; });
    if (window.L) this.init();
  }

  init() {
    const L = window.L;
    this.map = L.map(this.node, { attributionControl: false, zoomSnap: 0.25, keyboard: true }).setView([40.15, 116.4], 8.25);
    this.group = L.layerGroup().addTo(this.map);
  }

  update(alerts) {
    this.alerts = alerts;
    const ids = Object.keys(alerts).sort((a, b) => Number(b) - Number(a));
    const options = ids.map((id) => `${id}|${alerts[id].headline || ""}`).join(";");
    if (options !== this.options) {
      this.options = options;
      this.select.replaceChildren(...ids.map((id) => el("option", { value: id }, `#${id} ${alerts[id].headline || alerts[id].identifier || ""}`)));
      if (!ids.includes(this.chosen)) this.chosen = ids.find((id) => alerts[id].pending) || ids[0] || "";
      this.select.value = this.chosen;
    }
    this.draw(alerts);
  }

  draw(alerts) {
    const row = alerts[this.chosen];
    const districts = row ? row.districts || {} : {};
    const key = JSON.stringify(districts) + this.chosen;
    if (key === this.lastKey) return;
    this.lastKey = key;
    const entries = Object.entries(districts).filter(([code]) => this.seats[code]);
    this.node.dataset.coloured = String(entries.length);
    this.tbody.replaceChildren(...entries.map(([code, [targeted, reached]]) => el("tr", {},
      el("th", { scope: "row" }, this.seats[code].name), el("td", {}, targeted.toLocaleString()),
      el("td", {}, reached.toLocaleString()), el("td", {}, `${share(reached, targeted)}%`))));
    if (!this.map) return;
    const shown = new Set(entries.map(([code]) => code));
    for (const [code, layer] of this.layers) if (!shown.has(code)) { this.group.removeLayer(layer); this.layers.delete(code); }
    for (const [code, [targeted, reached]] of entries) {
      const seat = this.seats[code];
      const [, colour] = band(targeted ? reached / targeted : 0);
      const text = `${seat.name} ${share(reached, targeted)}%`;
      let layer = this.layers.get(code);
      if (!layer) {
        layer = window.L.circleMarker([seat.lat, seat.lon], { radius: 14, color: "#0b0c0c", weight: 2, fillOpacity: 0.9,
          className: `district district-${code}` }).bindTooltip(text, { permanent: true, className: "district-label",
          direction: this.below.has(code) ? "bottom" : "top", offset: [0, this.below.has(code) ? 12 : -12] }).addTo(this.group);
        this.layers.set(code, layer);
      }
      layer.setStyle({ fillColor: colour });
      layer.setTooltipContent(text);
    }
    const codes = [...shown].sort().join(",");
    if (codes && codes !== this.framed) {
      this.framed = codes;
      const bounds = window.L.latLngBounds(entries.map(([code]) => [this.seats[code].lat, this.seats[code].lon]));
      this.map.fitBounds(bounds.pad(0.4), { maxZoom: 11, animate: false });
    }
  }
}

function share(reached, targeted) { return targeted ? Math.floor((1000 * reached) / targeted) / 10 : 0; }
