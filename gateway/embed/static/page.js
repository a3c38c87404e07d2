// The embedded dashboard page. It holds no credential until the host's SDK hands one over a
// MessageChannel, after a handshake it accepts only from the tenant's allowed origins; the credential
// then lives in this page's memory (cookieless mode) or becomes an HttpOnly session cookie (session
// mode), and travels to nobody else.
import { renderChart, renderMessage } from "./charts.js";

const config = JSON.parse(document.getElementById("gw-config").textContent);
const root = document.getElementById("dashboard");
// The gateway's root, from this page's address (/embedded/{dashboard}), whatever prefix it is served under.
const gatewayRoot = new URL("../", window.location.href);
const MAX_FILTERS = 50;
// Ask the host for a new session when this share of its life has passed (session mode).
const REFRESH_AT = 0.8;
// Credentials asked for in a row without the dashboard loading: past this, the page stops asking
// (a host handing out tokens that are already expired would otherwise be asked forever).
const MAX_REFRESHES = 3;

const state = {
  port: null,
  hostOrigin: null,
  mode: "cookieless",
  ui: { hideTitle: false, theme: "light" },
  filters: [],
  token: null,
  csrfToken: null,
  sessionTimer: null,
  dashboard: null,
  tiles: new Map(), // chart id -> tile element
  // A page-level failure (access ended, session expired...): the dashboard is replaced by it.
  failure: null,
  // Bumped by every (re)load, so that an answer to an older one is dropped.
  generation: 0,
  refreshes: 0,
};

// ------------------------------------------------------------------------------------- handshake

function originAllowed(origin, patterns) {
  // Same rule as the gateway (gateway/http/origins.py): exact, or `scheme://*.domain[:port]` covering
  // any subdomain (never the domain itself, another scheme or another port).
  for (const pattern of patterns) {
    if (origin === pattern) return true;
    const at = pattern.indexOf("://");
    const hostPort = pattern.slice(at + 3);
    if (at > 0 && hostPort.startsWith("*.")) {
      const prefix = pattern.slice(0, at + 3);
      const suffix = hostPort.slice(1);
      const host = origin.startsWith(prefix) ? origin.slice(prefix.length) : "";
      if (host.endsWith(suffix) && host.length > suffix.length && !host.includes("/")) return true;
    }
  }
  return false;
}

function onHandshake(event) {
  // Only the window framing this page, only from an origin the tenant allows, only once.
  if (window.parent === window || event.source !== window.parent) return;
  if (!originAllowed(event.origin, config.allowedOrigins)) return;
  const message = event.data;
  if (!message || message.type !== "gw:init" || event.ports.length !== 1) return;
  window.removeEventListener("message", onHandshake);
  state.hostOrigin = event.origin;
  state.port = event.ports[0];
  state.mode = message.mode === "session" ? "session" : "cookieless";
  state.ui = readUi(message.ui);
  state.filters = readFilters(message.filters) ?? [];
  state.port.onmessage = onPortMessage;
  applyUi();
  showStatus("Loading dashboard…", "Waiting for access from the host application.");
  post({ type: "gw:ready", protocol: config.protocol });
}

function readUi(ui) {
  const value = ui && typeof ui === "object" ? ui : {};
  return { hideTitle: value.hideTitle === true, theme: value.theme === "dark" ? "dark" : "light" };
}

function readFilters(filters) {
  if (!Array.isArray(filters) || filters.length > MAX_FILTERS) return null;
  const valid = filters.every(
    (f) => f && typeof f === "object" && typeof f.column === "string" && typeof f.op === "string",
  );
  return valid ? filters.map((f) => ({ column: f.column, op: f.op, value: f.value ?? null })) : null;
}

function post(message) {
  state.port?.postMessage(message);
}

function onPortMessage(event) {
  const message = event.data;
  if (!message || typeof message.type !== "string") return;
  if (message.type === "gw:token" && typeof message.token === "string") acceptToken(message.token);
  else if (message.type === "gw:ticket" && typeof message.ticket === "string") redeemTicket(message.ticket);
  else if (message.type === "gw:filters") setFilters(message.filters);
  else if (message.type === "gw:get-scroll-size") post({ type: "gw:scroll-size", id: message.id, ...scrollSize() });
}

// ----------------------------------------------------------------------------------- credentials

function tokenClaims(token) {
  try {
    const part = token.split(".")[1].replace(/-/g, "+").replace(/_/g, "/");
    return JSON.parse(atob(part.padEnd(part.length + ((4 - (part.length % 4)) % 4), "=")));
  } catch {
    return null;
  }
}

function acceptToken(token) {
  if (state.mode !== "cookieless") return;
  // A token that names the sites it may be used from is never used from another one, not even for a
  // request the server would refuse (the page's requests come from the gateway's own origin).
  const claims = tokenClaims(token);
  if (!claims || (Array.isArray(claims.origins) && !originAllowed(state.hostOrigin, claims.origins))) {
    state.token = null;
    fail(failureOf(403, "origin_forbidden", "dashboard"));
    return;
  }
  state.token = token;
  credentialArrived();
}

async function redeemTicket(ticket) {
  if (state.mode !== "session") return;
  let answer;
  try {
    answer = await request("POST", "embedded/session", { ticket }, { withCredential: false });
  } catch (failure) {
    state.csrfToken = null;
    fail(failureOf(failure.status, failure.code, "session"));
    return;
  }
  state.csrfToken = answer.csrf_token;
  clearTimeout(state.sessionTimer);
  const expiresAt = typeof answer.expires_at === "number" ? answer.expires_at * 1000 : Date.parse(answer.expires_at);
  const remaining = expiresAt - Date.now();
  if (Number.isFinite(remaining) && remaining > 0) {
    state.sessionTimer = setTimeout(() => post({ type: "gw:refresh" }), remaining * REFRESH_AT);
  }
  credentialArrived();
}

function credentialArrived() {
  // A plain refresh changes nothing on screen; after a failure (or at first) the dashboard is loaded,
  // keeping the filters the host set.
  if (state.failure || !state.dashboard) loadDashboard();
}

// --------------------------------------------------------------------------------------- requests

class ApiFailure extends Error {
  constructor(status, code, message) {
    super(message || code);
    this.status = status;
    this.code = code;
  }
}

async function request(method, path, body, { withCredential = true } = {}) {
  const headers = { Accept: "application/json" };
  if (withCredential && state.mode === "cookieless") headers.Authorization = `Bearer ${state.token}`;
  if (withCredential && state.mode === "session" && method !== "GET") headers["X-CSRF-Token"] = state.csrfToken;
  // Every dashboard framed on one host page shares the gateway's cookie jar there: each session is
  // kept under a cookie named after its dashboard, and each request says which one it means.
  if (state.mode === "session") headers["X-Embed-Slot"] = config.dashboard;
  const init = {
    method,
    headers,
    cache: "no-store",
    // Cookieless mode sends no cookie at all; session mode sends the session cookie to the gateway only.
    credentials: state.mode === "session" ? "same-origin" : "omit",
  };
  if (body !== undefined) {
    headers["Content-Type"] = "application/json";
    init.body = JSON.stringify(body);
  }
  let response;
  try {
    response = await fetch(new URL(path, gatewayRoot), init);
  } catch {
    throw new ApiFailure(0, "unreachable", "");
  }
  let payload = null;
  try {
    payload = await response.json();
  } catch {
    payload = null;
  }
  if (!response.ok) {
    const error = (payload && payload.error) || {};
    throw new ApiFailure(response.status, String(error.code || `http_${response.status}`), String(error.message || ""));
  }
  return payload;
}

// What a person sees for a failure: `page` failures replace the dashboard, others stay in their chart.
function failureOf(status, code, context) {
  const failure = { status, code, page: false, retry: false, refresh: false, session: context === "session" };
  if (status === 401 && (code === "token_expired" || code === "session_invalid" || code === "missing_token")) {
    return { ...failure, page: true, refresh: true, title: "Your session has expired", detail: "Reconnecting…" };
  }
  if (status === 401 && code === "token_revoked") {
    return {
      ...failure,
      page: true,
      title: "Access to this dashboard was revoked",
      detail: "Sign in again in the application you came from to see it.",
    };
  }
  if (status === 401 && context === "session") {
    return {
      ...failure,
      page: true,
      title: "This dashboard could not start a session",
      detail: "The access link was already used or has expired. Reload the page to try again.",
    };
  }
  if (status === 401) {
    return {
      ...failure,
      page: true,
      title: "This dashboard could not confirm your access",
      detail: "Reload the page; if it keeps happening, contact the application's support.",
    };
  }
  if (status === 403 && code === "origin_forbidden") {
    return {
      ...failure,
      page: true,
      title: "This dashboard may not be shown on this site",
      detail: "The site embedding it is not among the ones allowed to.",
    };
  }
  if (status === 403 && context !== "chart") {
    return { ...failure, page: true, title: "You do not have access to this dashboard", detail: "" };
  }
  if (status === 403) return { ...failure, title: "You do not have access to this chart", detail: "" };
  if (status === 422) return { ...failure, title: "The current filters do not apply to this chart", detail: "" };
  // Without a dashboard or a session there is nothing to show: these failures then fill the page.
  const page = context !== "chart";
  if (status === 0) {
    return { ...failure, page, retry: true, title: "The analytics service cannot be reached", detail: "Check your connection and try again." };
  }
  if (status >= 500) {
    const title = code.startsWith("warehouse_")
      ? "The data source is not answering right now"
      : "The analytics service is not available right now";
    return { ...failure, page, retry: true, title, detail: "Try again in a moment." };
  }
  return { ...failure, page, retry: true, title: "Something went wrong", detail: "" };
}

function fail(failure) {
  state.generation += 1;
  state.failure = failure;
  state.dashboard = null;
  state.tiles.clear();
  // A session that could not be opened needs a new ticket; anything else, another try with what we hold.
  const retry = failure.retry ? (failure.session ? askForCredential : loadDashboard) : null;
  let shown = failure;
  if (failure.refresh) {
    if (state.refreshes < MAX_REFRESHES) askForCredential();
    else shown = { ...failure, detail: "The application you came from could not renew your access. Reload the page." };
  }
  root.setAttribute("aria-busy", "false");
  root.replaceChildren(
    renderMessage({ kind: "error", title: shown.title, detail: shown.detail, code: shown.code, onRetry: retry }),
  );
  if (failure.code === "token_revoked") post({ type: "gw:access-ended", reason: failure.code });
}

function askForCredential() {
  state.refreshes += 1;
  post({ type: "gw:refresh" });
}

function showStatus(title, detail) {
  root.setAttribute("aria-busy", "true");
  root.replaceChildren(renderMessage({ kind: "waiting", title, detail }));
}

// -------------------------------------------------------------------------------------- dashboard

async function loadDashboard() {
  const generation = ++state.generation;
  state.failure = null;
  showStatus("Loading dashboard…", "");
  let dashboard;
  try {
    dashboard = await request("GET", `api/v1/dashboard/${encodeURIComponent(config.dashboard)}`);
  } catch (failure) {
    if (generation === state.generation) fail(failureOf(failure.status, failure.code, "dashboard"));
    return;
  }
  if (generation !== state.generation) return;
  state.dashboard = dashboard;
  state.refreshes = 0;
  document.title = dashboard.title;
  drawDashboard(dashboard);
  loadCharts();
}

function drawDashboard(dashboard) {
  const header = document.createElement("header");
  header.className = "dashboard-header";
  const title = document.createElement("h1");
  title.textContent = dashboard.title;
  header.append(title);
  header.hidden = state.ui.hideTitle;

  const grid = document.createElement("div");
  grid.className = "grid";
  const layout = dashboard.layout && typeof dashboard.layout === "object" ? dashboard.layout : {};
  const columns = Number.isInteger(layout.columns) && layout.columns > 0 ? layout.columns : 12;
  grid.style.setProperty("--columns", String(columns));
  const places = new Map();
  for (const item of Array.isArray(layout.items) ? layout.items : []) {
    if (item && Number.isInteger(item.chart)) places.set(item.chart, item);
  }
  // Tiles in reading order (top to bottom, left to right), which is also their order on a narrow screen.
  const ordered = dashboard.charts.map((chart, index) => ({ chart, place: places.get(index) }));
  ordered.sort((a, b) => (a.place?.y ?? 1e9) - (b.place?.y ?? 1e9) || (a.place?.x ?? 0) - (b.place?.x ?? 0));
  state.tiles.clear();
  for (const { chart, place } of ordered) {
    const tile = document.createElement("section");
    tile.className = `tile viz-${chart.viz_type}`;
    tile.dataset.chartId = String(chart.id);
    if (place) {
      tile.style.gridColumn = `${place.x + 1} / span ${Math.min(place.w, columns)}`;
      tile.style.gridRow = `${place.y + 1} / span ${place.h}`;
    } else {
      tile.style.gridColumn = "1 / -1";
    }
    const heading = document.createElement("h2");
    heading.className = "tile-title";
    heading.textContent = chart.title;
    const body = document.createElement("div");
    body.className = "tile-body";
    tile.append(heading, body);
    grid.append(tile);
    state.tiles.set(chart.id, { tile, body, chart });
  }
  root.setAttribute("aria-busy", "false");
  root.replaceChildren(header, grid);
}

function loadCharts() {
  const generation = state.generation;
  for (const entry of state.tiles.values()) loadChart(entry, generation);
}

async function loadChart(entry, generation) {
  entry.tile.classList.add("is-loading");
  entry.tile.setAttribute("aria-busy", "true");
  if (!entry.body.hasChildNodes()) entry.body.replaceChildren(renderMessage({ kind: "waiting", title: "Loading…" }));
  let data;
  try {
    data = await request("POST", "api/v1/chart/data", {
      dashboard_id: state.dashboard.id,
      chart_id: entry.chart.id,
      filters: state.filters,
    });
  } catch (failure) {
    if (generation !== state.generation) return;
    const described = failureOf(failure.status, failure.code, "chart");
    if (described.page) {
      fail(described);
      return;
    }
    entry.tile.classList.remove("is-loading");
    entry.tile.setAttribute("aria-busy", "false");
    entry.body.replaceChildren(
      renderMessage({
        kind: "error",
        title: described.title,
        detail: described.detail,
        code: described.code,
        onRetry: described.retry ? () => loadChart(entry, state.generation) : null,
      }),
    );
    return;
  }
  if (generation !== state.generation) return;
  entry.tile.classList.remove("is-loading");
  entry.tile.setAttribute("aria-busy", "false");
  renderChart(entry.body, entry.chart, data);
}

function setFilters(filters) {
  const valid = readFilters(filters);
  if (valid === null) return;
  state.filters = valid;
  if (state.dashboard && !state.failure) {
    state.generation += 1;
    loadCharts();
  }
}

// ---------------------------------------------------------------------------------- presentation

function applyUi() {
  document.documentElement.dataset.theme = state.ui.theme;
}

function scrollSize() {
  const element = document.documentElement;
  return { width: element.scrollWidth, height: element.scrollHeight };
}

if (window.parent === window) {
  showStatus(
    "This dashboard is meant to be embedded",
    "Open it from the application it belongs to.",
  );
} else {
  window.addEventListener("message", onHandshake);
}
