// Approvals: the warnings waiting for a second person; for one, what changed since the previous
// version, the whole text as it would go out, approve, or reject with a reason its author reads.
import { api, el, formatTime, showErrors, t } from "./console.js";

const $ = (id) => document.getElementById(id);
let current = null;

function levelBadge(form) {
  return form.level ? el("span", { class: `level level-${form.level}` }, t(`level_${form.level}`)) : null;
}

async function load() {
  const { drafts } = await api("GET", "/console/api/drafts?pending=1");
  $("pending-list").replaceChildren(...(drafts.length ? drafts.map((d) => el("li", {},
    el("button", { type: "button", class: "pending-item", "data-draft": d.id, onclick: () => open(d.id) },
      d.level ? el("span", { class: `level level-${d.level}` }, t(`level_${d.level}`)) : null, " ",
      el("span", {}, d.headline), " ", el("span", { class: "muted" }, t("approvals_version", { n: d.version })))))
    : [el("li", {}, t("approvals_none"))]));
}

function runs(change) {
  return el("p", { class: "diff-text" }, change.runs.map((r) =>
    r.op === "same" ? r.text : el(r.op === "insert" ? "ins" : "del", {}, r.text)));
}

function renderDiff(d, diff) {
  if (d.version === 1) return el("p", { class: "hint" }, t("approvals_first_version"));
  if (!diff.changes.length) return el("p", { class: "hint" }, t("approvals_no_changes"));
  return el("div", { class: "diff", id: "diff" }, el("h3", {}, t("approvals_changes", { from: diff.from, to: diff.to })),
    el("dl", {}, diff.changes.flatMap((c) => [el("dt", {}, c.field), el("dd", {}, runs(c))])));
}

function renderContent(form) {
  const area = form.area || {};
  const parts = [];
  for (const l of form.languages || []) {
    const tx = form.texts[l];
    parts.push(el("div", { class: "card", lang: l }, el("p", { class: "card-title" }, tx.headline),
      el("p", {}, tx.description), el("p", {}, el("strong", {}, t("compose_instruction") + ": "), tx.instruction)));
  }
  parts.push(el("p", {}, el("strong", {}, t("compose_area") + ": "),
    [...(area.codes || []), ...(area.polygons || []).map((_, i) => t("compose_polygon_n", { n: i + 1 })),
      ...(area.circles || []).map((c) => `${c[0]}, ${c[1]} r=${c[2]} km`)].join("; ")));
  parts.push(el("p", {}, `${form.status} · ${form.severity} · ${form.urgency} · ${form.certainty} · ${t("compose_expires")}: ${form.expires}`));
  return parts;
}

async function open(id) {
  const d = await api("GET", `/console/api/drafts/${id}`);
  const diff = await api("GET", `/console/api/drafts/${id}/diff?to=${d.version}`);
  current = d;
  $("review").hidden = false;
  $("review-title").replaceChildren(levelBadge(d.form) || "", " ", d.form.texts[d.form.languages[0]].headline);
  $("review-meta").textContent = t("approvals_meta", { id: d.id, version: d.version,
    authors: d.authors.map((a) => `${a.name} (${a.org})`).join(", "), when: formatTime(d.updated) });
  $("review-diff").replaceChildren(renderDiff(d, diff));
  $("review-content").replaceChildren(...renderContent(d.form));
  $("reject-reason").value = "";
  $("review-title").focus?.();
}

function done(text) {
  $("approvals-status").textContent = text;
  $("approvals-status").hidden = false;
  $("review").hidden = true;
  $("approvals-status").focus();
  return load();
}

async function decide(approve) {
  showErrors($("approvals-errors"), null);
  try {
    if (approve) {
      const d = await api("POST", `/console/api/drafts/${current.id}/approve`, { version: current.version });
      await done(t("approvals_approved", { id: d.id, alert: d.alert_id }));
    } else {
      const d = await api("POST", `/console/api/drafts/${current.id}/reject`, { version: current.version, reason: $("reject-reason").value });
      await done(t("approvals_rejected", { id: d.id }));
    }
  } catch (err) {
    showErrors($("approvals-errors"), err);
  }
}

$("approve").addEventListener("click", () => decide(true));
$("reject").addEventListener("click", () => decide(false));
load().catch((err) => showErrors($("approvals-errors"), err));

