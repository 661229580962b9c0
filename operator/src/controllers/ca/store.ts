import { X509Certificate } from "node:crypto";
import type * as k8s from "@kubernetes/client-node";
import { CA_SECRET_ANNOTATIONS, COMPONENT_LABEL, MANAGED_BY } from "../../api/names.ts";
import type { KubeClient } from "../../kube/client.ts";
import { type ResourceClient, resourceClient, SECRETS } from "../../kube/resources.ts";
import {
  type CaRotationPlan,
  type CertificateAuthority,
  caRotationPlan,
  createRootCa,
  loadCa,
  trustBundle,
} from "../../pki/index.ts";
import { isApiStatus } from "../shared/cache.ts";
import { decodeSecretData, encodeSecretData } from "../shared/secret-data.ts";

const DAY_MS = 86_400_000;

/**
 * What a CA signs. The workload CA signs every SVID (its roots are name-constrained to the trust
 * domain); the serving CA signs only Signet's own endpoints, so that no tenant's certificate ever
 * chains to what the API server trusts as Signet's webhook.
 */
export type CaPurpose = "workload" | "serving";

/** The signet.dev/component label of each CA's Secret. */
export const CA_COMPONENT: Record<CaPurpose, string> = { workload: "ca", serving: "serving-ca" };

export interface CaStoreOptions {
  kube: KubeClient;
  /** The operator's namespace, where the CA Secret lives. */
  namespace: string;
  /** Signet's own CA Secret (generated on first start). */
  secretName: string;
  purpose: CaPurpose;
  /**
   * A user-supplied CA Secret (tls.crt chain, tls.key) in the operator's namespace, instead of a
   * generated one. Workload CA only: Signet's serving CA is always its own.
   */
  userSecretName?: string | undefined;
  trustDomain: string;
  /** Lifetime of a generated root. Default 365 days. */
  rootValidityMs?: number | undefined;
  /** The longest SVID lifetime the operator allows, so retired roots stay trusted long enough. */
  leafMaxTtlMs: number;
  now: () => Date;
  /** Owners of a generated CA Secret (the operator's Deployment), so that uninstalling removes it. */
  ownerReferences?: k8s.V1OwnerReference[] | undefined;
}

/** The CA material the controllers mint with, and what to trust. */
export interface CaState {
  issuer: CertificateAuthority;
  /** ca.crt of every identity Secret: every root currently trusted. */
  bundlePem: string;
  /** When the CA state should be looked at again (rotation steps), if ever. */
  nextCheck: Date | undefined;
}

type SecretData = Record<string, string>;

/**
 * Signet's CA in a Secret of the operator's namespace. A generated root is created once: when two
 * replicas race, the API server lets exactly one create succeed and the other reads the winner's.
 * Rotation follows the pure caRotationPlan: the next root is prepared early and trusted by every
 * identity's ca.crt before issuance moves to it; the old root leaves after its last leaf expired.
 * The private keys never leave the Secret and this process's memory.
 */
export class CaStore {
  readonly #o: CaStoreOptions;
  readonly #secrets: ResourceClient<k8s.V1Secret>;

  constructor(options: CaStoreOptions) {
    if (options.purpose === "serving" && options.userSecretName)
      throw new Error("a user-supplied CA signs workloads only; the serving CA is always generated");
    this.#o = options;
    this.#secrets = resourceClient(options.kube, SECRETS);
  }

  /** Reads (or first creates) the CA and applies any rotation step that is due. */
  async reconcile(): Promise<CaState> {
    if (this.#o.userSecretName) return this.#loadUserCa(this.#o.userSecretName);
    let secret = await this.#read(this.#o.secretName);
    if (!secret) secret = await this.#createGenerated();
    for (let attempt = 0; ; attempt++) {
      const { state, update } = await this.#plan(secret);
      if (!update) return state;
      try {
        await this.#secrets.replace({
          ...update,
          metadata: { ...update.metadata, namespace: this.#o.namespace, name: this.#o.secretName },
        });
        return (await this.#plan(update)).state;
      } catch (err) {
        if (!isApiStatus(err, 409) || attempt > 3) throw err;
        secret = (await this.#read(this.#o.secretName)) ?? secret;
      }
    }
  }

  async #read(name: string): Promise<k8s.V1Secret | undefined> {
    try {
      return await this.#secrets.get(this.#o.namespace, name);
    } catch (err) {
      if (isApiStatus(err, 404)) return undefined;
      throw err;
    }
  }

  async #loadUserCa(name: string): Promise<CaState> {
    const secret = await this.#read(name);
    if (!secret) {
      throw new Error(`CA Secret ${this.#o.namespace}/${name} not found: create it with tls.crt and tls.key`);
    }
    const data = decodeSecretData(secret.data);
    const issuer = loadCa(data["tls.crt"] ?? "", data["tls.key"] ?? "", { now: this.#o.now() });
    // An optional ca.crt lets the user keep extra roots trusted during their own rotation.
    return { issuer, bundlePem: trustBundle([issuer, data["ca.crt"]]), nextCheck: issuer.notAfter };
  }

  async #newRoot(): Promise<{ certPem: string; keyPem: string }> {
    const workload = this.#o.purpose === "workload";
    const { certPem, keyPem } = await createRootCa({
      commonName: workload
        ? `Signet root CA ${this.#o.trustDomain}`
        : `Signet serving CA ${this.#o.trustDomain}`,
      ...(workload ? { trustDomain: this.#o.trustDomain, constrainToTrustDomain: true } : {}),
      validity: this.#o.rootValidityMs ?? 365 * DAY_MS,
      now: this.#o.now(),
    });
    return { certPem, keyPem };
  }

  async #createGenerated(): Promise<k8s.V1Secret> {
    const root = await this.#newRoot();
    const body: k8s.V1Secret = {
      metadata: {
        name: this.#o.secretName,
        namespace: this.#o.namespace,
        labels: { ...MANAGED_BY, [COMPONENT_LABEL]: CA_COMPONENT[this.#o.purpose] },
        annotations: { [CA_SECRET_ANNOTATIONS.currentSince]: this.#o.now().toISOString() },
        ...(this.#o.ownerReferences ? { ownerReferences: this.#o.ownerReferences } : {}),
      },
      type: "kubernetes.io/tls",
      data: encodeSecretData({ "tls.crt": root.certPem, "tls.key": root.keyPem, "ca.crt": root.certPem }),
    };
    try {
      return await this.#secrets.create(body);
    } catch (err) {
      if (!isApiStatus(err, 409)) throw err;
      const winner = await this.#read(this.#o.secretName);
      if (!winner)
        throw new Error(`CA Secret ${this.#o.namespace}/${this.#o.secretName} vanished after a conflict`);
      return winner;
    }
  }

  /** The CA state held by `secret`, and the Secret to write when a rotation step is due. */
  async #plan(secret: k8s.V1Secret): Promise<{ state: CaState; update?: k8s.V1Secret }> {
    const now = this.#o.now();
    const data = decodeSecretData(secret.data);
    const where = `CA Secret ${this.#o.namespace}/${this.#o.secretName}`;
    let current: CertificateAuthority;
    try {
      current = loadCa(data["tls.crt"] ?? "", data["tls.key"] ?? "", { now });
    } catch (err) {
      throw new Error(`${where}: ${(err as Error).message}`);
    }
    const annotations = secret.metadata?.annotations ?? {};
    const next =
      data["next.crt"] && data["next.key"] ? loadCa(data["next.crt"], data["next.key"], { now }) : undefined;
    const previousPem = data["previous.crt"];
    const previous = previousPem ? lifetimeOf(previousPem) : undefined;
    const since = annotations[CA_SECRET_ANNOTATIONS.currentSince];
    const preparedAt = annotations[CA_SECRET_ANNOTATIONS.nextPreparedAt];
    const plan: CaRotationPlan = caRotationPlan({
      current,
      currentSince: since ? new Date(since) : undefined,
      next: next
        ? { notBefore: next.notBefore, notAfter: next.notAfter, preparedAt: new Date(preparedAt ?? 0) }
        : undefined,
      previous,
      now,
      leafMaxTtl: this.#o.leafMaxTtlMs,
    });
    const steady = (issuer: CertificateAuthority): CaState => ({
      issuer,
      bundlePem: trustBundle([previousPem, issuer, next]),
      nextCheck: plan.nextCheck,
    });
    if (!plan.prepareNext && !plan.switchToNext && !plan.dropPrevious) return { state: steady(current) };

    const out: SecretData = { ...data };
    const outAnnotations = { ...annotations };
    if (plan.dropPrevious) delete out["previous.crt"];
    if (plan.prepareNext) {
      const root = await this.#newRoot();
      out["next.crt"] = root.certPem;
      out["next.key"] = root.keyPem;
      outAnnotations[CA_SECRET_ANNOTATIONS.nextPreparedAt] = now.toISOString();
    }
    if (plan.switchToNext && next) {
      out["previous.crt"] = current.rootPem;
      out["tls.crt"] = data["next.crt"] ?? "";
      out["tls.key"] = data["next.key"] ?? "";
      delete out["next.crt"];
      delete out["next.key"];
      delete outAnnotations[CA_SECRET_ANNOTATIONS.nextPreparedAt];
      outAnnotations[CA_SECRET_ANNOTATIONS.currentSince] = now.toISOString();
    }
    out["ca.crt"] = trustBundle([out["previous.crt"], out["tls.crt"], out["next.crt"]]);
    return {
      state: steady(current),
      update: {
        ...secret,
        metadata: { ...secret.metadata, annotations: outAnnotations },
        data: encodeSecretData(out),
      },
    };
  }
}

function lifetimeOf(pem: string): { notBefore: Date; notAfter: Date } {
  const cert = new X509Certificate(pem);
  return { notBefore: new Date(cert.validFrom), notAfter: new Date(cert.validTo) };
}
