import { createLocalJWKSet, type JSONWebKeySet, type JWK, type JWTVerifyGetKey } from "jose";
import type { TrustedIssuer } from "../api/index.ts";
import { type FetchJson, fetchJson } from "./fetch.ts";

/** How the keys of the issuers are read and kept. */
export interface IssuerKeyTimings {
  /** How long fetched keys are used before they are read again. */
  ttlMs: number;
  /** The least time between two reads caused by a token with a kid the keys lack (rotation at the issuer). */
  refetchIntervalMs: number;
  /** The least time between two reads after one failed. */
  retryAfterFailureMs: number;
  /** How long past their ttl fetched keys still verify while every new read fails (an issuer outage). */
  maxStaleMs: number;
  /** Each request, connection to last byte. */
  timeoutMs: number;
  maxDiscoveryBytes: number;
  maxJwksBytes: number;
}

export const DEFAULT_ISSUER_KEY_TIMINGS: IssuerKeyTimings = {
  ttlMs: 10 * 60_000,
  refetchIntervalMs: 30_000,
  retryAfterFailureMs: 5_000,
  maxStaleMs: 60 * 60_000,
  timeoutMs: 5_000,
  maxDiscoveryBytes: 64 * 1024,
  maxJwksBytes: 256 * 1024,
};

const MAX_KEYS = 100;

export type IssuerKeysResult =
  | { ok: true; getKey: JWTVerifyGetKey; kids: string[]; remote: boolean }
  | { ok: false; reason: "IssuerUnavailable" | "IssuerMisconfigured"; message: string };

/**
 * The public signing keys of a JWKS document (RFC 7517): its RSA, EC and OKP keys meant for
 * signatures. A symmetric ("oct") key is dropped, as is any key with private parts: Signet verifies
 * only asymmetric signatures, and a shared secret in a public document would let anyone sign.
 */
export function publicSigningKeys(doc: unknown, where: string): JSONWebKeySet {
  const keys = (doc as { keys?: unknown } | null)?.keys;
  if (typeof doc !== "object" || doc === null || !Array.isArray(keys))
    throw new Error(`${where} is not a JWKS document: it needs a "keys" list`);
  const usable = keys.filter((k): k is JWK => {
    if (typeof k !== "object" || k === null) return false;
    const key = k as Record<string, unknown>;
    if (!["RSA", "EC", "OKP"].includes(String(key.kty))) return false;
    if ("d" in key || "p" in key || "k" in key) return false;
    return key.use === undefined || key.use === "sig";
  });
  if (usable.length === 0) throw new Error(`${where} holds no public signing key (RSA, EC or OKP)`);
  if (usable.length > MAX_KEYS) throw new Error(`${where} holds more than ${MAX_KEYS} keys`);
  return { keys: usable };
}

/** Where an issuer's OIDC discovery document is (OpenID Connect Discovery 1.0 section 4). */
export function discoveryUrl(issuer: string): string {
  return `${issuer.replace(/\/+$/, "")}/.well-known/openid-configuration`;
}

/** The jwks_uri of a discovery document, which must name `issuer` exactly (section 4.3). */
export function jwksUriOf(doc: unknown, issuer: string, where: string): string {
  const d = doc as { issuer?: unknown; jwks_uri?: unknown } | null;
  if (typeof doc !== "object" || doc === null) throw new Error(`${where} is not a JSON object`);
  if (d?.issuer !== issuer) {
    throw new Error(
      `${where} names the issuer ${JSON.stringify(d?.issuer)}, not ${JSON.stringify(issuer)}; spec.issuer must be the issuer exactly as its tokens and discovery say`,
    );
  }
  if (typeof d.jwks_uri !== "string" || !d.jwks_uri.startsWith("https://"))
    throw new Error(`${where} has no https jwks_uri`);
  return d.jwks_uri;
}

interface Entry {
  /** What the keys were read for: a change of the TrustedIssuer's source makes a new entry. */
  fingerprint: string;
  getKey?: JWTVerifyGetKey;
  kids: string[];
  fetchedAt?: number;
  attemptedAt?: number;
  error?: string;
  inflight?: Promise<void> | undefined;
}

/**
 * The keys each TrustedIssuer's tokens are verified with: its static spec.jwks, or what its OIDC
 * discovery names, read over https with spec.caBundle (if given), kept for a ttl, read again early
 * (at most every refetchIntervalMs) when a token names a kid the keys lack, and kept through an
 * outage of the issuer for maxStaleMs. One read at a time per issuer, whatever the traffic.
 */
export class IssuerKeys {
  readonly #entries = new Map<string, Entry>();
  readonly #now: () => number;
  readonly #timings: IssuerKeyTimings;
  readonly #fetch: FetchJson;

  constructor(options: { now?: () => number; timings?: Partial<IssuerKeyTimings>; fetch?: FetchJson } = {}) {
    this.#now = options.now ?? Date.now;
    this.#timings = { ...DEFAULT_ISSUER_KEY_TIMINGS, ...options.timings };
    this.#fetch = options.fetch ?? fetchJson;
  }

  /** Forgets the keys of TrustedIssuers that are gone. */
  retain(names: ReadonlySet<string>): void {
    for (const name of this.#entries.keys()) if (!names.has(name)) this.#entries.delete(name);
  }

  /**
   * The keys to verify `issuer`'s tokens with. `unknownKid`: a token named a kid the keys returned
   * last time lack, so the issuer may have rotated; discovered keys are then read again unless they
   * were read within refetchIntervalMs.
   */
  async keysFor(issuer: TrustedIssuer, options: { unknownKid?: boolean } = {}): Promise<IssuerKeysResult> {
    const name = issuer.metadata.name;
    const where = `TrustedIssuer ${name}`;
    const { spec } = issuer;
    const fingerprint = JSON.stringify([spec.issuer, spec.jwks ?? null, spec.caBundle ?? null]);
    let entry = this.#entries.get(name);
    if (entry?.fingerprint !== fingerprint) {
      entry = { fingerprint, kids: [] };
      this.#entries.set(name, entry);
    }
    if (spec.jwks !== undefined) {
      if (!entry.getKey && entry.error === undefined) {
        try {
          let doc: unknown;
          try {
            doc = JSON.parse(spec.jwks);
          } catch {
            throw new Error(`${where}: spec.jwks is not JSON`);
          }
          const set = publicSigningKeys(doc, `${where}: spec.jwks`);
          entry.getKey = createLocalJWKSet(set);
          entry.kids = set.keys.map((k) => k.kid ?? "");
        } catch (err) {
          entry.error = (err as Error).message;
        }
      }
      if (entry.getKey) return { ok: true, getKey: entry.getKey, kids: entry.kids, remote: false };
      return { ok: false, reason: "IssuerMisconfigured", message: entry.error ?? where };
    }
    const t = this.#now();
    const { ttlMs, refetchIntervalMs, retryAfterFailureMs, maxStaleMs } = this.#timings;
    const since = entry.attemptedAt === undefined ? Number.POSITIVE_INFINITY : t - entry.attemptedAt;
    const age = entry.fetchedAt === undefined ? Number.POSITIVE_INFINITY : t - entry.fetchedAt;
    const due = !entry.getKey
      ? since >= retryAfterFailureMs
      : options.unknownKid
        ? since >= refetchIntervalMs
        : age >= ttlMs && since >= retryAfterFailureMs;
    if (due || entry.inflight) {
      entry.inflight ??= this.#read(entry, issuer).finally(() => {
        if (entry) entry.inflight = undefined;
      });
      await entry.inflight;
    }
    const fresh = entry.fetchedAt !== undefined && this.#now() - entry.fetchedAt < ttlMs + maxStaleMs;
    if (entry.getKey && fresh) return { ok: true, getKey: entry.getKey, kids: entry.kids, remote: true };
    return {
      ok: false,
      reason: "IssuerUnavailable",
      message: `${where}: the issuer's keys could not be read (${entry.error ?? "not read yet"}); retry shortly`,
    };
  }

  async #read(entry: Entry, issuer: TrustedIssuer): Promise<void> {
    const { spec } = issuer;
    const t = this.#timings;
    entry.attemptedAt = this.#now();
    try {
      const discovery = discoveryUrl(spec.issuer);
      const doc = await this.#fetch(discovery, {
        ca: spec.caBundle,
        timeoutMs: t.timeoutMs,
        maxBytes: t.maxDiscoveryBytes,
      });
      const jwksUri = jwksUriOf(doc, spec.issuer, `the discovery document ${discovery}`);
      const jwks = await this.#fetch(jwksUri, {
        ca: spec.caBundle,
        timeoutMs: t.timeoutMs,
        maxBytes: t.maxJwksBytes,
      });
      const set = publicSigningKeys(jwks, `the JWKS ${jwksUri}`);
      entry.getKey = createLocalJWKSet(set);
      entry.kids = set.keys.map((k) => k.kid ?? "");
      entry.fetchedAt = entry.attemptedAt;
      entry.error = undefined;
    } catch (err) {
      entry.error = (err as Error).message;
    }
  }
}
