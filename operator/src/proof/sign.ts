import { createPrivateKey, type KeyObject, randomBytes, X509Certificate } from "node:crypto";
import { CompactSign } from "jose";
import { parseSpiffeId } from "../pki/spiffe-id.ts";
import {
  algorithmFor,
  base64url,
  CHANNEL_BINDING_BYTES,
  DEFAULT_LIFETIME_SECONDS,
  MAX_LIFETIME_SECONDS,
  METHOD_SYNTAX,
  NONCE_SYNTAX,
  PROOF_TYPE,
  type ProofClaims,
  type ProofHeader,
  spiffeIdOf,
  thumbprintOf,
  tokenHashOf,
} from "./format.ts";
import { normaliseHtu } from "./htu.ts";

export interface SignProofInput {
  /** The private key of the caller's X.509 SVID: a KeyObject (reuse it: jose caches its import) or PKCS#8 PEM. */
  key: KeyObject | string;
  /** The leaf the caller presents in the TLS handshake: X509Certificate, DER, or PEM (leaf first). */
  certificate: X509Certificate | Uint8Array | string;
  method: string;
  /** The request's URL as the client addresses it; query and fragment are left out of the proof. */
  url: string | URL;
  /** The server's SPIFFE ID. */
  audience: string;
  /** channelBindingOf(the TLS socket the request will travel on). */
  channelBinding: Uint8Array;
  /** A bearer JWT-SVID sent in Authorization with this request: the proof carries its hash (ath). */
  token?: string | undefined;
  /** The verifier's last Signet-Nonce, when it demands one. */
  nonce?: string | undefined;
  /** Default: the wall clock. */
  now?: Date | undefined;
  /** Whole seconds from iat to exp, 1 to 60; default 30. */
  lifetimeSeconds?: number | undefined;
}

export class ProofSigningError extends Error {
  override name = "ProofSigningError";
}

function leafOf(certificate: X509Certificate | Uint8Array | string): X509Certificate {
  if (certificate instanceof X509Certificate) return certificate;
  // A PEM chain parses as its first certificate, which is the leaf in tls.crt.
  return new X509Certificate(typeof certificate === "string" ? certificate : Buffer.from(certificate));
}

/**
 * A Signet-Proof for one HTTP request: a compact JWS signed with the caller's SVID key, bound to
 * that SVID (x5t#S256), to the request (htm, htu), to the server (aud) and to the TLS connection
 * it travels on (cb). Every input is checked before signing, so that a proof is never made that
 * a verifier would refuse for its syntax.
 */
export async function signProof(input: SignProofInput): Promise<string> {
  const key = typeof input.key === "string" ? createPrivateKey(input.key) : input.key;
  if (key.type !== "private") throw new ProofSigningError("key must be a private key");
  const alg = algorithmFor(key);
  if (alg === undefined) {
    throw new ProofSigningError(
      `key is ${key.asymmetricKeyType} ${key.asymmetricKeyDetails?.namedCurve ?? key.asymmetricKeyDetails?.modulusLength ?? ""}; proofs are signed with ECDSA P-256 or P-384, Ed25519, or RSA of at least 2048 bits`,
    );
  }
  const leaf = leafOf(input.certificate);
  if (!leaf.checkPrivateKey(key)) {
    throw new ProofSigningError("key is not the private key of certificate; pass the SVID's own tls.key");
  }
  const thumbprint = thumbprintOf(leaf.raw);
  const sub = spiffeIdOf(leaf);
  if (sub === undefined) {
    throw new ProofSigningError(
      "certificate carries no single SPIFFE ID URI SAN; pass the caller's X.509 SVID",
    );
  }
  try {
    parseSpiffeId(input.audience);
  } catch (err) {
    throw new ProofSigningError(`audience: ${(err as Error).message}`);
  }
  const htm = input.method.toUpperCase();
  if (!METHOD_SYNTAX.test(htm))
    throw new ProofSigningError(`method "${input.method}" is not an HTTP method token`);
  const url = normaliseHtu(input.url);
  if ("error" in url) throw new ProofSigningError(`url is not usable for a proof: ${url.error}`);
  if (input.channelBinding.length !== CHANNEL_BINDING_BYTES) {
    throw new ProofSigningError(
      `channelBinding has ${input.channelBinding.length} bytes, not ${CHANNEL_BINDING_BYTES}; pass channelBindingOf(socket)`,
    );
  }
  if (input.nonce !== undefined && !NONCE_SYNTAX.test(input.nonce)) {
    throw new ProofSigningError("nonce is not a Signet-Nonce value (base64url, at most 256 characters)");
  }
  const lifetime = input.lifetimeSeconds ?? DEFAULT_LIFETIME_SECONDS;
  if (!Number.isInteger(lifetime) || lifetime < 1 || lifetime > MAX_LIFETIME_SECONDS) {
    throw new ProofSigningError(
      `lifetimeSeconds ${lifetime} must be a whole number from 1 to ${MAX_LIFETIME_SECONDS}`,
    );
  }

  const iat = Math.floor((input.now ?? new Date()).getTime() / 1000);
  const claims: ProofClaims = {
    jti: randomBytes(16).toString("base64url"),
    iat,
    exp: iat + lifetime,
    htm,
    htu: url.htu,
    sub,
    aud: input.audience,
    cb: base64url(input.channelBinding),
  };
  if (input.token !== undefined) claims.ath = tokenHashOf(input.token);
  if (input.nonce !== undefined) claims.nonce = input.nonce;
  const header: ProofHeader = { alg, typ: PROOF_TYPE, "x5t#S256": thumbprint };
  return new CompactSign(Buffer.from(JSON.stringify(claims))).setProtectedHeader({ ...header }).sign(key);
}
