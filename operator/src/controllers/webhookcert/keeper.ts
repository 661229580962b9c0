import * as k8s from "@kubernetes/client-node";
import { inspectSecretData, mintSvid } from "../../pki/index.ts";
import type { Logger } from "../../telemetry/logger.ts";
import { type CaState, MANAGED_BY } from "../ca/store.ts";
import { isApiStatus } from "../shared/cache.ts";
import { decodeSecretData, encodeSecretData, toBase64 } from "../shared/secret-data.ts";

export const WEBHOOK_TLS_COMPONENT = "webhook-tls";
const SERVING_TTL_MS = 7 * 86_400_000;

export interface WebhookCertKeeperOptions {
  kc: k8s.KubeConfig;
  namespace: string;
  secretName: string;
  dnsNames: string[];
  trustDomain: string;
  /** The MutatingWebhookConfiguration whose caBundle this keeps current, if any. */
  webhookConfigurationName: string | undefined;
  log: Logger;
  now: () => Date;
}

/**
 * Keeps the webhook's serving certificate, minted from Signet's CA, in a Secret every replica loads,
 * and the webhook configuration's caBundle equal to the trust bundle: no cert-manager needed.
 * Renewal is due at two thirds of the certificate's life, or at once when the CA or names changed.
 */
export class WebhookCertKeeper {
  readonly #o: WebhookCertKeeperOptions;
  readonly #core: k8s.CoreV1Api;
  readonly #admission: k8s.AdmissionregistrationV1Api;

  constructor(options: WebhookCertKeeperOptions) {
    this.#o = options;
    this.#core = options.kc.makeApiClient(k8s.CoreV1Api);
    this.#admission = options.kc.makeApiClient(k8s.AdmissionregistrationV1Api);
  }

  /** Returns when to look again. */
  async reconcile(ca: CaState): Promise<Date> {
    const { namespace, secretName } = this.#o;
    const now = this.#o.now();
    let existing: k8s.V1Secret | undefined;
    try {
      existing = await this.#core.readNamespacedSecret({ namespace, name: secretName });
    } catch (err) {
      if (!isApiStatus(err, 404)) throw err;
    }
    const data = decodeSecretData(existing?.data);
    const { current, renewAt } = servingCertificateState(existing ? data : undefined, {
      dnsNames: this.#o.dnsNames,
      bundlePem: ca.bundlePem,
      now,
    });
    let nextCheck = renewAt ?? now;
    if (!current) {
      const svid = await mintSvid({
        ca: ca.issuer,
        spiffeId: `spiffe://${this.#o.trustDomain}/ns/${namespace}/sa/signet-webhook`,
        dnsNames: this.#o.dnsNames,
        ttlMs: SERVING_TTL_MS,
        now,
      });
      const body: k8s.V1Secret = {
        metadata: {
          name: secretName,
          namespace,
          labels: { ...MANAGED_BY, "signet.dev/component": WEBHOOK_TLS_COMPONENT },
          ...(existing?.metadata?.resourceVersion
            ? { resourceVersion: existing.metadata.resourceVersion }
            : {}),
        },
        type: "kubernetes.io/tls",
        data: encodeSecretData({ "tls.crt": svid.chainPem, "tls.key": svid.keyPem, "ca.crt": ca.bundlePem }),
      };
      if (existing) await this.#core.replaceNamespacedSecret({ namespace, name: secretName, body });
      else await this.#core.createNamespacedSecret({ namespace, body });
      this.#o.log.info(
        { serial: svid.serialNumber, notAfter: svid.notAfter.toISOString() },
        "webhook serving certificate issued",
      );
      nextCheck = new Date(now.getTime() + (svid.notAfter.getTime() - now.getTime()) * (2 / 3));
    }
    await this.#syncCaBundle(ca.bundlePem);
    return nextCheck;
  }

  async #syncCaBundle(bundlePem: string): Promise<void> {
    const name = this.#o.webhookConfigurationName;
    if (!name) return;
    let config: k8s.V1MutatingWebhookConfiguration;
    try {
      config = await this.#admission.readMutatingWebhookConfiguration({ name });
    } catch (err) {
      if (isApiStatus(err, 404)) {
        this.#o.log.warn(
          { name },
          "MutatingWebhookConfiguration not found; its caBundle cannot be kept current",
        );
        return;
      }
      throw err;
    }
    const caBundle = toBase64(bundlePem);
    if ((config.webhooks ?? []).every((w) => w.clientConfig.caBundle === caBundle)) return;
    for (const webhook of config.webhooks ?? []) webhook.clientConfig.caBundle = caBundle;
    await this.#admission.replaceMutatingWebhookConfiguration({ name, body: config });
    this.#o.log.info({ name }, "webhook caBundle updated");
  }
}

/**
 * Whether the webhook's serving certificate in `data` can stay: it parses, chains to its ca.crt,
 * carries exactly the wanted DNS names, its ca.crt is the current trust bundle (so a CA rotation
 * re-issues it), and two thirds of its life have not passed.
 */
export function servingCertificateState(
  data: Record<string, string> | undefined,
  want: { dnsNames: readonly string[]; bundlePem: string; now: Date },
): { current: boolean; renewAt: Date | undefined } {
  const inspection = inspectSecretData(data);
  const view = inspection.status === "Parsed" ? inspection.view : undefined;
  if (!view) return { current: false, renewAt: undefined };
  const lifetime = view.notAfter.getTime() - view.notBefore.getTime();
  const renewAt = new Date(view.notBefore.getTime() + (lifetime * 2) / 3);
  const namesMatch = [...want.dnsNames].sort().join(",") === [...view.dnsNames].sort().join(",");
  const current =
    view.chainVerified && namesMatch && data?.["ca.crt"] === want.bundlePem && want.now < renewAt;
  return { current, renewAt };
}
