import type * as k8s from "@kubernetes/client-node";
import { COMPONENT_LABEL, MANAGED_BY } from "../../api/names.ts";
import type { KubeClient } from "../../kube/client.ts";
import {
  MUTATING_WEBHOOKS,
  type ResourceClient,
  resourceClient,
  SECRETS,
  VALIDATING_WEBHOOKS,
} from "../../kube/resources.ts";
import { isIssuedBy } from "../../pki/certificate.ts";
import {
  type CertificateAuthority,
  canonicalIpAddresses,
  inspectSecretData,
  ipAddressesOf,
  mintServingCertificate,
} from "../../pki/index.ts";
import type { Logger } from "../../telemetry/logger.ts";
import type { CaState } from "../ca/store.ts";
import { isApiStatus } from "../shared/cache.ts";
import { decodeSecretData, encodeSecretData, toBase64 } from "../shared/secret-data.ts";

export const WEBHOOK_TLS_COMPONENT = "webhook-tls";
/** The serving certificate's lifetime; the serving CA keeps a retired root trusted at least this long. */
export const SERVING_TTL_MS = 7 * 86_400_000;

export interface WebhookCertKeeperOptions {
  kube: KubeClient;
  namespace: string;
  secretName: string;
  dnsNames: string[];
  /** IP SANs, for an API server that calls the webhook at an address (https://127.0.0.1:PORT). */
  ipAddresses: string[];
  /** The MutatingWebhookConfiguration whose caBundle this keeps current, if any. */
  mutatingWebhookConfigurationName: string | undefined;
  /** The ValidatingWebhookConfiguration whose caBundle this keeps current, if any. */
  validatingWebhookConfigurationName: string | undefined;
  log: Logger;
  now: () => Date;
  /** Owners of the serving Secret (the operator's Deployment), so that uninstalling removes it. */
  ownerReferences?: k8s.V1OwnerReference[] | undefined;
}

/**
 * Keeps the webhook's serving certificate, minted from Signet's serving CA (never the CA of
 * workload SVIDs), in a Secret every replica loads, and the caBundle of the webhook
 * configurations equal to the serving CA's bundle: no cert-manager needed, and no tenant's SVID
 * chains to what the API server trusts as Signet. Renewal is due at two thirds of the
 * certificate's life, or at once when the serving CA, its bundle or the names changed.
 */
export class WebhookCertKeeper {
  readonly #o: WebhookCertKeeperOptions;
  readonly #secrets: ResourceClient<k8s.V1Secret>;
  readonly #mutating: ResourceClient<k8s.V1MutatingWebhookConfiguration>;
  readonly #validating: ResourceClient<k8s.V1ValidatingWebhookConfiguration>;

  constructor(options: WebhookCertKeeperOptions) {
    this.#o = options;
    this.#secrets = resourceClient(options.kube, SECRETS);
    this.#mutating = resourceClient(options.kube, MUTATING_WEBHOOKS);
    this.#validating = resourceClient(options.kube, VALIDATING_WEBHOOKS);
  }

  /**
   * Returns when to look again. `extraData` is kept in the Secret beside the certificate (e.g. the
   * JWT endpoint's client-ca.crt); a change of it rewrites the Secret.
   */
  async reconcile(servingCa: CaState, extraData: Record<string, string> = {}): Promise<Date> {
    const { namespace, secretName } = this.#o;
    const now = this.#o.now();
    let existing: k8s.V1Secret | undefined;
    try {
      existing = await this.#secrets.get(namespace, secretName);
    } catch (err) {
      if (!isApiStatus(err, 404)) throw err;
    }
    const data = decodeSecretData(existing?.data);
    const { current, renewAt } = servingCertificateState(existing ? data : undefined, {
      dnsNames: this.#o.dnsNames,
      ipAddresses: this.#o.ipAddresses,
      issuer: servingCa.issuer,
      bundlePem: servingCa.bundlePem,
      now,
    });
    let nextCheck = renewAt ?? now;
    if (!current || Object.entries(extraData).some(([key, value]) => data[key] !== value)) {
      const minted = await mintServingCertificate({
        ca: servingCa.issuer,
        dnsNames: this.#o.dnsNames,
        ipAddresses: this.#o.ipAddresses,
        ttlMs: SERVING_TTL_MS,
        now,
      });
      const body: k8s.V1Secret = {
        metadata: {
          name: secretName,
          namespace,
          labels: { ...MANAGED_BY, [COMPONENT_LABEL]: WEBHOOK_TLS_COMPONENT },
          ...(this.#o.ownerReferences ? { ownerReferences: this.#o.ownerReferences } : {}),
          ...(existing?.metadata?.resourceVersion
            ? { resourceVersion: existing.metadata.resourceVersion }
            : {}),
        },
        type: "kubernetes.io/tls",
        data: encodeSecretData({
          "tls.crt": minted.chainPem,
          "tls.key": minted.keyPem,
          "ca.crt": servingCa.bundlePem,
          ...extraData,
        }),
      };
      if (existing) await this.#secrets.replace(body);
      else await this.#secrets.create(body);
      this.#o.log.info(
        {
          secret: `${namespace}/${secretName}`,
          serial: minted.serialNumber,
          notAfter: minted.notAfter.toISOString(),
        },
        "serving certificate issued",
      );
      nextCheck = new Date(now.getTime() + (minted.notAfter.getTime() - now.getTime()) * (2 / 3));
    }
    await this.#syncCaBundle(servingCa.bundlePem, {
      kind: "MutatingWebhookConfiguration",
      name: this.#o.mutatingWebhookConfigurationName,
      read: (name) => this.#mutating.get("", name),
      replace: (_name, body) => this.#mutating.replace(body),
    });
    await this.#syncCaBundle(servingCa.bundlePem, {
      kind: "ValidatingWebhookConfiguration",
      name: this.#o.validatingWebhookConfigurationName,
      read: (name) => this.#validating.get("", name),
      replace: (_name, body) => this.#validating.replace(body),
    });
    return nextCheck;
  }

  async #syncCaBundle<T extends { webhooks?: { clientConfig: { caBundle?: string } }[] }>(
    bundlePem: string,
    target: {
      kind: string;
      name: string | undefined;
      read: (name: string) => Promise<T>;
      replace: (name: string, body: T) => Promise<unknown>;
    },
  ): Promise<void> {
    const { kind, name } = target;
    if (!name) return;
    let config: T;
    try {
      config = await target.read(name);
    } catch (err) {
      if (isApiStatus(err, 404)) {
        this.#o.log.warn({ kind, name }, `${kind} not found; its caBundle cannot be kept current`);
        return;
      }
      throw err;
    }
    const caBundle = toBase64(bundlePem);
    const webhooks = config.webhooks ?? [];
    if (webhooks.every((w) => w.clientConfig.caBundle === caBundle)) return;
    for (const webhook of webhooks) webhook.clientConfig.caBundle = caBundle;
    // resourceVersion from the read makes this a guarded replace: a concurrent edit gets a 409
    // and the next pass starts from what is there now.
    await target.replace(name, config);
    this.#o.log.info({ kind, name }, "webhook caBundle updated");
  }
}

/**
 * Whether the webhook's serving certificate in `data` can stay: it parses, chains to its ca.crt,
 * was issued by the serving CA's current issuer, carries exactly the wanted DNS names and IP
 * addresses, its ca.crt is the current serving bundle (so a CA rotation or a move off the
 * workload CA re-issues it), and two thirds of its life have not passed.
 */
export function servingCertificateState(
  data: Record<string, string> | undefined,
  want: {
    dnsNames: readonly string[];
    ipAddresses: readonly string[];
    issuer: CertificateAuthority;
    bundlePem: string;
    now: Date;
  },
): { current: boolean; renewAt: Date | undefined } {
  const inspection = inspectSecretData(data);
  const view = inspection.status === "Parsed" ? inspection.view : undefined;
  if (!view) return { current: false, renewAt: undefined };
  const lifetime = view.notAfter.getTime() - view.notBefore.getTime();
  const renewAt = new Date(view.notBefore.getTime() + (lifetime * 2) / 3);
  const namesMatch =
    [...new Set(want.dnsNames)].sort().join(",") === view.dnsNames.join(",") &&
    canonicalIpAddresses(want.ipAddresses).join(",") === ipAddressesOf(view.leaf.subjectAltName).join(",");
  const current =
    view.chainVerified &&
    isIssuedBy(view.leaf, want.issuer.certificate) &&
    namesMatch &&
    data?.["ca.crt"] === want.bundlePem &&
    want.now < renewAt;
  return { current, renewAt };
}
