// Types of the gateway's embed SDK (served beside it as /sdk/embed.d.ts).

/** A filter the dashboard applies to every chart, on top of the row-level security of the token. */
export interface DashboardFilter {
  column: string;
  op: "==" | "!=" | "<" | "<=" | ">" | ">=" | "IN" | "NOT IN" | "LIKE" | "BETWEEN" | "IS NULL" | "IS NOT NULL";
  value?: string | number | boolean | null | Array<string | number | boolean | null>;
}

export interface UiConfig {
  /** Hide the dashboard's title (the host shows its own). Default false. */
  hideTitle?: boolean;
  /** Default "light". */
  theme?: "light" | "dark";
}

export interface Timing {
  /** How long fetchGuestToken may take before it counts as failed. Default 10000 ms. */
  tokenTimeoutMs: number;
  /** After this long without an answer from the frame, an error is logged. Default 15000 ms. */
  handshakeTimeoutMs: number;
  /** Share of a guest token's life after which a new one is fetched. Default 0.8. */
  refreshAt: number;
  /** First and longest wait between retries after fetchGuestToken fails (doubling, with jitter). */
  retryMinMs: number;
  retryMaxMs: number;
}

export interface EmbedDashboardParams {
  /** The dashboard's uuid (or id). */
  id: string | number;
  /** Where the gateway is served, e.g. "https://analytics.example.com". */
  gatewayUrl: string;
  /** The element the iframe replaces the content of. */
  mountPoint: HTMLElement;
  /**
   * Asks the host's own backend for a credential, which the backend gets from the gateway with its
   * app's secret (never in the browser). Cookieless mode: a guest token
   * (POST /api/v1/security/guest_token/). Session mode: a one-time ticket (POST /api/v1/embed/ticket).
   * Called at the start, before a guest token expires, and when the dashboard reports an expired one.
   */
  fetchGuestToken: () => Promise<string>;
  /** "cookieless" (default): the token stays in the iframe's memory. "session": a partitioned cookie. */
  mode?: "cookieless" | "session";
  ui?: UiConfig;
  /** The iframe's accessible title. Default "Embedded dashboard". */
  iframeTitle?: string;
  /** Filters applied from the start. */
  filters?: DashboardFilter[];
  timing?: Partial<Timing>;
}

export interface Size {
  width: number;
  height: number;
}

export interface EmbeddedDashboard {
  /** Remove the iframe and stop every timer and listener of this embed. */
  unmount(): void;
  /** The size of the dashboard's content, to size the iframe to it. */
  getScrollSize(): Promise<Size>;
  /** Replace the dashboard's filters; charts are drawn again, nothing else changes. */
  setFilters(filters: DashboardFilter[]): void;
}

export function embedDashboard(params: EmbedDashboardParams): EmbeddedDashboard;
