// The composer: template + level fill both languages' texts; every change asks the server for the
// real renderings, the validator's findings and the audience estimate; Save keeps a version,
// Submit sends it for approval (or straight out when no approval rule applies).
import { api, el, lang, showErrors, t } from "./console.js";
import { AreaPicker } from "./compose_area.js";

const LANGS = ["zh-CN", "en"];
const COLOURS = ["blue", "yellow", "orange", "red"];
const $ = (id) => document.getElementById(id);
const state = { library: null, draft: null, updateOf: null, level: null, timer: null, seq: 0 };
const area = new AreaPicker(() => schedulePreview());

function signalName(s) { return s.name[lang()] || s.name.en; }

function renderLevels() {
  const signal = state.library.signals.find((s) => s.id === $("template").value);
  const offered = signal ? COLOURS.filter((c) => c in signal.levels) : COLOURS;
  if (!offered.includes(state.level)) state.level = null;
  $("levels").replaceChildren(...offered.map((c) => {
    const input = el("input", { type: "radio", name: "level", value: c, checked: state.level === c });
    input.addEventListener("change", () => chooseLevel(c));
    const name = state.library.levels[c].name[lang()];
    return el("label", { class: `level-choice level-${c}` }, input, el("span", { class: "swatch", "aria-hidden": "true" }), name);
  }));
}

function chooseLevel(colour) {
  state.level = colour;
  const m = state.library.levels[colour];
  $("severity").value = m.severity; $("urgency").value = m.urgency; $("certainty").value = m.certainty;
  const signal = state.library.signals.find((s) => s.id === $("template").value);
  if (signal && signal.levels[colour]) {
    for (const l of LANGS) for (const [field, text] of Object.entries(signal.levels[colour][l])) setText(l, field, text);
  }
  schedulePreview();
}

function setText(l, field, value) { $(`${field}-${l}`).value = value || ""; }

function languages() {
  return [...document.querySelectorAll("input[name=languages]:checked")].map((i) => i.value);
}

function expiresValue() {
  const v = $("expires").value;
  return v ? `${v.length === 16 ? v + ":00" : v}+08:00` : "";
}

function collect() {
  const texts = {};
  for (const l of languages()) {
    texts[l] = {};
    for (const f of ["event", "headline", "description", "instruction"]) texts[l][f] = $(`${f}-${l}`).value;
  }
  const form = {
    template: $("template").value || null, level: state.level, status: $("status").value,
    msg_type: state.updateOf ? "Update" : "Alert", update_of: state.updateOf,
    severity: $("severity").value, urgency: $("urgency").value, certainty: $("certainty").value, category: "Met",
    sender: $("sender").value, sender_name: $("sender-name").value, expires: expiresValue(),
    languages: languages(), texts, area: area.value(),
  };
  return form;
}

function fill(form) {
  $("template").value = form.template || "";
  state.level = form.level || null;
  renderLevels();
  for (const id of ["status", "severity", "urgency", "certainty"]) if (form[id]) $(id).value = form[id];
  if (form.sender) $("sender").value = form.sender;
  $("sender-name").value = form.sender_name || "";
  if (form.expires) $("expires").value = form.expires.slice(0, 16);
  for (const box of document.querySelectorAll("input[name=languages]")) box.checked = (form.languages || LANGS).includes(box.value);
  for (const l of LANGS) for (const f of ["event", "headline", "description", "instruction"]) setText(l, f, form.texts?.[l]?.[f]);
  state.updateOf = form.msg_type === "Update" ? form.update_of : null;
  if (state.updateOf) {
    $("update-of").hidden = false;
    $("update-of").textContent = t("compose_updating", { id: state.updateOf });
    $("compose-title").textContent = t("compose_update_title", { id: state.updateOf });
  }
  area.set(form.area || {});
  showLanguages();
}

function showLanguages() {
  const on = languages();
  for (const fs of document.querySelectorAll("fieldset.texts")) fs.hidden = !on.includes(fs.dataset.lang);
}

function schedulePreview() {
  clearTimeout(state.timer);
  state.timer = setTimeout(runPreview, 350);
}

async function runPreview() {
  const seq = ++state.seq;
  try {
    const out = await api("POST", "/console/api/preview", { form: collect() });
    if (seq === state.seq) renderPreview(out);
  } catch (err) {
    if (seq === state.seq) $("validator").replaceChildren(el("p", { class: "error-text" }, t("request_failed", { message: err.message })));
  }
}

function findings(title, items, cls) {
  if (!items.length) return null;
  return el("div", { class: cls }, el("h3", {}, title), el("ul", {}, items.map((e) => el("li", {}, [e.field || e.path, e.message].filter(Boolean).join(": ")))));
}

function renderPreview(out) {
  const problems = [...out.form_errors, ...out.errors];
  $("validator").replaceChildren(...[
    findings(t("compose_problems", { n: problems.length }), problems, "error-summary inline"),
    findings(t("compose_warnings", { n: out.warnings.length }), out.warnings, "warning-text"),
    problems.length || out.warnings.length ? null : el("p", { class: "notice" }, t("compose_valid")),
  ].filter(Boolean));
  $("previews").replaceChildren(...Object.entries(out.channels).map(([l, ch]) => renderCards(l, ch)));
  renderEstimate(out.estimate);
}

function renderCards(l, ch) {
  const level = state.level ? state.library.levels[state.level].name[lang()] : "";
  return el("div", { class: "preview-lang", lang: l, "data-lang": l },
    el("h3", {}, l === "zh-CN" ? "中文" : "English"),
    el("div", { class: "card push-card", "data-channel": "push" }, el("p", { class: "card-kind" }, t("compose_push")),
      el("p", { class: "card-title" }, ch.push.title), el("p", {}, ch.push.body)),
    el("div", { class: "card sms-card", "data-channel": "sms" }, el("p", { class: "card-kind" }, t("compose_sms")),
      el("p", { class: "sms-text" }, ch.sms.body),
      el("p", { class: "sms-meta" }, t("compose_sms_meta", { segments: ch.sms.segments, encoding: ch.sms.encoding, chars: ch.sms.characters }))),
    el("div", { class: "card inapp-card", "data-channel": "inapp" }, el("p", { class: "card-kind" }, t("compose_inapp")),
      level ? el("span", { class: `level level-${state.level}` }, level) : null,
      el("p", { class: "card-title" }, ch.inapp.title), el("p", { class: "card-body" }, ch.inapp.body)));
}

function renderEstimate(est) {
  if (!est) { $("estimate").replaceChildren(el("p", { class: "hint" }, t("compose_estimate_wait"))); return; }
  const name = (d) => (d.code === "none" ? t("compose_by_location") : (lang() === "en" ? d.name_en : d.name) || d.code);
  $("estimate").replaceChildren(
    el("p", { class: "estimate-total", id: "estimate-total" }, t("compose_estimate_total", { targeted: est.targeted, suppressed: est.suppressed })),
    el("div", { class: "table-wrap" }, el("table", { id: "estimate-districts" },
      el("caption", {}, t("compose_by_district")),
      el("thead", {}, el("tr", {}, el("th", { scope: "col" }, t("compose_district")), el("th", { scope: "col" }, t("compose_targeted")), el("th", { scope: "col" }, t("compose_suppressed")))),
      el("tbody", {}, est.by_district.map((d) => el("tr", {}, el("td", {}, name(d)), el("td", {}, d.targeted), el("td", {}, d.suppressed)))))),
    el("div", { class: "table-wrap" }, el("table", { id: "estimate-channels" },
      el("caption", {}, t("compose_by_channel")),
      el("thead", {}, el("tr", {}, el("th", { scope: "col" }, t("compose_channel")), el("th", { scope: "col" }, t("compose_targeted")))),
      el("tbody", {}, Object.entries(est.by_channel).map(([c, n]) => el("tr", {}, el("td", {}, c), el("td", {}, n)))))),
    el("p", { class: "hint" }, t("compose_sms_cost", { n: est.sms_segments })));
}

async function save() {
  const form = collect();
  const out = state.draft
    ? await api("PUT", `/console/api/drafts/${state.draft.id}`, { version: state.draft.version, form })
    : await api("POST", "/console/api/drafts", { form });
  state.draft = out;
  history.replaceState(null, "", `/console/compose?draft=${out.id}`);
  return out;
}

function status(text, link) {
  $("compose-status").replaceChildren(text, link ? " " : "", link || "");
  $("compose-status").hidden = false;
  $("compose-status").focus?.();
}

async function act(submit) {
  showErrors($("compose-errors"), null);
  try {
    let draft = await save();
    if (!submit) return status(t("compose_saved", { id: draft.id, version: draft.version }));
    draft = await api("POST", `/console/api/drafts/${draft.id}/submit`, { version: draft.version });
    state.draft = draft;
    const link = el("a", { href: "/console/drafts" }, t("nav_drafts"));
    if (draft.state === "pending") status(t("compose_sent_for_approval", { id: draft.id, version: draft.version }), link);
    else status(t("compose_published", { alert: draft.alert_id }), link);
  } catch (err) {
    showErrors($("compose-errors"), err);
  }
}

async function start() {
  const [library, regions] = await Promise.all([api("GET", "/console/api/templates"), api("GET", "/console/api/regions")]);
  state.library = library;
  $("template").append(...library.signals.map((s) => el("option", { value: s.id }, signalName(s))));
  $("template").addEventListener("change", () => { renderLevels(); if (state.level) chooseLevel(state.level); schedulePreview(); });
  renderLevels();
  await area.load(regions);
  $("expires").value = $("expires").dataset.default.slice(0, 16);
  $("compose-form").addEventListener("input", (e) => { if (e.target.name === "languages") showLanguages(); schedulePreview(); });
  $("save-draft").addEventListener("click", () => act(false));
  $("submit-draft").addEventListener("click", () => act(true));
  const begin = JSON.parse($("compose-start").textContent || "{}");
  if (begin.draft) {
    const draft = await api("GET", `/console/api/drafts/${begin.draft}`);
    state.draft = draft;
    fill(draft.form);
    if (draft.state === "rejected" && draft.rejection) {
      status(t("compose_rejected", { by: draft.rejection.by.name, reason: draft.rejection.reason }));
    }
  } else if (begin.form) {
    fill(begin.form);
  }
  schedulePreview();
}

start();
