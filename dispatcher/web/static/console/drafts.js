// An issuer's drafts: state with a text label, the rejection reason, edit (a new version) and withdraw.
import { api, el, formatTime, showErrors, t } from "./console.js";

const $ = (id) => document.getElementById(id);

function stateBadge(d) {
  const label = t(`state_${d.state}`);
  return el("span", { class: `state state-${d.state}` }, label);
}

function levelBadge(d) {
  return d.level ? el("span", { class: `level level-${d.level}` }, t(`level_${d.level}`)) : null;
}

function actions(d) {
  const out = [];
  if (d.state === "draft" || d.state === "rejected") {
    out.push(el("a", { href: `/console/compose?draft=${d.id}`, class: "button-link" }, t("drafts_edit")));
  }
  if (["draft", "pending", "rejected", "published"].includes(d.state)) {
    out.push(el("button", { type: "button", class: "secondary", onclick: () => withdraw(d) },
      d.state === "published" ? t("drafts_cancel_alert") : t("drafts_withdraw")));
  }
  return out;
}

function row(d) {
  const what = el("td", {}, levelBadge(d), " ", el("span", { class: "draft-headline" }, d.headline || `#${d.id}`));
  if (d.state === "rejected" && d.rejection) {
    what.append(el("p", { class: "rejection" }, t("drafts_rejected_by", { by: d.rejection.by.name, reason: d.rejection.reason })));
  }
  if (d.alert_id) what.append(el("p", { class: "muted" }, t("drafts_alert", { id: d.alert_id })));
  return el("tr", { "data-draft": d.id }, what, el("td", {}, stateBadge(d)), el("td", {}, d.version),
    el("td", {}, formatTime(d.updated)), el("td", {}, el("div", { class: "row-actions" }, actions(d))));
}

async function withdraw(d) {
  if (!confirm(d.state === "published" ? t("drafts_cancel_confirm") : t("drafts_withdraw_confirm"))) return;
  try {
    await api("POST", `/console/api/drafts/${d.id}/cancel`, {});
    $("drafts-status").textContent = t("drafts_withdrawn", { id: d.id });
    $("drafts-status").hidden = false;
    await load();
  } catch (err) {
    showErrors($("drafts-errors"), err);
  }
}

async function load() {
  const { drafts } = await api("GET", "/console/api/drafts");
  const body = $("drafts-table").querySelector("tbody");
  body.replaceChildren(...(drafts.length ? drafts.map(row) : [el("tr", {}, el("td", { colspan: 5 }, t("drafts_none")))]));
}

load().catch((err) => showErrors($("drafts-errors"), err));
