import { createPrivateKey, type KeyObject, randomBytes, sign, X509Certificate } from "node:crypto";
import { CompactSign } from "jose";
import { createRootCa, type RootCaMaterial } from "../pki/ca.ts";
import type { PrivateKeySpec } from "../pki/keys.ts";
import { mintSvid } from "../pki/mint.ts";
import { base64url, PROOF_TYPE, thumbprintOf } from "./format.ts";

// Test fixtures of the proof tests: real SVIDs of every key type Signet issues, minted on the wall
// clock (TLS checks validity against it), and proofs crafted field by field, signed for real, to
// break exactly one rule at a time.

export const CLIENT_ID = "spiffe://cluster.local/ns/shop/id/checkout";
export const SERVER_ID = "spiffe://cluster.local/ns/shop/id/payments-api";
export const REQUEST_URL = "https://payments.shop.svc:8443/v1/charges";
/** The injected clock of the verifier tests; the SVIDs' own validity plays no part in proofs. */
export const NOW_MS = Date.parse("2026-11-21T10:00:00.000Z");
export const CB = Buffer.alloc(32, 7);
export const OTHER_CB = Buffer.alloc(32, 8);

export const KEY_TYPES: { name: string; spec: PrivateKeySpec; alg: string }[] = [
  { name: "ECDSA P-256", spec: { algorithm: "ECDSA", size: 256 }, alg: "ES256" },
  { name: "ECDSA P-384", spec: { algorithm: "ECDSA", size: 384 }, alg: "ES384" },
  { name: "Ed25519", spec: { algorithm: "Ed25519" }, alg: "EdDSA" },
  { name: "RSA 2048", spec: { algorithm: "RSA", size: 2048 }, alg: "PS256" },
];

export interface TestSvid {
  spiffeId: string;
  key: KeyObject;
  keyPem: string;
  certificate: X509Certificate;
  certPem: string;
  chainPem: string;
}

let root: Promise<RootCaMaterial> | undefined;
export function testRoot(): Promise<RootCaMaterial> {
  root ??= createRootCa({
    commonName: "Signet Proof Test Root",
    trustDomain: "cluster.local",
    validity: 86_400_000,
    now: new Date(),
  });
  return root;
}

const svids = new Map<string, Promise<TestSvid>>();
/** An SVID for `spiffeId`; the same one for the same arguments unless `fresh`. */
export function testSvid(
  spec: PrivateKeySpec = { algorithm: "ECDSA", size: 256 },
  spiffeId = CLIENT_ID,
  fresh = false,
): Promise<TestSvid> {
  const id = `${JSON.stringify(spec)}|${spiffeId}`;
  const known = fresh ? undefined : svids.get(id);
  if (known) return known;
  const made = testRoot().then(async ({ ca }) => {
    const svid = await mintSvid({ ca, spiffeId, ttlMs: 3_600_000, keyAlgorithm: spec, now: new Date() });
    return {
      spiffeId,
      key: createPrivateKey(svid.keyPem),
      keyPem: svid.keyPem,
      certificate: new X509Certificate(svid.certPem),
      certPem: svid.certPem,
      chainPem: svid.chainPem,
    };
  });
  if (!fresh) svids.set(id, made);
  return made;
}

/** A valid header and claim set for `svid` at NOW_MS, for crafted proofs to change. */
export function validParts(
  svid: TestSvid,
  alg: string,
): { header: Record<string, unknown>; claims: Record<string, unknown> } {
  const iat = Math.floor(NOW_MS / 1000);
  return {
    header: { alg, typ: PROOF_TYPE, "x5t#S256": thumbprintOf(svid.certificate.raw) },
    claims: {
      jti: randomBytes(16).toString("base64url"),
      iat,
      exp: iat + 30,
      htm: "POST",
      htu: REQUEST_URL,
      sub: svid.spiffeId,
      aud: SERVER_ID,
      cb: base64url(CB),
    },
  };
}

export interface Craft {
  header?: Record<string, unknown>;
  claims?: Record<string, unknown>;
  /** Default: the SVID's own key. */
  signWith?: KeyObject;
}

/** A proof for `svid` with the given header members and claims changed (undefined removes one), really signed. */
export function craftProof(svid: TestSvid, alg: string, craft: Craft = {}): Promise<string> {
  const valid = validParts(svid, alg);
  const header = withChanges(valid.header, craft.header);
  const claims = withChanges(valid.claims, craft.claims);
  return new CompactSign(Buffer.from(JSON.stringify(claims)))
    .setProtectedHeader(header as { alg: string })
    .sign(craft.signWith ?? svid.key);
}

/** A compact JWS from raw parts, for what jose refuses to sign (alg none, unknown algs). */
export function rawJws(header: unknown, claims: unknown, signature = Buffer.alloc(64, 1)): string {
  const part = (value: unknown) => Buffer.from(JSON.stringify(value)).toString("base64url");
  return `${part(header)}.${part(claims)}.${base64url(signature)}`;
}

/** An ES256 compact JWS signed with node:crypto, for headers jose refuses to sign (crit). */
export function es256Jws(header: unknown, claims: unknown, key: KeyObject): string {
  const part = (value: unknown) => Buffer.from(JSON.stringify(value)).toString("base64url");
  const input = `${part(header)}.${part(claims)}`;
  return `${input}.${base64url(sign("sha256", Buffer.from(input), { key, dsaEncoding: "ieee-p1363" }))}`;
}

function withChanges(
  base: Record<string, unknown>,
  changes: Record<string, unknown> = {},
): Record<string, unknown> {
  const result = { ...base, ...changes };
  for (const [name, value] of Object.entries(changes)) if (value === undefined) delete result[name];
  return result;
}
