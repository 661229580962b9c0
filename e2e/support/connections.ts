import { createHash } from "node:crypto";
import type { Cluster, KubeConfig } from "@kubernetes/client-node";

interface TlsMaterial {
  ca?: unknown;
  cert?: unknown;
  key?: unknown;
  pfx?: unknown;
  passphrase?: unknown;
  rejectUnauthorized?: unknown;
  servername?: unknown;
}

interface Closable {
  close(): Promise<void>;
}

type CreateDispatcher = (cluster: Cluster | null, options: TlsMaterial) => Closable | undefined;

const REUSING = Symbol("signet.reuseConnections");

/**
 * client-node 2.0 builds a new undici Agent for every API call (KubeConfig.createDispatcher), so
 * each request opens its own TLS connection: a fresh SecureContext here, a full handshake with
 * client-certificate verification on the API server, then the connection is dropped. Under load
 * that costs more CPU than the work itself, on both sides. This keeps one Agent, and so one
 * keep-alive connection pool, per TLS configuration. The key is the content of the CA, certificate
 * and key, so a rotated client certificate or CA gets a new Agent; the previous one is closed
 * gracefully (requests in flight, watches included, finish first).
 *
 * Returns `kc` itself, changed in place; a KubeConfig without that method is left as it is.
 */
export function reuseConnections(kc: KubeConfig): KubeConfig {
  const target = kc as unknown as { createDispatcher?: CreateDispatcher; [REUSING]?: true };
  const original = target.createDispatcher;
  if (typeof original !== "function" || target[REUSING]) return kc;
  let current: { key: string; dispatcher: Closable | undefined } | undefined;
  target.createDispatcher = (cluster, options) => {
    const key = configKey(cluster, options);
    if (current?.key === key) return current.dispatcher;
    const previous = current?.dispatcher;
    current = { key, dispatcher: original.call(kc, cluster, options) };
    void previous?.close().catch(() => {});
    return current.dispatcher;
  };
  target[REUSING] = true;
  return kc;
}

function configKey(cluster: Cluster | null, options: TlsMaterial): string {
  const hash = createHash("sha256");
  const add = (value: unknown) => {
    if (value === undefined) hash.update("\0u");
    else if (Buffer.isBuffer(value) || typeof value === "string")
      hash.update(`\0${value.length}:`).update(value);
    else if (Array.isArray(value)) for (const item of value) add(item);
    else hash.update(`\0${JSON.stringify(value)}`);
  };
  for (const value of [
    cluster?.server,
    cluster?.proxyUrl,
    options.ca,
    options.cert,
    options.key,
    options.pfx,
    options.passphrase,
    options.rejectUnauthorized,
    options.servername,
  ])
    add(value);
  return hash.digest("hex");
}
