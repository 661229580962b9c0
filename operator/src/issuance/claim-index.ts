import { type MachineIdentity, secretNameOf, spiffeIDOf } from "../api/index.ts";
import { keyOf } from "../kube/informer.ts";

/** Who else claims what an identity claims, answered without a scan of every identity. */
export interface Claimants {
  /** Every MachineIdentity whose SPIFFE ID (explicit or default) is this one. */
  bySpiffeId(spiffeId: string): MachineIdentity[];
  /** Every MachineIdentity of the namespace whose spec.secretName (or default) is this one. */
  bySecretName(namespace: string, secretName: string): MachineIdentity[];
}

/**
 * An index of the identity cache by SPIFFE ID and by Secret name, kept by informer events: the
 * ownership rules compare an identity with its rivals on every reconcile and admission, and a scan
 * of every identity there makes converging N identities cost N² work.
 */
export class ClaimIndex implements Claimants {
  readonly #trustDomain: string;
  readonly #byId = new Map<string, Map<string, MachineIdentity>>();
  readonly #bySecret = new Map<string, Map<string, MachineIdentity>>();
  readonly #entries = new Map<string, { spiffeId: string; secret: string }>();
  readonly #released = new Set<(spiffeId: string, key: string) => void>();

  constructor(trustDomain: string) {
    this.#trustDomain = trustDomain;
  }

  /** Records the current version of an identity (add and update events). */
  upsert(identity: MachineIdentity): void {
    const key = keyOf(identity);
    const spiffeId = spiffeIDOf(identity, this.#trustDomain);
    const secret = `${identity.metadata.namespace ?? ""}/${secretNameOf(identity)}`;
    const before = this.#entries.get(key);
    if (before) {
      if (before.spiffeId !== spiffeId) this.#drop(this.#byId, before.spiffeId, key);
      if (before.secret !== secret) this.#drop(this.#bySecret, before.secret, key);
    }
    this.#put(this.#byId, spiffeId, key, identity);
    this.#put(this.#bySecret, secret, key, identity);
    this.#entries.set(key, { spiffeId, secret });
    if (before && before.spiffeId !== spiffeId) this.#release(before.spiffeId, key);
  }

  /** Forgets an identity (delete events). */
  remove(identity: MachineIdentity): void {
    const key = keyOf(identity);
    const before = this.#entries.get(key);
    if (!before) return;
    this.#drop(this.#byId, before.spiffeId, key);
    this.#drop(this.#bySecret, before.secret, key);
    this.#entries.delete(key);
    this.#release(before.spiffeId, key);
  }

  /**
   * Calls back whenever an identity lets go of a SPIFFE ID (deleted, or now claiming another), so
   * that its rivals can be looked at again. Returns the function that stops the calls.
   */
  onReleased(callback: (spiffeId: string, key: string) => void): () => void {
    this.#released.add(callback);
    return () => this.#released.delete(callback);
  }

  bySpiffeId(spiffeId: string): MachineIdentity[] {
    return [...(this.#byId.get(spiffeId)?.values() ?? [])];
  }

  bySecretName(namespace: string, secretName: string): MachineIdentity[] {
    return [...(this.#bySecret.get(`${namespace}/${secretName}`)?.values() ?? [])];
  }

  #put(map: Map<string, Map<string, MachineIdentity>>, at: string, key: string, mi: MachineIdentity): void {
    const entries = map.get(at) ?? new Map<string, MachineIdentity>();
    entries.set(key, mi);
    map.set(at, entries);
  }

  #drop(map: Map<string, Map<string, MachineIdentity>>, at: string, key: string): void {
    const entries = map.get(at);
    entries?.delete(key);
    if (entries?.size === 0) map.delete(at);
  }

  #release(spiffeId: string, key: string): void {
    for (const callback of this.#released) callback(spiffeId, key);
  }
}
