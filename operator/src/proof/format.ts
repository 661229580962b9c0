import { createHash, type KeyObject, type X509Certificate } from "node:crypto";
import { parseCertificate, subjectAltNames } from "../pki/certificate.ts";
import { parseSpiffeId } from "../pki/spiffe-id.ts";

// The wire format of a Signet proof (docs/proofs.md): what the signer writes and the verifier
// demands, in one place so that the two cannot drift apart.

/** The HTTP header that carries the proof. */
export const PROOF_HEADER = "Signet-Proof";
/** The HTTP header of a 401 that hands out a nonce. */
export const NONCE_HEADER = "Signet-Nonce";
/** The JOSE typ of a proof (RFC 8725 section 3.11: explicit typing). */
export const PROOF_TYPE = "signet-proof+jwt";
/** The RFC 5705 / RFC 9266 exporter label of the channel binding. */
export const EXPORTER_LABEL = "EXPORTER-signet-proof";
export const CHANNEL_BINDING_BYTES = 32;

export const DEFAULT_LIFETIME_SECONDS = 30;
export const MAX_LIFETIME_SECONDS = 60;
export const DEFAULT_SKEW_SECONDS = 5;
/** Longer than any proof Signet makes (an RSA 4096 one is about 1.4 kB), short enough to refuse cheaply. */
export const MAX_PROOF_LENGTH = 4096;

/** The JWS algorithm for each key type Signet issues; nothing else is accepted. */
export type ProofAlgorithm = "ES256" | "ES384" | "EdDSA" | "PS256";
export const PROOF_ALGORITHMS: ReadonlySet<string> = new Set<ProofAlgorithm>([
  "ES256",
  "ES384",
  "EdDSA",
  "PS256",
]);

/** The protected header carries exactly these members. */
export const HEADER_MEMBERS: ReadonlySet<string> = new Set(["alg", "typ", "x5t#S256"]);
export const REQUIRED_CLAIMS = ["jti", "iat", "exp", "htm", "htu", "sub", "aud", "cb"] as const;
export const OPTIONAL_CLAIMS = ["ath", "nonce"] as const;
export const CLAIMS: ReadonlySet<string> = new Set([...REQUIRED_CLAIMS, ...OPTIONAL_CLAIMS]);

export interface ProofHeader {
  alg: ProofAlgorithm;
  typ: typeof PROOF_TYPE;
  "x5t#S256": string;
}

export interface ProofClaims {
  jti: string;
  iat: number;
  exp: number;
  htm: string;
  htu: string;
  sub: string;
  aud: string;
  cb: string;
  ath?: string;
  nonce?: string;
}

/** Canonical unpadded base64url of exactly 16 bytes (22 characters; the last holds 2 bits, the rest zero). */
export const JTI_SYNTAX = /^[A-Za-z0-9_-]{21}[AQgw]$/;
/** Canonical unpadded base64url of exactly 32 bytes (43 characters): cb, ath and x5t#S256. */
export const DIGEST_SYNTAX = /^[A-Za-z0-9_-]{42}[AEIMQUYcgkosw048]$/;
/** An RFC 9110 method token in upper case. */
export const METHOD_SYNTAX = /^[!#$%&'*+.^_`|~0-9A-Z-]{1,32}$/;
export const NONCE_SYNTAX = /^[A-Za-z0-9_-]{1,256}$/;
const BASE64URL = /^[A-Za-z0-9_-]+$/;

export const base64url = (bytes: Uint8Array): string => Buffer.from(bytes).toString("base64url");

/** The bytes of canonical unpadded base64url, or undefined for anything else (Buffer itself is lenient). */
export function decodeBase64url(text: string): Buffer | undefined {
  if (!BASE64URL.test(text)) return undefined;
  const bytes = Buffer.from(text, "base64url");
  return bytes.toString("base64url") === text ? bytes : undefined;
}

/** x5t#S256: base64url SHA-256 of the certificate's DER. */
export function thumbprintOf(der: Uint8Array): string {
  return createHash("sha256").update(der).digest("base64url");
}

/** ath: base64url SHA-256 of the ASCII bearer token (RFC 9449 section 4.2). */
export function tokenHashOf(token: string): string {
  return createHash("sha256").update(token, "ascii").digest("base64url");
}

/** The proof algorithm a key can sign with, or undefined for a key Signet does not issue. */
export function algorithmFor(key: KeyObject): ProofAlgorithm | undefined {
  const details = key.asymmetricKeyDetails ?? {};
  switch (key.asymmetricKeyType) {
    case "ec":
      if (details.namedCurve === "prime256v1") return "ES256";
      if (details.namedCurve === "secp384r1") return "ES384";
      return undefined;
    case "ed25519":
      return "EdDSA";
    case "rsa":
      return (details.modulusLength ?? 0) >= 2048 ? "PS256" : undefined;
    default:
      return undefined;
  }
}

/** Leaves whose SPIFFE ID was read, by thumbprint: parsing the extension costs about 1 ms. */
const spiffeIds = new Map<string, string | undefined>();
const SPIFFE_ID_CACHE_SIZE = 1024;

/**
 * The leaf's SPIFFE ID: its one URI SAN, when that is a valid SPIFFE ID of a workload (with a
 * path; a bare trust domain names no workload), read from the structured extension rather than
 * node:crypto's comma-joined SAN string, which a crafted SAN could make ambiguous.
 */
export function spiffeIdOf(
  certificate: X509Certificate,
  thumbprint = thumbprintOf(certificate.raw),
): string | undefined {
  if (spiffeIds.has(thumbprint)) return spiffeIds.get(thumbprint);
  const id = readSpiffeId(certificate);
  if (spiffeIds.size >= SPIFFE_ID_CACHE_SIZE) spiffeIds.delete(spiffeIds.keys().next().value as string);
  spiffeIds.set(thumbprint, id);
  return id;
}

function readSpiffeId(certificate: X509Certificate): string | undefined {
  const { uris } = subjectAltNames(parseCertificate(certificate.toString()));
  const [uri] = uris;
  if (uris.length !== 1 || uri === undefined) return undefined;
  try {
    return parseSpiffeId(uri).path === "" ? undefined : uri;
  } catch {
    return undefined;
  }
}
