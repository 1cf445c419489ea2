// amigo's customer app: the shell (styles, scripts, the offline page) is
// cached; pages always come from the network (figures must be fresh), the
// offline page when there is none.
const CACHE = "amigo-app-v1";
const SHELL = ["/static/app.css", "/static/app.js", "/static/htmx.min.js", "/static/uplot.min.js", "/static/uplot.min.css", "/static/icon.svg", "/app/offline"];
self.addEventListener("install", (e) => {
  e.waitUntil(caches.open(CACHE).then((c) => c.addAll(SHELL)).then(() => self.skipWaiting()));
});
self.addEventListener("activate", (e) => {
  e.waitUntil(caches.keys().then((ks) => Promise.all(ks.filter((k) => k !== CACHE).map((k) => caches.delete(k)))).then(() => self.clients.claim()));
});
self.addEventListener("fetch", (e) => {
  const req = e.request;
  if (req.method !== "GET") return;
  const url = new URL(req.url);
  if (url.origin !== location.origin) return;
  if (url.pathname.startsWith("/static/")) {
    e.respondWith(caches.match(req).then((r) => r || fetch(req)));
    return;
  }
  if (req.mode === "navigate") {
    e.respondWith(fetch(req).catch(() => caches.match("/app/offline")));
  }
});
