import { createHash, randomBytes, timingSafeEqual } from "node:crypto";

/** The version prefix of every enrollment token; secret scanners can match it. */
export const TOKEN_PREFIX = "signet-et1";
/** 256 random bits, base64url: 43 characters. */
const SECRET_BYTES = 32;
const SECRET_PATTERN = /^[A-Za-z0-9_-]{43}$/;
const LABEL = /^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$/;

/** Where a token points: the Enrollment it was made for. */
export interface TokenRef {
  namespace: string;
  name: string;
}

/**
 * A fresh token for the Enrollment `namespace/name`: signet-et1.<namespace>.<name>.<secret>, with
 * 256 random bits of secret. The namespace and name only say where to look; the token proves
 * nothing without the secret, and only its hash is stored.
 */
export function generateToken(ref: TokenRef, random: (n: number) => Buffer = randomBytes): string {
  for (const [what, value] of [
    ["namespace", ref.namespace],
    ["name", ref.name],
  ] as const) {
    if (!LABEL.test(value)) throw new Error(`the Enrollment's ${what} "${value}" is not a DNS label`);
  }
  const secret = random(SECRET_BYTES);
  if (secret.length !== SECRET_BYTES) throw new Error("the random source returned too few bytes");
  return `${TOKEN_PREFIX}.${ref.namespace}.${ref.name}.${secret.toString("base64url")}`;
}

/** The Enrollment a token names, or why the text is not a token; nothing else is read from it. */
export function parseToken(token: string): { ok: true; ref: TokenRef } | { ok: false; message: string } {
  const parts = token.split(".");
  if (parts.length !== 4 || parts[0] !== TOKEN_PREFIX) {
    return {
      ok: false,
      message: `an enrollment token has the form ${TOKEN_PREFIX}.<namespace>.<name>.<secret>`,
    };
  }
  const [, namespace = "", name = "", secret = ""] = parts;
  if (!LABEL.test(namespace) || !LABEL.test(name)) {
    return { ok: false, message: "the token's namespace and name must be DNS labels" };
  }
  if (!SECRET_PATTERN.test(secret)) {
    return { ok: false, message: "the token's secret must be 43 base64url characters (256 bits)" };
  }
  return { ok: true, ref: { namespace, name } };
}

/**
 * The stored form of a token, sha256:<hex> of the whole token. A token has 256 random bits, so a
 * fast hash is enough: no guess can be checked offline faster than the bits can be searched.
 */
export function hashToken(token: string): string {
  return `sha256:${createHash("sha256").update(token, "utf8").digest("hex")}`;
}

/** Whether `token` hashes to `stored`, compared in constant time. */
export function tokenMatches(token: string, stored: string): boolean {
  const a = Buffer.from(hashToken(token), "utf8");
  const b = Buffer.from(stored, "utf8");
  return a.length === b.length && timingSafeEqual(a, b);
}
