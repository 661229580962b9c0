import type { KubeConfig } from "@kubernetes/client-node";

/** A write refused because this replica may no longer write (it is not, or no longer surely, the leader). */
export class FencedWriteError extends Error {
  readonly code = "FencedWrite";
  constructor(method: string, url: string) {
    super(`refused ${method} ${new URL(url).pathname}: this replica is not the leader`);
    this.name = "FencedWriteError";
  }
}

interface RequestContextLike {
  getHttpMethod(): string;
  getUrl(): string;
}

interface Authenticating {
  applySecurityAuthentication(context: RequestContextLike): Promise<void>;
}

/**
 * A view of `kc` whose API clients refuse every request but reads (GET, watches included) unless
 * `mayWrite()` holds at the moment the request is sent. Leader-elected controllers get one built on
 * the elector's isLeader(), which turns false once the last renewal is older than the renew
 * deadline, itself shorter than the lease duration: a replica that lost the Lease, or cannot tell
 * whether it still holds it, sends no write before another replica may have taken over.
 *
 * Everything else is `kc` itself (its users, clusters and connection pool): the view inherits from
 * it and overrides only the per-request hook every generated client calls.
 */
export function fencedKubeConfig(kc: KubeConfig, mayWrite: () => boolean): KubeConfig {
  const base = kc as unknown as Authenticating;
  const view = Object.create(kc) as KubeConfig & Authenticating;
  view.applySecurityAuthentication = async (context: RequestContextLike) => {
    const method = context.getHttpMethod().toUpperCase();
    if (method !== "GET" && method !== "HEAD" && !mayWrite()) {
      throw new FencedWriteError(method, context.getUrl());
    }
    return base.applySecurityAuthentication.call(kc, context);
  };
  return view;
}
