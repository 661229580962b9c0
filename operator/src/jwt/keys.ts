import { createPrivateKey, createPublicKey, generateKeyPairSync, type KeyObject } from "node:crypto";
import { calculateJwkThumbprint, exportJWK, type JWK } from "jose";
import type { SigningKeyTimes } from "./rotation.ts";

/** The Secret data key that holds the signing key set. */
export const SIGNING_KEYS_DATA_KEY = "keys.json";
export const JWT_ALG = "ES256";

/** One ES256 signing key of the set, with its private key in memory only. */
export interface SigningKey extends SigningKeyTimes {
  privateKey: KeyObject;
  /** The public key as published in the JWKS (kid, alg, use). */
  jwk: JWK;
}

interface StoredKey {
  kid: string;
  createdAt: string;
  signingFrom: string;
  /** PKCS#8 PEM. */
  privateKey: string;
}

/** A new P-256 key, its kid the RFC 7638 thumbprint of its public JWK. */
export async function createSigningKey(createdAt: Date, signingFrom: Date): Promise<SigningKey> {
  const { privateKey } = generateKeyPairSync("ec", { namedCurve: "P-256" });
  return withPublic(privateKey, createdAt, signingFrom);
}

async function withPublic(privateKey: KeyObject, createdAt: Date, signingFrom: Date): Promise<SigningKey> {
  const { kty, crv, x, y } = await exportJWK(createPublicKey(privateKey));
  const kid = await calculateJwkThumbprint({ kty, crv, x, y } as JWK, "sha256");
  return { kid, createdAt, signingFrom, privateKey, jwk: { kty, crv, x, y, kid, alg: JWT_ALG, use: "sig" } };
}

/** The Secret's keys.json: every key, oldest first, so that equal sets serialize equally. */
export function serializeSigningKeys(keys: readonly SigningKey[]): string {
  const stored: StoredKey[] = [...keys]
    .sort((p, q) => p.signingFrom.getTime() - q.signingFrom.getTime() || (p.kid < q.kid ? -1 : 1))
    .map((k) => ({
      kid: k.kid,
      createdAt: k.createdAt.toISOString(),
      signingFrom: k.signingFrom.toISOString(),
      privateKey: k.privateKey.export({ type: "pkcs8", format: "pem" }).toString(),
    }));
  return `${JSON.stringify(stored, null, 2)}\n`;
}

/**
 * Reads keys.json. A key whose kid is not the thumbprint of its key, or that is not a P-256 key,
 * is an error naming it: the set is Signet's own, and an edit by hand must not sign silently.
 */
export async function parseSigningKeys(text: string, where: string): Promise<SigningKey[]> {
  let stored: unknown;
  try {
    stored = JSON.parse(text);
  } catch {
    throw new Error(`${where}: ${SIGNING_KEYS_DATA_KEY} is not JSON`);
  }
  if (!Array.isArray(stored)) throw new Error(`${where}: ${SIGNING_KEYS_DATA_KEY} is not a list of keys`);
  const keys: SigningKey[] = [];
  for (const [index, entry] of stored.entries()) {
    const e = entry as Partial<StoredKey>;
    const at = `${where}: ${SIGNING_KEYS_DATA_KEY}[${index}]`;
    const createdAt = new Date(e.createdAt ?? Number.NaN);
    const signingFrom = new Date(e.signingFrom ?? Number.NaN);
    if (Number.isNaN(createdAt.getTime()) || Number.isNaN(signingFrom.getTime()))
      throw new Error(`${at}: createdAt and signingFrom must be RFC 3339 times`);
    let privateKey: KeyObject;
    try {
      privateKey = createPrivateKey(e.privateKey ?? "");
    } catch {
      throw new Error(`${at}: privateKey is not a PEM private key`);
    }
    if (privateKey.asymmetricKeyType !== "ec" || privateKey.asymmetricKeyDetails?.namedCurve !== "prime256v1")
      throw new Error(`${at}: privateKey is not a P-256 key`);
    const key = await withPublic(privateKey, createdAt, signingFrom);
    if (key.kid !== e.kid)
      throw new Error(`${at}: kid ${e.kid} is not the thumbprint of its key (${key.kid})`);
    keys.push(key);
  }
  return keys;
}

/** The JWKS of every published key, in keys.json's order. */
export function jwksOf(keys: readonly SigningKey[]): { keys: JWK[] } {
  return { keys: keys.map((k) => k.jwk) };
}
