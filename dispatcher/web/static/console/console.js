// Shared helpers of the console pages: strings in the page's language, fetch with the session's
// CSRF token, a small DOM builder (text only, never HTML strings) and the error summary.
const strings = JSON.parse(document.getElementById("console-strings")?.textContent || "{}");

export function lang() {
  return document.documentElement.lang || "zh-CN";
}

export function t(key, values = {}) {
  const text = strings[key] ?? key;
  return text.replace(/\{(\w+)\}/g, (m, name) => (name in values ? String(values[name]) : m));
}

export function csrf() {
  return document.querySelector('meta[name="csrf-token"]')?.content || "";
}

export class ApiError extends Error {
  constructor(status, body) {
    super(body?.error || `HTTP ${status}`);
    this.status = status;
    this.errors = body?.errors || [];
    this.warnings = body?.warnings || [];
  }
}

// JSON over fetch; every state change carries the CSRF token. Throws ApiError on 4xx/5xx.
export async function api(method, path, body) {
  const headers = { Accept: "application/json" };
  if (method !== "GET") headers["X-CSRF-Token"] = csrf();
  if (body !== undefined) headers["Content-Type"] = "application/json";
  const resp = await fetch(path, {
    method, headers, credentials: "same-origin",
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  if (resp.status === 401) {
    location.assign("/console/sign-in?next=" + encodeURIComponent(location.pathname + location.search));
    throw new ApiError(401, { error: "signed out" });
  }
  const data = (resp.headers.get("Content-Type") || "").includes("json") ? await resp.json() : null;
  if (!resp.ok) throw new ApiError(resp.status, data);
  return data;
}

// el("p", {class: "hint"}, "text", child…): attributes set as attributes, children as text or nodes.
export function el(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  for (const [name, value] of Object.entries(attrs || {})) {
    if (value === false || value === null || value === undefined) continue;
    if (name.startsWith("on")) node.addEventListener(name.slice(2), value);
    else node.setAttribute(name, value === true ? "" : value);
  }
  for (const child of children.flat()) {
    if (child === null || child === undefined || child === false) continue;
    node.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return node;
}

// An error summary at the top of a form: a heading and one line per error, focused for screen readers.
export function showErrors(box, error) {
  box.replaceChildren();
  if (!error) { box.hidden = true; return; }
  const items = (error.errors && error.errors.length ? error.errors : [{ message: error.message }])
    .map((e) => el("li", {}, [e.path || e.field, e.message].filter(Boolean).join(": ")));
  box.append(el("h2", {}, t("error_title")), el("p", {}, error.message), el("ul", {}, items));
  box.hidden = false;
  box.focus();
}

export function severityLevel(severity) {
  return { Extreme: "red", Severe: "orange", Moderate: "yellow", Minor: "blue" }[severity] || "";
}

export function formatTime(seconds) {
  if (!seconds) return "";
  return new Date(seconds * 1000).toLocaleString(lang() === "en" ? "en-GB" : "zh-CN", { hour12: false });
}
