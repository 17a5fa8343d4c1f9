// Service worker of the subscriber app: the shell is cached so the app opens offline; the inbox is
// fetched from the network first and the last answer kept for reading offline.
const SHELL = "warncast-shell-v2";
const DATA = "warncast-inbox-v1";
const FILES = ["/app/", "/app/static/app.js", "/app/static/api.js", "/app/static/i18n.js", "/app/static/map.js",
  "/app/static/app.css", "/app/static/icon.svg", "/app/manifest.webmanifest", "/app/regions.json",
  "/vendor/leaflet/leaflet.js", "/vendor/leaflet/leaflet.css"];

self.addEventListener("install", (event) => {
  event.waitUntil(caches.open(SHELL).then((c) => c.addAll(FILES)).then(() => self.skipWaiting()));
});

self.addEventListener("activate", (event) => {
  event.waitUntil(caches.keys()
    .then((names) => Promise.all(names.filter((n) => n !== SHELL && n !== DATA).map((n) => caches.delete(n))))
    .then(() => self.clients.claim()));
});

async function networkFirst(request, cacheName, key) {
  try {
    const resp = await fetch(request);
    if (resp.ok) (await caches.open(cacheName)).put(key || request, resp.clone());
    return resp;
  } catch (err) {
    const hit = await caches.match(key || request);
    if (hit) return hit;
    throw err;
  }
}

self.addEventListener("fetch", (event) => {
  const url = new URL(event.request.url);
  if (event.request.method !== "GET" || url.origin !== self.location.origin) return;
  if (url.pathname === "/api/v1/inbox") {
    event.respondWith(networkFirst(event.request, DATA, "/api/v1/inbox"));
  } else if (url.pathname === "/app" || url.pathname === "/app/") {
    event.respondWith(networkFirst(event.request, SHELL, "/app/"));
  } else if (FILES.includes(url.pathname)) {
    event.respondWith(networkFirst(event.request, SHELL));
  }
});
