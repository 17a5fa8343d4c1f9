// Providers (circuit, error rate, quota use), queue depth per lane, workers with their last heartbeat and
// the fan-outs still pending: a small JSON read every few seconds.
import { t, api, el } from "./console.js";

const EVERY_MS = 3000;

function table(caption, heads, rows, id) {
  return el("div", { class: "table-wrap" }, el("table", { id },
    el("caption", {}, caption),
    el("thead", {}, el("tr", {}, heads.map((h) => el("th", { scope: "col" }, h)))),
    el("tbody", {}, rows.length ? rows.map((r) => el("tr", {}, r.map((c) => el("td", {}, c))))
      : el("tr", {}, el("td", { colspan: heads.length }, t("dash_none"))))));
}

function circuit(state) {
  return el("span", { class: `state circuit-${state}` }, t("circuit_" + state));
}

function pct(x) { return x === null || x === undefined ? "—" : `${Math.round(x * 1000) / 10}%`; }

function ago(ts, now) { return ts ? t("dash_ago", { s: Math.max(0, Math.round(now - ts)) }) : "—"; }

function render(node, h) {
  const providers = h.providers.map((p) => [p.provider, circuit(p.state), pct(p.error_rate),
    `${p.sending_per_s.toLocaleString()} / ${p.quota_per_s ? p.quota_per_s.toLocaleString() : "—"}`, pct(p.quota_use)]);
  const queues = h.queues.map((q) => [t("lane_" + q.lane), String(q.embedded), String(q.workers)]);
  const workers = h.workers.map((w) => [w.name, w.kind, w.state, ago(w.last_heartbeat, h.time), w.job || "—"]);
  const pending = h.pending.map((p) => [`#${p.id}`, p.headline || "", t("lane_" + p.lane), String(p.shards_left)]);
  node.replaceChildren(
    table(t("dash_providers"), [t("dash_provider"), t("dash_circuit"), t("dash_error_rate"), t("dash_rate_quota"), t("dash_quota_use")], providers, "providers-table"),
    table(t("dash_queues"), [t("dash_lane"), t("dash_queue_embedded"), t("dash_queue_workers")], queues, "queues-table"),
    table(t("dash_workers"), [t("dash_worker"), t("dash_kind"), t("dash_worker_state"), t("dash_heartbeat"), t("dash_job")], workers, "workers-table"),
    table(t("dash_pending"), [t("dash_alert"), t("dash_headline"), t("dash_lane"), t("dash_shards_left")], pending, "pending-table"));
}

export function startHealth(node) {
  const tick = async () => {
    try { render(node, await api("GET", "/console/api/health")); }
    catch (err) {
      node.querySelector(".health-error")?.remove();
      node.prepend(el("p", { class: "error-text health-error", role: "alert" }, t("dash_health_failed", { error: err.message })));
    }
    setTimeout(tick, EVERY_MS);
  };
  tick();
}
