// The live dashboard: one EventSource on /console/api/live; a snapshot, then only what changed each
// tick. Each alert is a card (progress per channel, sends-per-second chart, latency, Cancel / Update /
// failures); the district map and the health panel sit beside them.
import { t, api, el, severityLevel, formatTime } from "./console.js";
import { drawChart, chartTable } from "./live_chart.js";
import { DistrictMap } from "./district_map.js";
import { startHealth } from "./health_panel.js";

const COLUMNS = ["sent", "delivered", "read", "confirmed"];
const state = { alerts: {}, series: {}, tickS: 0.5 };
const cards = new Map();
const list = document.getElementById("alerts");
const statusLine = document.getElementById("live-status");
const seats = JSON.parse(document.getElementById("district-seats").textContent || "[]");
const map = new DistrictMap(document.getElementById("district-map"), document.getElementById("map-legend"),
  document.querySelector("#district-table tbody"), document.getElementById("map-alert"), seats);
let cancelling = null;

function setStatus(kind) {
  if (statusLine.dataset.state === kind) return;      // announced once, not every tick
  statusLine.dataset.state = kind;
  statusLine.textContent = t("dash_status_" + kind);
}

function merge(tick) {
  for (const [id, change] of Object.entries(tick.alerts)) {
    const row = state.alerts[id] || (state.alerts[id] = {});
    for (const [k, v] of Object.entries(change)) {
      if (k === "channels" || k === "districts") row[k] = { ...(row[k] || {}), ...v };
      else row[k] = v;
    }
  }
  for (const id of tick.removed) { delete state.alerts[id]; delete state.series[id]; }
  const keep = Math.max(2, Math.round(300 / state.tickS));
  for (const [id, point] of Object.entries(tick.rates)) {
    const s = state.series[id] || (state.series[id] = []);
    s.push([tick.t, point]);
    if (s.length > keep) s.splice(0, s.length - keep);
  }
}

function connect() {
  const source = new EventSource("/console/api/live");
  source.addEventListener("snapshot", (e) => {
    const data = JSON.parse(e.data);
    state.alerts = data.alerts; state.series = data.series; state.tickS = data.tick_s || 0.5;
    setStatus("live"); render();
  });
  source.addEventListener("tick", (e) => { merge(JSON.parse(e.data)); setStatus("live"); render(); });
  source.addEventListener("error", () => setStatus(source.readyState === EventSource.CLOSED ? "closed" : "reconnecting"));
  source.addEventListener("closed", () => { source.close(); setTimeout(connect, 1000); });
}

function render() {
  const ids = Object.keys(state.alerts).sort((a, b) => Number(b) - Number(a));
  document.getElementById("no-alerts").hidden = ids.length > 0;
  for (const [id, card] of cards) if (!state.alerts[id]) { card.root.remove(); cards.delete(id); }
  ids.forEach((id, i) => {
    const card = cards.get(id) || makeCard(id);
    if (list.children[i + 1] !== card.root) list.insertBefore(card.root, list.children[i + 1] || null);
    updateCard(card, state.alerts[id], state.series[id] || []);
  });
  map.update(state.alerts);
}

function levelBadge(severity) {
  const level = severityLevel(severity);
  return el("span", { class: `level level-${level || "none"}` }, level ? t("level_" + level) : severity || "—");
}

function makeCard(id) {
  const row = state.alerts[id];
  const title = el("h3", { id: `alert-${id}-h` });
  const life = el("span", { class: "state" });
  const progress = el("div", { class: "progress-rows" });
  const totals = el("p", { class: "totals" });
  const latency = el("p", { class: "latency" });
  const canvas = el("canvas", { width: 560, height: 160, class: "rate-chart", role: "img" });
  const legend = el("ul", { class: "legend chart-legend" });
  const table = el("details", { class: "as-table" }, el("summary", {}, t("dash_chart_table")));
  const cancel = el("button", { class: "danger", type: "button", onclick: () => askCancel(id) }, t("dash_cancel"));
  const root = el("article", { class: "alert-card", id: `alert-${id}`, "aria-labelledby": `alert-${id}-h` },
    el("header", { class: "card-head" }, levelBadge(row.severity), title, life),
    el("p", { class: "meta" }, `#${id} · `, el("code", {}, row.identifier || ""), ` · ${formatTime(row.accepted_at)}`),
    totals, progress, latency,
    el("h4", {}, t("dash_chart")), canvas, legend, table,
    el("div", { class: "actions" }, cancel,
      el("a", { class: "button secondary", href: `/console/compose?update=${id}` }, t("dash_update")),
      el("a", { class: "button secondary", href: `/console/dashboard/alerts/${id}` }, t("dash_failures"))));
  const card = { root, title, life, progress, totals, latency, canvas, legend, table, cancel, bars: new Map() };
  cards.set(id, card);
  return card;
}

function pct(n, of) { return of ? Math.min(100, Math.round((1000 * n) / of) / 10) : 0; }

function updateCard(card, row, series) {
  card.title.textContent = row.headline || row.event || row.identifier || `#${row.id}`;
  card.life.textContent = t("life_" + row.lifecycle);
  card.life.className = `state state-${row.lifecycle}`;
  const stopped = ["cancelled", "superseded", "expired", "rejected"].includes(row.lifecycle);
  card.cancel.disabled = stopped || row.msgType === "Cancel";
  const tot = row.totals || {};
  card.totals.textContent = t("dash_totals", { targeted: fmt(row.targeted), sent: fmt(tot.sent), failed: fmt(tot.failed),
    share: pct(Math.min(tot.sent || 0, row.targeted), row.targeted) });
  for (const [ch, c] of Object.entries(row.channels || {})) updateBar(card, ch, c);
  const lat = row.latency_ms || {};
  card.latency.textContent = t("dash_latency", { p50: ms(lat.sent?.p50), p95: ms(lat.sent?.p95), p99: ms(lat.sent?.p99),
    d50: ms(lat.delivered?.p50), d95: ms(lat.delivered?.p95) });
  const channels = Object.keys(row.channels || {}).filter((c) => c !== "webhook");
  card.canvas.setAttribute("aria-label", t("dash_chart_label", { channels: channels.join(", ") }));
  drawChart(card.canvas, card.legend, series, channels, state.tickS);
  chartTable(card.table, series, channels);
}

function updateBar(card, ch, c) {
  let bar = card.bars.get(ch);
  if (!bar) {
    const layers = COLUMNS.map((k) => el("span", { class: `layer layer-${k}` }));
    const track = el("div", { class: "track", role: "progressbar", "aria-valuemin": 0, "aria-label": t("dash_bar_label", { channel: ch }) }, layers);
    const text = el("span", { class: "bar-text" });
    bar = { track, layers, text };
    card.progress.append(el("div", { class: "bar-row" }, el("span", { class: "bar-name" }, ch), track, text));
    card.bars.set(ch, bar);
  }
  const of = c.targeted || 0;
  COLUMNS.forEach((k, i) => { bar.layers[i].style.width = pct(k === "read" ? c.read + c.confirmed : c[k], of) + "%"; });
  bar.track.setAttribute("aria-valuemax", of);
  bar.track.setAttribute("aria-valuenow", c.sent);
  bar.track.setAttribute("aria-valuetext", `${pct(c.sent, of)}%`);
  bar.text.textContent = t("dash_bar", { pct: pct(c.sent, of), sent: fmt(c.sent), targeted: fmt(of), delivered: fmt(c.delivered),
    read: fmt(c.read), confirmed: fmt(c.confirmed), failover: fmt(c.failover) });
}

function fmt(n) { return (n || 0).toLocaleString(); }
function ms(v) { return v === null || v === undefined ? "—" : `${Math.round(v)}`; }

function askCancel(id) {
  const dialog = document.getElementById("cancel-dialog");
  const row = state.alerts[id];
  cancelling = id;
  document.getElementById("cancel-what").textContent = t("dash_cancel_what", { id, headline: row.headline || row.identifier });
  dialog.showModal();
}

document.getElementById("cancel-dialog").addEventListener("close", async (e) => {
  const dialog = e.target;
  const id = cancelling;
  cancelling = null;
  if (dialog.returnValue !== "confirm" || !id) { cards.get(id)?.cancel.focus(); return; }
  const message = document.getElementById("dash-message");
  try {
    await api("POST", `/console/api/alerts/${id}/cancel`);
    message.className = "notice";
    message.textContent = t("dash_cancel_done", { id });
  } catch (err) {
    message.className = "error-text";
    message.textContent = t("dash_cancel_failed", { id, error: err.message });
  }
  message.hidden = false;
});

connect();
startHealth(document.getElementById("health"));
