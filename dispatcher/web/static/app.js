// The subscriber app: sign-up, the live inbox, one warning (with shelters), settings.
import * as api from "./api.js";
import { CLASSES, LEVELS, SEVERITY_LEVEL, language, setLanguage, t } from "./i18n.js";
import { drawMap } from "./map.js";

const $ = (sel) => document.querySelector(sel);
const state = { me: null, items: new Map(), filter: "current", open: null, es: null, lastId: 0, regions: [], geo: null };

// -- views ------------------------------------------------------------------
function show(view) {
  for (const v of document.querySelectorAll(".view")) v.hidden = v.id !== `view-${view}`;
  document.querySelector(".nav").hidden = !state.me;
  for (const b of document.querySelectorAll(".nav [data-view]")) {
    b.setAttribute("aria-current", b.dataset.view === view ? "page" : "false");
  }
  if (view === "settings") renderSettings();
  $("#main").focus({ preventScroll: true });
}

function announce(text) { $("#live").textContent = text; }

// -- offline ----------------------------------------------------------------
function setOffline(off) { $("#offline").hidden = !off; }
window.addEventListener("offline", () => setOffline(true));
window.addEventListener("online", () => { setOffline(false); if (state.me) refresh(); });

// -- sign-up ----------------------------------------------------------------
async function loadRegions() {
  try {
    const data = await (await fetch("/app/regions.json")).json();
    state.regions = data.regions;
  } catch { state.regions = []; }
  fillRegions("");
}

function fillRegions(query) {
  const q = query.trim().toLowerCase();
  const sel = $("#region");
  const keep = sel.value;
  sel.replaceChildren();
  for (const r of state.regions) {
    if (q && !(r.zh.includes(q) || r.en.toLowerCase().includes(q) || r.code.startsWith(q))) continue;
    const label = language() === "en" ? `${r.en} · ${r.zh}` : `${r.zh} · ${r.en}`;
    const opt = new Option(r.level === "district" ? label : `  ${label}`, r.code);
    sel.append(opt);
  }
  if (keep) sel.value = keep;
  if (!sel.value && sel.options.length === 1) sel.selectedIndex = 0;
}

function buildForm() {
  const classes = $("#classes");
  classes.replaceChildren();
  for (const [code, zh, en] of CLASSES) {
    const label = document.createElement("label");
    label.className = "check";
    label.innerHTML = `<input type="checkbox" name="classes" value="${code}" checked> <span></span>`;
    label.querySelector("span").textContent = language() === "en" ? en : zh;
    classes.append(label);
  }
  const levels = $("#levels");
  const chosen = levels.querySelector("input:checked")?.value || "Minor";
  levels.replaceChildren();
  for (const lv of LEVELS) {
    const label = document.createElement("label");
    label.className = `level-choice level-${lv.colour}`;
    label.innerHTML = `<input type="radio" name="level" value="${lv.severity}"> <span class="swatch" aria-hidden="true"></span> <span class="text"></span>`;
    label.querySelector(".text").textContent = lv[language()] || lv.en;
    label.querySelector("input").checked = lv.severity === chosen;
    levels.append(label);
  }
}

function formErrors(errors) {
  const box = $("#signup-errors");
  const list = box.querySelector("ul");
  list.replaceChildren();
  const target = { regions: "region", location: "geo-use", "preferences.quiet_hours": "quiet-start",
    "preferences.categories": "classes", "preferences.min_severity": "levels", language: "region" };
  for (const e of errors) {
    const li = document.createElement("li");
    const a = document.createElement("a");
    const field = e.field || e.path || "";
    a.href = `#${target[field.split("[")[0]] || "region"}`;
    a.textContent = `${field}: ${e.message}`;
    li.append(a);
    list.append(li);
  }
  box.hidden = errors.length === 0;
  if (errors.length) box.focus();
}

function signupFields() {
  const region = $("#region").value;
  const errors = [];
  if (!region) errors.push({ field: "regions", message: language() === "en" ? "choose a district or street" : "请选择区或街道" });
  const classes = [...document.querySelectorAll("input[name=classes]:checked")].map((i) => i.value);
  if (!classes.length) errors.push({ field: "preferences.categories", message: language() === "en" ? "choose at least one" : "请至少选择一项" });
  const start = $("#quiet-start").value, end = $("#quiet-end").value;
  if (Boolean(start) !== Boolean(end)) errors.push({ field: "preferences.quiet_hours", message: language() === "en" ? "give both times or neither" : "请同时填写开始和结束时间" });
  const fields = {
    regions: [region], language: document.querySelector("input[name=language]:checked").value, channels: ["inapp"],
    preferences: {
      categories: classes.length === CLASSES.length ? null : classes,
      min_severity: document.querySelector("input[name=level]:checked")?.value || "Minor",
      quiet_hours: start && end ? { start, end, utc_offset: "+08:00" } : null,
    },
  };
  if (state.geo) fields.location = state.geo;
  return { fields, errors };
}

async function signup(ev) {
  ev.preventDefault();
  const { fields, errors } = signupFields();
  formErrors(errors);
  if (errors.length) return;
  const button = $("#signup-submit");
  button.disabled = true;
  button.textContent = t("signing_up");
  try {
    const out = await api.register(fields);
    state.me = { id: out.id, token: out.token, lang: fields.language };
    api.save(state.me);
    setLanguage(fields.language);
    start();
  } catch (err) {
    formErrors(err.body?.errors?.length ? err.body.errors : [{ field: "", message: err.message }]);
  } finally {
    button.disabled = false;
    button.textContent = t("signup_submit");
  }
}

function locate(onDone) {
  if (!("geolocation" in navigator)) return onDone(null, "not available");
  navigator.geolocation.getCurrentPosition(
    (pos) => onDone({ lat: +pos.coords.latitude.toFixed(6), lon: +pos.coords.longitude.toFixed(6) }),
    (err) => onDone(null, err.message || "denied"), { enableHighAccuracy: false, timeout: 15000, maximumAge: 60000 });
}

// -- inbox ------------------------------------------------------------------
const ORDER = ["sent", "delivered", "read", "confirmed"];
const advanced = (a, b) => ORDER.indexOf(a) >= ORDER.indexOf(b);

function merge(item) {
  const had = state.items.get(item.alert_id);
  if (had && advanced(had.state, item.state)) item.state = had.state;
  state.items.set(item.alert_id, { ...had, ...item });
  // an Update replaces what it updates; a Cancel marks it cancelled
  for (const ref of item.references || []) {
    const old = state.items.get(ref);
    if (!old) continue;
    if (item.msgType === "Update") state.items.set(ref, { ...old, lifecycle: "updated", updated_by: item.alert_id });
    if (item.msgType === "Cancel") state.items.set(ref, { ...old, lifecycle: "cancelled", cancelled_by: item.alert_id });
  }
  state.lastId = Math.max(state.lastId, item.alert_id);
}

function visible() {
  const all = [...state.items.values()].filter((i) => i.msgType !== "Cancel" || !(i.references || []).some((r) => state.items.has(r)));
  all.sort((a, b) => b.alert_id - a.alert_id);
  const current = (i) => i.lifecycle === "active";
  if (state.filter === "current") return all.filter(current);
  if (state.filter === "past") return all.filter((i) => !current(i));
  return all;
}

function levelBadge(el, severity) {
  const lv = SEVERITY_LEVEL[severity] || SEVERITY_LEVEL.Unknown;
  el.className = `level level-${lv.colour}`;
  el.textContent = lv[language()] || lv.en;
}

function lifecycleText(item) {
  if (item.lifecycle === "updated" && item.updated_by) return t("lc_updated_by", { n: item.updated_by });
  return t(`lc_${item.lifecycle || "active"}`);
}

function renderInbox() {
  const list = $("#inbox");
  list.replaceChildren();
  const items = visible();
  for (const item of items) {
    const li = document.createElement("li");
    li.className = `card lc-${item.lifecycle}`;
    li.dataset.alertId = item.alert_id;
    const button = document.createElement("button");
    button.type = "button";
    button.className = "card-open";
    const badge = document.createElement("span");
    levelBadge(badge, item.severity);
    const title = document.createElement("span");
    title.className = "card-title";
    title.textContent = item.title;
    const meta = document.createElement("span");
    meta.className = "card-meta";
    meta.textContent = `${lifecycleText(item)} · ${t(`st_${item.state}`)}`;
    button.append(badge, title, meta);
    button.addEventListener("click", () => openItem(item.alert_id));
    li.append(button);
    list.append(li);
  }
  $("#inbox-empty").hidden = items.length > 0;
  api.cacheInbox([...state.items.values()]);
}

async function acknowledge(ids, status) {
  if (!ids.length) return;
  try {
    const out = await api.receipts(state.me, ids.map((id) => ({ alert_id: id, status })));
    for (const r of out.receipts) {
      const item = state.items.get(r.alert_id);
      if (item && r.state) item.state = r.state;
    }
  } catch { /* offline: the server keeps the send state; the next refresh tries again */ }
}

async function refresh() {
  try {
    const data = await api.inbox(state.me);
    setOffline(!navigator.onLine);        // offline, the service worker answers from its copy
    for (const item of data.alerts.slice().reverse()) merge(item);
    renderInbox();
    await acknowledge([...state.items.values()].filter((i) => i.state === "sent").map((i) => i.alert_id), "delivered");
    renderInbox();
  } catch (err) {
    if (err instanceof api.ApiError && err.status === 401) return forgotten();
    setOffline(true);
  }
}

function onAlert(item) {
  merge(item);
  renderInbox();
  announce(t("new_warning", { title: item.title }));
  acknowledge([item.alert_id], "delivered").then(renderInbox);
  if (item.severity === "Extreme" && item.msgType !== "Cancel") alarm(item);
  if (state.open === item.alert_id || (item.references || []).includes(state.open)) renderDetail();
}

function connect() {
  if (state.es) state.es.close();
  state.es = api.stream(state.me, state.lastId, {
    onAlert,
    onState: (s) => { $("#stream-status").textContent = t(s === "live" ? "stream_live" : "stream_reconnecting"); },
  });
}

// -- red / Extreme ------------------------------------------------------------
function alarm(item) {
  const box = $("#alarm");
  levelBadge($("#alarm-level"), item.severity);
  $("#alarm-title").textContent = item.title;
  $("#alarm-body").textContent = item.body;
  box.hidden = false;
  box.dataset.alertId = item.alert_id;
  $("#alarm-confirm").focus();
  if (navigator.vibrate) navigator.vibrate([400, 200, 400, 200, 400]);
  if (localStorage.getItem("warncast.sound") === "on") beep();
}

function beep() {
  try {
    const ctx = new AudioContext();
    const osc = ctx.createOscillator();
    osc.frequency.value = 880;
    osc.connect(ctx.destination);
    osc.start();
    osc.stop(ctx.currentTime + 1.5);
  } catch { /* no audio */ }
}

// -- one warning ------------------------------------------------------------
async function openItem(id) {
  state.open = id;
  renderDetail();
  show("detail");
  const item = state.items.get(id);
  if (item && !advanced(item.state, "read")) {
    await acknowledge([id], "read");
    renderDetail();
  }
}

function renderDetail() {
  const item = state.items.get(state.open);
  if (!item) return;
  levelBadge($("#detail-level"), item.severity);
  $("#detail-lifecycle").textContent = lifecycleText(item);
  $("#detail-lifecycle").className = `lifecycle lc-${item.lifecycle}`;
  $("#detail-title").textContent = item.title;
  $("#detail-sent").textContent = t("sent_at", { t: new Date(item.sent).toLocaleString(language()) });
  const body = $("#detail-body");
  body.replaceChildren(...item.body.split("\n").map((line) => Object.assign(document.createElement("p"), { textContent: line })));
  $("#confirm").hidden = item.state === "confirmed";
  $("#confirm-status").textContent = item.state === "confirmed" ? t("confirmed") : "";
  renderShelters(item);
}

function renderShelters(item) {
  const section = $("#shelters");
  const shelters = item.shelters || [];
  section.hidden = shelters.length === 0;
  if (!shelters.length) return;
  const list = $("#shelter-list");
  list.replaceChildren();
  for (const s of shelters) {
    const li = document.createElement("li");
    li.className = "shelter";
    const name = document.createElement("strong");
    name.textContent = s.name;
    const addr = document.createElement("span");
    addr.textContent = s.address;
    const how = document.createElement("span");
    const dist = s.distance_km < 1 ? `${Math.round(s.distance_km * 1000)} m` : `${s.distance_km.toFixed(1)} km`;
    how.textContent = `${t("shelter_line", { dist, dir: s.direction })} · ${t("shelter_capacity", { n: s.capacity })}`;
    li.append(name, addr, how);
    list.append(li);
  }
  const origin = item.shelter_origin || guessOrigin(shelters);
  const you = item.shelter_origin && item.shelter_origin.source === "district" ? t("map_district") : t("map_you");
  drawMap($("#shelter-map"), origin, shelters, t("map_label"), you);
}

// The shelters carry distance and bearing from the person: walk back from the nearest one.
function guessOrigin(shelters) {
  const s = shelters[0];
  const b = (s.bearing * Math.PI) / 180;
  const dLat = (s.distance_km * Math.cos(b)) / 110.57;
  const dLon = (s.distance_km * Math.sin(b)) / (111.32 * Math.cos((s.lat * Math.PI) / 180));
  return { lat: s.lat - dLat, lon: s.lon - dLon };
}

async function confirmSeen(id) {
  try {
    await api.receipt(state.me, id, "confirmed");
    const item = state.items.get(id);
    if (item) item.state = "confirmed";
    $("#confirm-status").textContent = t("confirmed");
    announce(t("confirmed"));
  } catch {
    $("#confirm-status").textContent = t("confirm_failed");
  }
  renderInbox();
  if (state.open === id) renderDetail();
}

// -- settings ---------------------------------------------------------------
async function renderSettings() {
  const dl = $("#me");
  $("#sound").checked = localStorage.getItem("warncast.sound") === "on";
  try {
    const sub = await api.me(state.me);
    const rows = [
      [t("me_region"), Object.values(sub.region_names).join(", ")],
      [t("me_location"), sub.location ? `${sub.location.lat}, ${sub.location.lon}` : t("me_none")],
      [t("me_level"), (LEVELS.find((l) => l.severity === sub.preferences.min_severity) || LEVELS[0])[language()]],
      [t("me_language"), sub.language === "en" ? "English" : "中文"],
      [t("me_sms"), smsText(sub)],
    ];
    dl.replaceChildren(...rows.flatMap(([k, v]) => [
      Object.assign(document.createElement("dt"), { textContent: k }),
      Object.assign(document.createElement("dd"), { textContent: v })]));
  } catch (err) {
    if (err instanceof api.ApiError && err.status === 401) forgotten();
  }
}

// -- SMS fallback: the number counts only once confirmed with the code texted to it ----------------
function smsText(sub) {
  if (sub.endpoints && sub.endpoints.sms) {
    if (state.me.smsPending) { delete state.me.smsPending; api.save(state.me); }
    return t("sms_confirmed", { number: sub.endpoints.sms });
  }
  return state.me.smsPending ? t("sms_unconfirmed", { number: state.me.smsPending }) : t("sms_none");
}

function smsError(err) {
  const first = err instanceof api.ApiError && (err.body.errors || [])[0];
  $("#sms-status").textContent = first ? `${err.message}: ${first.message}` : t("sms_failed");
}

async function smsSend(ev) {
  ev.preventDefault();
  const number = $("#sms-number").value.trim();
  if (!number) { $("#sms-status").textContent = t("sms_number_missing"); $("#sms-number").focus(); return; }
  try {
    const out = await api.setSms(state.me, number, ["inapp", "sms"]);
    state.me.smsPending = out.sms ? out.sms.number : null;
    api.save(state.me);
    await api.smsCode(state.me);
    $("#sms-code-form").hidden = false;
    $("#sms-status").textContent = t("sms_sent", { number: state.me.smsPending });
    $("#sms-code").focus();
  } catch (err) { smsError(err); }
  renderSettings();
}

async function smsConfirm(ev) {
  ev.preventDefault();
  try {
    await api.smsConfirm(state.me, $("#sms-code").value.trim());
    $("#sms-code-form").hidden = true;
    $("#sms-code").value = "";
    $("#sms-status").textContent = t("sms_done");
  } catch (err) { smsError(err); }
  renderSettings();
}

function forgotten() {
  api.forgetLocally();
  if (state.es) state.es.close();
  state.me = null;
  state.items.clear();
  state.lastId = 0;
  show("signup");
}

// -- start ------------------------------------------------------------------
function start() {
  for (const item of api.cachedInbox()) merge(item);
  renderInbox();
  show("inbox");
  setOffline(!navigator.onLine);
  refresh().then(connect);
}

function wire() {
  $("#signup").addEventListener("submit", signup);
  $("#region-search").addEventListener("input", (e) => fillRegions(e.target.value));
  $("#geo-use").addEventListener("click", () => {
    if (state.geo) { state.geo = null; $("#geo-status").textContent = ""; $("#geo-use").textContent = t("geo_use"); return; }
    locate((loc, why) => {
      state.geo = loc;
      $("#geo-status").textContent = loc ? t("geo_got", loc) : t("geo_denied", { why });
      if (loc) $("#geo-use").textContent = t("geo_forget");
    });
  });
  $("#lang-toggle").addEventListener("click", () => {
    setLanguage(language() === "en" ? "zh-CN" : "en");
    $("#lang-toggle").textContent = language() === "en" ? "中文" : "English";
    $("#lang-toggle").lang = language() === "en" ? "zh-CN" : "en";
    buildForm();
    fillRegions($("#region-search").value);
    renderInbox();
    if (state.open) renderDetail();
  });
  for (const b of document.querySelectorAll("[data-view]")) b.addEventListener("click", () => show(b.dataset.view));
  for (const b of document.querySelectorAll(".filter")) {
    b.addEventListener("click", () => {
      state.filter = b.dataset.filter;
      for (const o of document.querySelectorAll(".filter")) o.setAttribute("aria-pressed", String(o === b));
      renderInbox();
    });
  }
  $("#confirm").addEventListener("click", () => confirmSeen(state.open));
  $("#alarm-confirm").addEventListener("click", () => { const id = Number($("#alarm").dataset.alertId); $("#alarm").hidden = true; confirmSeen(id); });
  $("#alarm-open").addEventListener("click", () => { $("#alarm").hidden = true; openItem(Number($("#alarm").dataset.alertId)); });
  $("#sms-form").addEventListener("submit", smsSend);
  $("#sms-code-form").addEventListener("submit", smsConfirm);
  $("#sound").addEventListener("change", (e) => localStorage.setItem("warncast.sound", e.target.checked ? "on" : "off"));
  $("#loc-update").addEventListener("click", () => locate(async (loc, why) => {
    if (!loc) { $("#loc-status").textContent = t("geo_denied", { why }); return; }
    await api.setLocation(state.me, loc);
    $("#loc-status").textContent = t("loc_updated");
    renderSettings();
  }));
  $("#loc-remove").addEventListener("click", async () => {
    await api.setLocation(state.me, null);
    $("#loc-status").textContent = t("loc_removed");
    renderSettings();
  });
  $("#forget").addEventListener("click", () => { $("#forget-confirm").hidden = false; $("#forget-yes").focus(); });
  $("#forget-no").addEventListener("click", () => { $("#forget-confirm").hidden = true; $("#forget").focus(); });
  $("#forget-yes").addEventListener("click", async () => {
    try { await api.forget(state.me); } catch (err) { if (!(err instanceof api.ApiError && err.status === 404)) return; }
    $("#forget-confirm").hidden = true;
    forgotten();
  });
  document.addEventListener("keydown", (e) => { if (e.key === "Escape" && !$("#alarm").hidden) $("#alarm-open").click(); });
}

if ("serviceWorker" in navigator) navigator.serviceWorker.register("/app/sw.js", { scope: "/app/" }).catch(() => {});
state.me = api.saved();
setLanguage(state.me?.lang || ((navigator.language || "").startsWith("en") ? "en" : "zh-CN"));
$("#lang-toggle").textContent = language() === "en" ? "中文" : "English";
buildForm();
wire();
loadRegions();
if (state.me) start(); else show("signup");
