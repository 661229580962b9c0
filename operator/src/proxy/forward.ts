import type { IncomingHttpHeaders, OutgoingHttpHeaders } from "node:http";

/** RFC 9110 section 7.6.1, and the older ones that proxies still drop (RFC 2616 section 13.5.1). */
const HOP_BY_HOP = new Set([
  "connection",
  "keep-alive",
  "proxy-connection",
  "proxy-authenticate",
  "proxy-authorization",
  "te",
  "trailer",
  "transfer-encoding",
  "upgrade",
]);

export const CALLER_HEADER = "x-signet-caller";

/** Headers minus the hop-by-hop ones, those the Connection field names, and `drop`. */
export function endToEndHeaders(
  headers: IncomingHttpHeaders,
  drop: readonly string[] = [],
): OutgoingHttpHeaders {
  const named = new Set<string>(drop);
  const connection = headers.connection;
  for (const value of Array.isArray(connection) ? connection : connection === undefined ? [] : [connection]) {
    for (const token of value.split(",")) named.add(token.trim().toLowerCase());
  }
  const out: OutgoingHttpHeaders = {};
  for (const [name, value] of Object.entries(headers)) {
    if (value === undefined || HOP_BY_HOP.has(name) || named.has(name)) continue;
    out[name] = value;
  }
  return out;
}

/** Where accepted requests go: plain HTTP on loopback, the pod's own workload. */
export function parseUpstream(upstream: string): { host: string; port: number } {
  let url: URL;
  try {
    url = new URL(upstream);
  } catch {
    throw new Error(`upstream ${JSON.stringify(upstream)} is not a URL; give http://127.0.0.1:<port>`);
  }
  const host = url.hostname.replace(/^\[|\]$/g, "");
  const loopback = host === "localhost" || host === "::1" || /^127\.\d+\.\d+\.\d+$/.test(host);
  if (
    url.protocol !== "http:" ||
    !loopback ||
    url.port === "" ||
    (url.pathname !== "/" && url.pathname !== "")
  ) {
    throw new Error(
      `upstream ${JSON.stringify(upstream)} must be http://127.0.0.1:<port> (plain HTTP to the pod's loopback, no path): the proxy forwards only inside the pod`,
    );
  }
  return { host, port: Number(url.port) };
}
