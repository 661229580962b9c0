import type * as k8s from "@kubernetes/client-node";
import { decodeSecretData } from "../controllers/shared/secret-data.ts";
import type { Logger } from "../telemetry/logger.ts";
import { parseSigningKeys, SIGNING_KEYS_DATA_KEY, type SigningKey } from "./keys.ts";

/**
 * The JWT-SVID signing keys as read from the Secret the leader keeps them in, for whatever signs
 * with them (the JWT endpoint, the token exchange). Each version of the Secret is parsed once, and
 * parses run one after another, so that an older version never replaces a newer one. A key set
 * that does not parse leaves the previous one in use; no Secret means no keys.
 */
export class SigningKeyLoader {
  readonly #where: string;
  readonly #log: Logger;
  #keys: SigningKey[] = [];
  #version: string | undefined;
  #reading: Promise<SigningKey[]> = Promise.resolve([]);

  constructor(where: string, log: Logger) {
    this.#where = where;
    this.#log = log;
  }

  /** The keys of the last version read. */
  keys(): SigningKey[] {
    return this.#keys;
  }

  /** Reads `secret` (the current version of the Secret, or undefined once it is gone), then answers the keys. */
  load(secret: k8s.V1Secret | undefined): Promise<SigningKey[]> {
    const version = secret ? `${secret.metadata?.uid ?? ""}/${secret.metadata?.resourceVersion ?? ""}` : "";
    if (version === this.#version) return this.#reading;
    this.#version = version;
    this.#reading = this.#reading.then(async () => {
      if (!secret) {
        this.#keys = [];
        return this.#keys;
      }
      const text = decodeSecretData(secret.data)[SIGNING_KEYS_DATA_KEY] ?? "[]";
      try {
        this.#keys = await parseSigningKeys(text, this.#where);
        this.#log.info({ kids: this.#keys.map((k) => k.kid) }, "JWT signing keys loaded");
      } catch (err) {
        this.#log.warn({ err: (err as Error).message }, "JWT signing keys rejected; the previous ones stay");
      }
      return this.#keys;
    });
    return this.#reading;
  }
}
