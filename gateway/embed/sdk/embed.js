// Embed a dashboard of the analytics gateway in a page (an ES module; types in embed.d.ts).
//
//   import { embedDashboard } from "https://gateway.example.com/sdk/embed.js";
//   const dashboard = embedDashboard({
//     id: "<dashboard uuid>",
//     gatewayUrl: "https://gateway.example.com",
//     mountPoint: document.getElementById("dashboard"),
//     fetchGuestToken: () => fetch("/my-backend/guest-token").then((r) => r.json()).then((b) => b.token),
//   });
//
// The credential (a guest token, or in session mode a one-time ticket) is handed to the dashboard's
// iframe over a private MessageChannel, opened by a message addressed to the gateway's origin only; the
// iframe answers on the channel only after checking that this page's origin is allowed by the tenant.

const PROTOCOL = 1;
const DEFAULTS = {
  tokenTimeoutMs: 10_000,
  handshakeTimeoutMs: 15_000,
  // Refresh a guest token when this share of its life has passed.
  refreshAt: 0.8,
  retryMinMs: 1_000,
  retryMaxMs: 30_000,
};
const SANDBOX = "allow-scripts allow-same-origin";

function claimsOf(token) {
  try {
    const part = token.split(".")[1].replace(/-/g, "+").replace(/_/g, "/");
    return JSON.parse(atob(part.padEnd(part.length + ((4 - (part.length % 4)) % 4), "=")));
  } catch {
    return null;
  }
}

function withTimeout(promise, ms) {
  let timer;
  const timeout = new Promise((_, reject) => {
    timer = setTimeout(() => reject(new Error(`fetchGuestToken did not answer within ${ms} ms`)), ms);
  });
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}

export function embedDashboard(options) {
  const { id, gatewayUrl, mountPoint, fetchGuestToken } = options ?? {};
  if (typeof id !== "string" && typeof id !== "number") throw new TypeError("embedDashboard: `id` is required");
  if (!(mountPoint instanceof HTMLElement)) throw new TypeError("embedDashboard: `mountPoint` must be an element");
  if (typeof fetchGuestToken !== "function") throw new TypeError("embedDashboard: `fetchGuestToken` must be a function");
  const mode = options.mode ?? "cookieless";
  if (mode !== "cookieless" && mode !== "session") throw new TypeError("embedDashboard: `mode` is cookieless or session");
  const gateway = new URL(gatewayUrl);
  const settings = { ...DEFAULTS, ...(options.timing ?? {}) };

  let port = null;
  let ready = false;
  let unmounted = false;
  let accessEnded = false;
  let inflight = null;
  let failures = 0;
  let filters = Array.isArray(options.filters) ? options.filters : [];
  let nextRequestId = 1;
  const timers = { refresh: null, retry: null, handshake: null };
  const pendingSizes = new Map();

  const iframe = document.createElement("iframe");
  iframe.title = options.iframeTitle ?? "Embedded dashboard";
  iframe.setAttribute("sandbox", SANDBOX);
  iframe.referrerPolicy = "strict-origin-when-cross-origin";
  iframe.style.width = "100%";
  iframe.style.height = "100%";
  iframe.style.border = "0";
  iframe.addEventListener("load", handshake);
  iframe.src = new URL(`embedded/${encodeURIComponent(String(id))}`, gateway.href.replace(/\/?$/, "/")).href;
  mountPoint.replaceChildren(iframe);

  function clearTimers() {
    for (const name of Object.keys(timers)) {
      clearTimeout(timers[name]);
      timers[name] = null;
    }
  }

  function closePort() {
    if (port) {
      port.onmessage = null;
      port.close();
    }
    port = null;
    ready = false;
  }

  // Every load of the frame (the first, or a reload) gets a fresh channel: a frame is only ever
  // talked to through the channel it accepted.
  function handshake() {
    if (unmounted) return;
    closePort();
    clearTimers();
    const channel = new MessageChannel();
    port = channel.port1;
    port.onmessage = onMessage;
    const init = { type: "gw:init", protocol: PROTOCOL, mode, ui: options.ui ?? {}, filters };
    // Addressed to the gateway's origin: if the frame shows anything else, the browser drops it.
    iframe.contentWindow.postMessage(init, gateway.origin, [channel.port2]);
    timers.handshake = setTimeout(() => {
      console.error(
        `embedDashboard: the dashboard did not answer. Is ${window.location.origin} among the tenant's allowed origins?`,
      );
    }, settings.handshakeTimeoutMs);
  }

  function onMessage(event) {
    const message = event.data;
    if (!message || typeof message.type !== "string") return;
    if (message.type === "gw:ready") {
      clearTimeout(timers.handshake);
      ready = true;
      refresh();
    } else if (message.type === "gw:refresh") {
      refresh();
    } else if (message.type === "gw:access-ended") {
      // A revoked token: handing the frame a new one is the host's decision (embed again), not ours.
      accessEnded = true;
      clearTimers();
    } else if (message.type === "gw:scroll-size") {
      const pending = pendingSizes.get(message.id);
      if (pending) {
        pendingSizes.delete(message.id);
        clearTimeout(pending.timer);
        pending.resolve({ width: Number(message.width) || 0, height: Number(message.height) || 0 });
      }
    }
  }

  function refresh() {
    if (unmounted || accessEnded || !ready) return inflight;
    if (inflight) return inflight;
    clearTimeout(timers.refresh);
    clearTimeout(timers.retry);
    const channel = port;
    inflight = withTimeout(Promise.resolve().then(fetchGuestToken), settings.tokenTimeoutMs)
      .then((credential) => {
        if (typeof credential !== "string" || credential === "") {
          throw new TypeError("fetchGuestToken must resolve to a non-empty string");
        }
        if (unmounted || channel !== port) return;
        failures = 0;
        port.postMessage(mode === "session" ? { type: "gw:ticket", ticket: credential } : { type: "gw:token", token: credential });
        if (mode === "cookieless") scheduleRefresh(credential);
      })
      .catch((error) => {
        if (unmounted || channel !== port) return;
        failures += 1;
        const backoff = Math.min(settings.retryMaxMs, settings.retryMinMs * 2 ** (failures - 1));
        const delay = backoff / 2 + Math.random() * (backoff / 2);
        console.warn(`embedDashboard: fetching a guest token failed; retrying in ${Math.round(delay)} ms`, error);
        timers.retry = setTimeout(refresh, delay);
      })
      .finally(() => {
        inflight = null;
      });
    return inflight;
  }

  function scheduleRefresh(token) {
    // The token's own life (exp - iat), counted from now: the host's clock may differ from the gateway's.
    const claims = claimsOf(token);
    if (!claims || typeof claims.exp !== "number") return;
    const lifetime = claims.exp - (typeof claims.iat === "number" ? claims.iat : Date.now() / 1000);
    if (!(lifetime > 0)) return;
    timers.refresh = setTimeout(refresh, Math.max(1_000, lifetime * 1_000 * settings.refreshAt));
  }

  function setFilters(next) {
    if (!Array.isArray(next)) throw new TypeError("setFilters: filters must be an array");
    filters = next.map((f) => ({ column: f.column, op: f.op, value: f.value ?? null }));
    if (port && ready) port.postMessage({ type: "gw:filters", filters });
  }

  function getScrollSize() {
    if (!port || !ready || unmounted) return Promise.reject(new Error("the dashboard is not connected"));
    const requestId = nextRequestId++;
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        pendingSizes.delete(requestId);
        reject(new Error("the dashboard did not report its size"));
      }, 5_000);
      pendingSizes.set(requestId, { resolve, reject, timer });
      port.postMessage({ type: "gw:get-scroll-size", id: requestId });
    });
  }

  function unmount() {
    if (unmounted) return;
    unmounted = true;
    clearTimers();
    for (const pending of pendingSizes.values()) {
      clearTimeout(pending.timer);
      pending.reject(new Error("the dashboard was unmounted"));
    }
    pendingSizes.clear();
    iframe.removeEventListener("load", handshake);
    closePort();
    iframe.remove();
  }

  return { unmount, getScrollSize, setFilters };
}
