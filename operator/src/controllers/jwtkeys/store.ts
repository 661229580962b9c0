import type * as k8s from "@kubernetes/client-node";
import { COMPONENT_LABEL, MANAGED_BY } from "../../api/names.ts";
import {
  createSigningKey,
  parseSigningKeys,
  SIGNING_KEYS_DATA_KEY,
  type SigningKey,
  serializeSigningKeys,
} from "../../jwt/keys.ts";
import { type SigningKeyPlan, type SigningKeySchedule, signingKeyPlan } from "../../jwt/rotation.ts";
import type { KubeClient } from "../../kube/client.ts";
import { type ResourceClient, resourceClient, SECRETS } from "../../kube/resources.ts";
import type { Logger } from "../../telemetry/logger.ts";
import { isApiStatus } from "../shared/cache.ts";
import { decodeSecretData, encodeSecretData } from "../shared/secret-data.ts";

/** The signet.dev/component label of the signing key Secret. */
export const JWT_SIGNING_COMPONENT = "jwt-signing";

export interface JwtKeyStoreOptions {
  kube: KubeClient;
  namespace: string;
  secretName: string;
  schedule: Partial<SigningKeySchedule>;
  log: Logger;
  now: () => Date;
  ownerReferences?: k8s.V1OwnerReference[] | undefined;
}

/**
 * The JWT-SVID signing keys in a Secret of the operator's namespace, kept by the leader along the
 * pure signingKeyPlan: the Secret is created once (a racing replica reads the winner's), and each
 * step is a resourceVersion-guarded replace. Every replica signs with and publishes what the
 * Secret holds; which key signs follows from the clock, so no write is needed at the switch.
 */
export class JwtKeyStore {
  readonly #o: JwtKeyStoreOptions;
  readonly #secrets: ResourceClient<k8s.V1Secret>;

  constructor(options: JwtKeyStoreOptions) {
    this.#o = options;
    this.#secrets = resourceClient(options.kube, SECRETS);
  }

  get #where(): string {
    return `JWT signing Secret ${this.#o.namespace}/${this.#o.secretName}`;
  }

  /** Applies the step that is due and returns the plan of the keys now stored. */
  async reconcile(): Promise<SigningKeyPlan> {
    for (let attempt = 0; ; attempt++) {
      const existing = await this.#read();
      const keys = existing
        ? await parseSigningKeys(decodeSecretData(existing.data)[SIGNING_KEYS_DATA_KEY] ?? "[]", this.#where)
        : [];
      const now = this.#o.now();
      const plan = signingKeyPlan(keys, now, this.#o.schedule);
      if (existing && !plan.create && plan.drop.length === 0) return plan;
      const next: SigningKey[] = keys.filter((k) => !plan.drop.includes(k.kid));
      if (plan.create) next.push(await createSigningKey(now, plan.create.signingFrom));
      try {
        await this.#write(existing, next);
      } catch (err) {
        if (!isApiStatus(err, 409) || attempt > 3) throw err;
        continue;
      }
      const added = plan.create ? next[next.length - 1] : undefined;
      this.#o.log.info(
        {
          reason: plan.reason,
          ...(added ? { kid: added.kid, signingFrom: added.signingFrom.toISOString() } : {}),
          dropped: plan.drop,
        },
        "JWT signing keys updated",
      );
      return signingKeyPlan(next, now, this.#o.schedule);
    }
  }

  async #read(): Promise<k8s.V1Secret | undefined> {
    try {
      return await this.#secrets.get(this.#o.namespace, this.#o.secretName);
    } catch (err) {
      if (isApiStatus(err, 404)) return undefined;
      throw err;
    }
  }

  async #write(existing: k8s.V1Secret | undefined, keys: readonly SigningKey[]): Promise<void> {
    const data = encodeSecretData({ [SIGNING_KEYS_DATA_KEY]: serializeSigningKeys(keys) });
    if (existing) {
      await this.#secrets.replace({ ...existing, data });
      return;
    }
    await this.#secrets.create({
      metadata: {
        name: this.#o.secretName,
        namespace: this.#o.namespace,
        labels: { ...MANAGED_BY, [COMPONENT_LABEL]: JWT_SIGNING_COMPONENT },
        ...(this.#o.ownerReferences ? { ownerReferences: this.#o.ownerReferences } : {}),
      },
      type: "Opaque",
      data,
    });
  }
}
