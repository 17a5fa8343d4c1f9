// The subscriber's side of the warncast API: its token is kept in this origin's storage only.
const KEY = "warncast.subscriber";
const INBOX = "warncast.inbox";

export function saved() {
  try { return JSON.parse(localStorage.getItem(KEY) || "null"); } catch { return null; }
}
export function save(me) { localStorage.setItem(KEY, JSON.stringify(me)); }
export function forgetLocally() { localStorage.removeItem(KEY); localStorage.removeItem(INBOX); }
export function cachedInbox() {
  try { return JSON.parse(localStorage.getItem(INBOX) || "[]"); } catch { return []; }
}
export function cacheInbox(items) { localStorage.setItem(INBOX, JSON.stringify(items)); }

export class ApiError extends Error {
  constructor(status, body) {
    super((body && body.error) || `HTTP ${status}`);
    this.status = status;
    this.body = body || {};
  }
}

async function call(method, path, { token, body } = {}) {
  const headers = { Accept: "application/json" };
  if (token) headers.Authorization = `Bearer ${token}`;
  if (body !== undefined) headers["Content-Type"] = "application/json";
  const resp = await fetch(path, { method, headers, body: body === undefined ? undefined : JSON.stringify(body) });
  const data = resp.status === 204 ? null : await resp.json().catch(() => null);
  if (!resp.ok) throw new ApiError(resp.status, data);
  return data;
}

export const register = (fields) => call("POST", "/api/v1/subscribers", { body: fields });
export const me = (s) => call("GET", `/api/v1/subscribers/${s.id}`, { token: s.token });
export const forget = (s) => call("DELETE", `/api/v1/subscribers/${s.id}`, { token: s.token });
export const setLocation = (s, loc) => call("PATCH", `/api/v1/subscribers/${s.id}`, { token: s.token, body: { location: loc } });
export const setSms = (s, number, channels) =>
  call("PATCH", `/api/v1/subscribers/${s.id}`, { token: s.token, body: { endpoints: { sms: number }, channels } });
export const smsCode = (s) => call("POST", `/api/v1/subscribers/${s.id}/sms:verify`, { token: s.token, body: {} });
export const smsConfirm = (s, code) =>
  call("POST", `/api/v1/subscribers/${s.id}/sms:verify`, { token: s.token, body: { code } });
export const inbox = (s) => call("GET", "/api/v1/inbox", { token: s.token });
export const receipt = (s, alertId, status) =>
  call("POST", "/api/v1/receipts", { token: s.token, body: { alert_id: alertId, status } });
export const receipts = (s, list) => call("POST", "/api/v1/receipts", { token: s.token, body: { receipts: list } });

// The live stream: EventSource reconnects by itself and sends Last-Event-ID; a new one (after a
// reload) starts from the last alert this device saw.
export function stream(s, lastId, { onAlert, onState }) {
  const q = new URLSearchParams({ access_token: s.token });
  if (lastId) q.set("last_event_id", String(lastId));
  const es = new EventSource(`/api/v1/inbox/stream?${q}`);
  es.addEventListener("open", () => onState("live"));
  es.addEventListener("error", () => onState("reconnecting"));
  es.addEventListener("alert", (ev) => onAlert(JSON.parse(ev.data), Number(ev.lastEventId)));
  return es;
}
