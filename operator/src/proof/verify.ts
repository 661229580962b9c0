import { type KeyObject, timingSafeEqual, X509Certificate } from "node:crypto";
import { compactVerify } from "jose";
import { parseSpiffeId } from "../pki/spiffe-id.ts";
import {
  algorithmFor,
  CHANNEL_BINDING_BYTES,
  CLAIMS,
  DEFAULT_SKEW_SECONDS,
  DIGEST_SYNTAX,
  decodeBase64url,
  HEADER_MEMBERS,
  JTI_SYNTAX,
  MAX_LIFETIME_SECONDS,
  MAX_PROOF_LENGTH,
  METHOD_SYNTAX,
  NONCE_SYNTAX,
  PROOF_ALGORITHMS,
  PROOF_TYPE,
  type ProofAlgorithm,
  type ProofClaims,
  type ProofHeader,
  REQUIRED_CLAIMS,
  spiffeIdOf,
  thumbprintOf,
  tokenHashOf,
} from "./format.ts";
import { normaliseHtu } from "./htu.ts";
import { createNonces, type NonceOptions, type Nonces } from "./nonce.ts";
import { PROOF_REASONS, ProofReason } from "./reasons.ts";
import { ReplayCache, replayKeyOf } from "./replay-cache.ts";

export const DEFAULT_MAX_ENTRIES = 1_000_000;
const MAX_SKEW_SECONDS = 60;
/** Distinct client leaves whose parsed key and SPIFFE ID are kept; a leaf is parsed once, not per request. */
const PEER_CACHE_SIZE = 1024;

export interface VerifierOptions {
  /** The verifier's own SPIFFE ID: every proof's aud must be exactly this. */
  audience: string;
  /** Allowed clock difference to the callers, whole seconds from 0 to 60; default 5. */
  skewSeconds?: number | undefined;
  /** The replay cache's bound; default 1,000,000 (see docs/proofs.md for its size in bytes). */
  maxEntries?: number | undefined;
  /** Milliseconds since the epoch; default Date.now. */
  now?: (() => number) | undefined;
  /** Demand a nonce of this verifier in every proof; `true` for the defaults. */
  nonces?: NonceOptions | boolean | undefined;
}

export interface VerifyInput {
  /** The Signet-Proof header value(s) as received; several values are refused. */
  proof: string | readonly string[] | undefined;
  /** The request's method. */
  method: string;
  /** https:// + the Host the request named + its request target. */
  url: string | URL;
  /** The leaf the TLS handshake authenticated (tlsSocket.getPeerX509Certificate(), or its DER). */
  peerCertificate: Uint8Array | X509Certificate;
  /** channelBindingOf(the socket the request arrived on). */
  channelBinding: Uint8Array;
  /** The bearer token of the request's Authorization header, when it carries one. */
  token?: string | undefined;
}

export type ProofVerdict =
  | { ok: true; subject: string; jti: string }
  | {
      ok: false;
      reason: ProofReason;
      message: string;
      /** With NonceRequired and NonceInvalid: a fresh nonce for a 401's Signet-Nonce header. */
      nonce?: string;
    };

export interface VerifierStats {
  /** jti values remembered now. */
  entries: number;
  maxEntries: number;
  accepted: number;
  rejected: Record<ProofReason, number>;
}

export interface Verifier {
  verify(input: VerifyInput): Promise<ProofVerdict>;
  stats(): VerifierStats;
}

interface Rejection {
  reason: ProofReason;
  message: string;
}

interface ParsedProof {
  compact: string;
  header: ProofHeader;
  claims: ProofClaims;
}

interface Peer {
  thumbprint: string;
  key: KeyObject;
  alg: ProofAlgorithm | undefined;
  spiffeId: string | undefined;
}

const reject = (reason: ProofReason, message: string): Rejection => ({ reason, message });
const malformed = (message: string) => reject(ProofReason.ProofMalformed, message);
/** A client-chosen string in a message: quoted and escaped, and short. */
const quoted = (value: unknown) => JSON.stringify(String(value).slice(0, 256));

const strictUtf8 = new TextDecoder("utf-8", { fatal: true });

function jsonObjectOf(segment: string): Record<string, unknown> | undefined {
  const bytes = decodeBase64url(segment);
  if (bytes === undefined) return undefined;
  try {
    const value: unknown = JSON.parse(strictUtf8.decode(bytes));
    return typeof value === "object" && value !== null && !Array.isArray(value)
      ? (value as Record<string, unknown>)
      : undefined;
  } catch {
    return undefined;
  }
}

const isTime = (value: unknown): value is number => Number.isSafeInteger(value) && (value as number) >= 0;

/** ProofMissing and ProofMalformed: the syntax of docs/proofs.md, checked before any cryptography. */
export function parseProof(value: string | readonly string[] | undefined): ParsedProof | Rejection {
  const values = typeof value === "string" ? [value] : (value ?? []);
  if (values.length > 1) return malformed("the request carries more than one Signet-Proof header");
  if (values.length === 0 || values[0] === "")
    return reject(ProofReason.ProofMissing, "the request carries no Signet-Proof header");
  const compact = values[0] as string;
  if (compact.length > MAX_PROOF_LENGTH)
    return malformed(`the proof is longer than ${MAX_PROOF_LENGTH} characters`);
  const parts = compact.split(".");
  if (parts.length !== 3)
    return malformed("the proof is not a compact JWS (three base64url parts joined by dots)");
  const [encodedHeader, encodedPayload, encodedSignature] = parts as [string, string, string];

  const header = jsonObjectOf(encodedHeader);
  if (header === undefined) return malformed("the protected header is not a base64url-encoded JSON object");
  for (const member of Object.keys(header)) {
    if (!HEADER_MEMBERS.has(member)) {
      return malformed(
        `the header has the member ${quoted(member)}; a proof's header holds only alg, typ and x5t#S256, and its key comes from the TLS handshake`,
      );
    }
  }
  if (header.typ !== PROOF_TYPE) return malformed(`typ is ${quoted(header.typ)}, not "${PROOF_TYPE}"`);
  if (typeof header.alg !== "string" || !PROOF_ALGORITHMS.has(header.alg)) {
    return malformed(`alg ${quoted(header.alg)} is not one of ${[...PROOF_ALGORITHMS].join(", ")}`);
  }
  if (typeof header["x5t#S256"] !== "string" || !DIGEST_SYNTAX.test(header["x5t#S256"])) {
    return malformed("x5t#S256 is not the base64url of a SHA-256 digest");
  }
  if (!decodeBase64url(encodedSignature)) return malformed("the signature is not base64url");

  const claims = jsonObjectOf(encodedPayload);
  if (claims === undefined) return malformed("the payload is not a base64url-encoded JSON object");
  for (const name of Object.keys(claims)) {
    if (!CLAIMS.has(name))
      return malformed(`the payload has the claim ${quoted(name)}, which proofs do not carry`);
  }
  for (const name of REQUIRED_CLAIMS) {
    if (claims[name] === undefined) return malformed(`the payload lacks the claim ${name}`);
  }
  const { jti, iat, exp, htm, htu, sub, aud, cb, ath, nonce } = claims;
  if (typeof jti !== "string" || !JTI_SYNTAX.test(jti))
    return malformed("jti is not 16 bytes of base64url (22 characters)");
  if (!isTime(iat) || !isTime(exp)) return malformed("iat and exp must be whole seconds since the epoch");
  if (exp <= iat) return malformed("exp is not after iat");
  if (typeof htm !== "string" || !METHOD_SYNTAX.test(htm))
    return malformed("htm is not an upper-case HTTP method");
  if (typeof htu !== "string" || typeof sub !== "string" || typeof aud !== "string") {
    return malformed("htu, sub and aud must be strings");
  }
  if (typeof cb !== "string" || !DIGEST_SYNTAX.test(cb)) return malformed("cb is not 32 bytes of base64url");
  if (ath !== undefined && (typeof ath !== "string" || !DIGEST_SYNTAX.test(ath))) {
    return malformed("ath is not the base64url of a SHA-256 digest");
  }
  if (nonce !== undefined && (typeof nonce !== "string" || !NONCE_SYNTAX.test(nonce))) {
    return malformed("nonce is not base64url of at most 256 characters");
  }
  return { compact, header: header as unknown as ProofHeader, claims: claims as unknown as ProofClaims };
}

function bindingMismatch(header: ProofHeader, peer: Peer): Rejection | undefined {
  if (header["x5t#S256"] === peer.thumbprint) return undefined;
  return reject(
    ProofReason.ProofBindingMismatch,
    "x5t#S256 is not the SHA-256 thumbprint of the certificate presented on this connection",
  );
}

async function signatureInvalid(proof: ParsedProof, peer: Peer): Promise<Rejection | undefined> {
  if (peer.alg === undefined) {
    return reject(
      ProofReason.ProofSignatureInvalid,
      `the presented certificate's ${peer.key.asymmetricKeyType} key cannot sign proofs; Signet proofs use ECDSA P-256 or P-384, Ed25519 or RSA`,
    );
  }
  if (proof.header.alg !== peer.alg) {
    return reject(
      ProofReason.ProofSignatureInvalid,
      `the proof claims alg ${proof.header.alg}, but the presented certificate's key signs ${peer.alg}`,
    );
  }
  try {
    await compactVerify(proof.compact, peer.key, { algorithms: [peer.alg] });
    return undefined;
  } catch {
    return reject(
      ProofReason.ProofSignatureInvalid,
      "the proof is not signed by the presented certificate's key",
    );
  }
}

function subjectMismatch(claims: ProofClaims, peer: Peer): Rejection | undefined {
  if (peer.spiffeId === undefined) {
    return reject(
      ProofReason.ProofSubjectMismatch,
      "the presented certificate carries no single SPIFFE ID URI SAN",
    );
  }
  if (claims.sub === peer.spiffeId) return undefined;
  return reject(
    ProofReason.ProofSubjectMismatch,
    `sub is ${quoted(claims.sub)}, the presented certificate's SPIFFE ID is ${quoted(peer.spiffeId)}`,
  );
}

function audienceMismatch(claims: ProofClaims, audience: string): Rejection | undefined {
  if (claims.aud === audience) return undefined;
  return reject(
    ProofReason.ProofAudienceMismatch,
    `aud is ${quoted(claims.aud)}, this verifier is ${quoted(audience)}`,
  );
}

function methodMismatch(claims: ProofClaims, method: string): Rejection | undefined {
  if (claims.htm === method.toUpperCase()) return undefined;
  return reject(
    ProofReason.ProofMethodMismatch,
    `htm is ${quoted(claims.htm)}, the request's method is ${quoted(method)}`,
  );
}

function urlMismatch(claims: ProofClaims, url: string | URL): Rejection | undefined {
  const request = normaliseHtu(url);
  if ("error" in request) {
    return reject(ProofReason.ProofUrlMismatch, `the request's URL cannot be matched: ${request.error}`);
  }
  if (claims.htu === request.htu) return undefined;
  return reject(
    ProofReason.ProofUrlMismatch,
    `htu is ${quoted(claims.htu)}, the request's URL is ${quoted(request.htu)}`,
  );
}

function channelMismatch(claims: ProofClaims, channelBinding: Uint8Array): Rejection | undefined {
  const claimed = Buffer.from(claims.cb, "base64url");
  if (channelBinding.length === CHANNEL_BINDING_BYTES && timingSafeEqual(claimed, channelBinding))
    return undefined;
  return reject(
    ProofReason.ProofChannelMismatch,
    "cb is not the channel binding of the TLS connection the request arrived on",
  );
}

function tokenMismatch(claims: ProofClaims, token: string | undefined): Rejection | undefined {
  if (token === undefined) {
    return claims.ath === undefined
      ? undefined
      : reject(
          ProofReason.ProofTokenMismatch,
          "the proof binds a bearer token (ath), but the request carries none",
        );
  }
  if (claims.ath === undefined) {
    return reject(
      ProofReason.ProofTokenMismatch,
      "the request carries a bearer token, but the proof has no ath for it",
    );
  }
  if (claims.ath === tokenHashOf(token)) return undefined;
  return reject(
    ProofReason.ProofTokenMismatch,
    "ath is not the hash of the bearer token the request carries",
  );
}

function expired(claims: ProofClaims, nowMs: number, skewSeconds: number): Rejection | undefined {
  if (nowMs <= (claims.exp + skewSeconds) * 1000) return undefined;
  return reject(
    ProofReason.ProofExpired,
    `the proof expired at ${new Date(claims.exp * 1000).toISOString()}, more than ${skewSeconds} s ago`,
  );
}

function notYetValid(claims: ProofClaims, nowMs: number, skewSeconds: number): Rejection | undefined {
  if (claims.iat * 1000 <= nowMs + skewSeconds * 1000) return undefined;
  return reject(
    ProofReason.ProofNotYetValid,
    `the proof was issued at ${new Date(claims.iat * 1000).toISOString()}, more than ${skewSeconds} s ahead of this verifier's clock`,
  );
}

function lifetimeTooLong(claims: ProofClaims): Rejection | undefined {
  if (claims.exp - claims.iat <= MAX_LIFETIME_SECONDS) return undefined;
  return reject(
    ProofReason.ProofLifetimeTooLong,
    `the proof is valid for ${claims.exp - claims.iat} s; at most ${MAX_LIFETIME_SECONDS} s are allowed`,
  );
}

function nonceRejection(
  claims: ProofClaims,
  nonces: Nonces,
  nowMs: number,
  skewSeconds: number,
): Rejection | undefined {
  if (claims.nonce === undefined) {
    return reject(
      ProofReason.NonceRequired,
      "this verifier demands a nonce: sign again with the Signet-Nonce given",
    );
  }
  if (nonces.check(claims.nonce, nowMs, skewSeconds)) return undefined;
  return reject(
    ProofReason.NonceInvalid,
    "the nonce is not one of this verifier's or is too old: sign again with the Signet-Nonce given",
  );
}

function validated(options: VerifierOptions): { skewSeconds: number; maxEntries: number } {
  try {
    parseSpiffeId(options.audience);
  } catch (err) {
    throw new RangeError(`audience: ${(err as Error).message}`);
  }
  const skewSeconds = options.skewSeconds ?? DEFAULT_SKEW_SECONDS;
  if (!Number.isInteger(skewSeconds) || skewSeconds < 0 || skewSeconds > MAX_SKEW_SECONDS) {
    throw new RangeError(`skewSeconds ${skewSeconds} must be a whole number from 0 to ${MAX_SKEW_SECONDS}`);
  }
  const maxEntries = options.maxEntries ?? DEFAULT_MAX_ENTRIES;
  if (!Number.isSafeInteger(maxEntries) || maxEntries < 1) {
    throw new RangeError(`maxEntries ${maxEntries} must be a positive whole number`);
  }
  return { skewSeconds, maxEntries };
}

/**
 * A verifier of Signet proofs for one audience. It keeps two pieces of state: the replay cache
 * (bounded, see ReplayCache) and the latest time it has seen, so that a clock stepping back can
 * never let a forgotten jti pass the expiry check again.
 */
export function createVerifier(options: VerifierOptions): Verifier {
  const { audience } = options;
  const { skewSeconds, maxEntries } = validated(options);
  const wallClock = options.now ?? Date.now;
  const nonces =
    options.nonces === undefined || options.nonces === false
      ? undefined
      : createNonces(audience, options.nonces === true ? {} : options.nonces);
  const cache = new ReplayCache({ maxEntries, horizonSeconds: MAX_LIFETIME_SECONDS + 2 * skewSeconds + 1 });
  const peers = new Map<string, Peer>();
  const rejected = Object.fromEntries(PROOF_REASONS.map((reason) => [reason, 0])) as Record<
    ProofReason,
    number
  >;
  let accepted = 0;
  let latest = Number.NEGATIVE_INFINITY;

  const now = () => {
    latest = Math.max(latest, wallClock());
    return latest;
  };

  function peerOf(certificate: Uint8Array | X509Certificate): Peer {
    const der = certificate instanceof X509Certificate ? certificate.raw : certificate;
    const thumbprint = thumbprintOf(der);
    const known = peers.get(thumbprint);
    if (known) return known;
    const leaf = certificate instanceof X509Certificate ? certificate : new X509Certificate(Buffer.from(der));
    const peer = {
      thumbprint,
      key: leaf.publicKey,
      alg: algorithmFor(leaf.publicKey),
      spiffeId: spiffeIdOf(leaf),
    };
    if (peers.size >= PEER_CACHE_SIZE) peers.delete(peers.keys().next().value as string);
    peers.set(thumbprint, peer);
    return peer;
  }

  async function decide(input: VerifyInput): Promise<ProofVerdict> {
    const proof = parseProof(input.proof);
    if ("reason" in proof) return { ok: false, ...proof };
    const peer = peerOf(input.peerCertificate);
    const unbound = bindingMismatch(proof.header, peer) ?? (await signatureInvalid(proof, peer));
    if (unbound) return { ok: false, ...unbound };

    // From here to the replay cache nothing awaits: the time read, the checks and the insert are
    // one step that no other verification can interleave with.
    const { claims } = proof;
    const nowMs = now();
    const rejection =
      subjectMismatch(claims, peer) ??
      audienceMismatch(claims, audience) ??
      methodMismatch(claims, input.method) ??
      urlMismatch(claims, input.url) ??
      channelMismatch(claims, input.channelBinding) ??
      tokenMismatch(claims, input.token) ??
      expired(claims, nowMs, skewSeconds) ??
      notYetValid(claims, nowMs, skewSeconds) ??
      lifetimeTooLong(claims) ??
      (nonces && nonceRejection(claims, nonces, nowMs, skewSeconds));
    if (rejection) {
      const nonce = nonces && rejection.reason.startsWith("Nonce") ? { nonce: nonces.issue(nowMs) } : {};
      return { ok: false, ...rejection, ...nonce };
    }
    switch (cache.admit(replayKeyOf(claims.jti), claims.exp + skewSeconds, nowMs)) {
      case "replayed":
        return {
          ok: false,
          reason: ProofReason.ProofReplayed,
          message: `jti ${claims.jti} was accepted before`,
        };
      case "full":
        return {
          ok: false,
          reason: ProofReason.ReplayCacheFull,
          message: `the replay cache holds its maximum of ${maxEntries} proofs; new ones are refused until some expire`,
        };
      case "admitted":
        return { ok: true, subject: claims.sub, jti: claims.jti };
    }
  }

  return {
    async verify(input) {
      const verdict = await decide(input);
      if (verdict.ok) accepted++;
      else rejected[verdict.reason]++;
      return verdict;
    },
    stats() {
      cache.sweep(now());
      return { entries: cache.size, maxEntries, accepted, rejected: { ...rejected } };
    },
  };
}
