import { createHmac, randomBytes, timingSafeEqual } from "node:crypto";
import { base64url, decodeBase64url } from "./format.ts";

// Stateless nonces (docs/proofs.md, "Nonces"): the verifier's own clock, not the client's, then
// decides how old a proof may be. A nonce is the second it was issued and a MAC over that second
// and the verifier's audience, so any replica holding the same secret can check it.

export interface NonceOptions {
  /** At least 32 bytes; share it between replicas so that a nonce from one is good at all. Default: random per verifier. */
  secret?: Uint8Array | undefined;
  /** How long after issue a nonce is accepted; default 60 s, at most 300. */
  windowSeconds?: number | undefined;
}

export const DEFAULT_NONCE_WINDOW_SECONDS = 60;
const MAX_NONCE_WINDOW_SECONDS = 300;
const TIME_BYTES = 8;
const MAC_BYTES = 16;

export interface Nonces {
  issue(nowMs: number): string;
  /** Whether `nonce` was issued by this secret and audience, not after now + skew and within the window. */
  check(nonce: string, nowMs: number, skewSeconds: number): boolean;
}

export function createNonces(audience: string, options: NonceOptions): Nonces {
  const secret = options.secret ?? randomBytes(32);
  if (secret.length < 32) throw new RangeError(`nonces.secret has ${secret.length} bytes; give at least 32`);
  const window = options.windowSeconds ?? DEFAULT_NONCE_WINDOW_SECONDS;
  if (!Number.isInteger(window) || window < 1 || window > MAX_NONCE_WINDOW_SECONDS) {
    throw new RangeError(
      `nonces.windowSeconds ${window} must be a whole number from 1 to ${MAX_NONCE_WINDOW_SECONDS}`,
    );
  }
  const macOf = (time: Buffer) =>
    createHmac("sha256", secret).update("signet-nonce\0").update(audience).update("\0").update(time).digest();

  return {
    issue(nowMs) {
      const time = Buffer.alloc(TIME_BYTES);
      time.writeBigUInt64BE(BigInt(Math.floor(nowMs / 1000)));
      return base64url(Buffer.concat([time, macOf(time).subarray(0, MAC_BYTES)]));
    },
    check(nonce, nowMs, skewSeconds) {
      const bytes = decodeBase64url(nonce);
      if (bytes?.length !== TIME_BYTES + MAC_BYTES) return false;
      const time = bytes.subarray(0, TIME_BYTES);
      if (!timingSafeEqual(bytes.subarray(TIME_BYTES), macOf(time).subarray(0, MAC_BYTES))) return false;
      const issued = Number(time.readBigUInt64BE());
      const now = nowMs / 1000;
      // Skew only for a replica whose clock runs a little ahead of this one.
      return issued <= now + skewSeconds && now - issued <= window;
    },
  };
}
