// Sends per second per channel over the last minutes, drawn on a <canvas> (no chart library), with
// the same numbers as a table for screen readers and anyone who prefers one.
import { t, el } from "./console.js";

// Colour and dash per channel: lines differ by pattern too, never by colour alone.
const STYLE = {
  inapp: ["#1d70b8", []], hms: ["#00703c", [6, 3]], sms: ["#d4351c", [2, 3]], fcm: ["#4c2c92", [8, 3, 2, 3]],
  apns: ["#0b0c0c", [1, 2]], webpush: ["#b58840", [10, 4]], smpp: ["#d53880", [4, 4]],
};
const WINDOW_S = 300;

function styleOf(ch) { return STYLE[ch] || ["#505a5f", [3, 3]]; }

function niceMax(v) {
  if (v <= 10) return 10;
  const p = 10 ** Math.floor(Math.log10(v));
  return [1, 2, 5, 10].map((m) => m * p).find((x) => x >= v);
}

export function drawChart(canvas, legend, series, channels, tickS) {
  const ctx = canvas.getContext("2d");
  const w = canvas.width, h = canvas.height, left = 56, bottom = 22, top = 8, right = 8;
  ctx.clearRect(0, 0, w, h);
  const now = series.length ? series[series.length - 1][0] : Date.now() / 1000;
  const span = Math.min(WINDOW_S, Math.max(30, series.length ? now - series[0][0] : 30));
  let peak = 0;
  for (const [, p] of series) for (const ch of channels) peak = Math.max(peak, p[ch] || 0);
  const max = niceMax(peak);
  const x = (ts) => left + ((ts - (now - span)) / span) * (w - left - right);
  const y = (v) => top + (1 - v / max) * (h - top - bottom);
  ctx.strokeStyle = "#b1b4b6"; ctx.fillStyle = "#0b0c0c"; ctx.font = "12px sans-serif"; ctx.lineWidth = 1;
  ctx.setLineDash([]);
  for (const v of [0, max / 2, max]) {
    ctx.beginPath(); ctx.moveTo(left, y(v)); ctx.lineTo(w - right, y(v)); ctx.stroke();
    ctx.textAlign = "right"; ctx.fillText(Math.round(v).toLocaleString(), left - 4, y(v) + 4);
  }
  ctx.textAlign = "left"; ctx.fillText(t("dash_chart_ago", { s: Math.round(span) }), left, h - 6);
  ctx.textAlign = "right"; ctx.fillText(t("dash_chart_now"), w - right, h - 6);
  ctx.lineWidth = 2;
  for (const ch of channels) {
    const [colour, dash] = styleOf(ch);
    ctx.strokeStyle = colour; ctx.setLineDash(dash); ctx.beginPath();
    series.forEach(([ts, p], i) => { const f = i ? "lineTo" : "moveTo"; ctx[f](x(ts), y(p[ch] || 0)); });
    ctx.stroke();
  }
  canvas.dataset.points = String(series.length);
  legend.replaceChildren(...channels.map((ch) => {
    const [colour, dash] = styleOf(ch);
    const swatch = el("canvas", { width: 28, height: 10, "aria-hidden": "true" });
    const c = swatch.getContext("2d");
    c.strokeStyle = colour; c.lineWidth = 2; c.setLineDash(dash); c.beginPath(); c.moveTo(0, 5); c.lineTo(28, 5); c.stroke();
    return el("li", {}, swatch, ` ${ch}`);
  }));
}

export function chartTable(details, series, channels) {
  if (!details.open && details.querySelector("table")) return;      // rebuilt only while someone reads it
  const recent = series.slice(-20);
  const head = el("tr", {}, el("th", { scope: "col" }, t("dash_chart_time")),
    ...channels.map((ch) => el("th", { scope: "col" }, t("dash_chart_per_s", { channel: ch }))));
  const rows = recent.map(([ts, p]) => el("tr", {}, el("td", {}, new Date(ts * 1000).toLocaleTimeString()),
    ...channels.map((ch) => el("td", {}, String(p[ch] || 0)))));
  const table = el("table", {}, el("caption", {}, t("dash_chart_caption")), el("thead", {}, head), el("tbody", {}, rows));
  details.querySelector("table")?.remove();
  details.append(table);
}
