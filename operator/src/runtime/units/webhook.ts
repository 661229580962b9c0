import type * as k8s from "@kubernetes/client-node";
import { VALIDATE_MACHINE_IDENTITIES_PATH } from "../../../../webhooks/src/configuration.ts";
import { startWebhookServer } from "../../../../webhooks/src/server.ts";
import { decodeSecretData } from "../../controllers/shared/secret-data.ts";
import { validateMachineIdentities } from "../../issuance/admission.ts";
import type { Runnable } from "../runnables.ts";
import type { OperatorContext } from "./context.ts";

/**
 * Always on, on every replica: the admission webhooks, serving the certificate the leader keeps in
 * the webhook Secret (reloaded whenever that Secret changes). It reads the caches and writes nothing.
 */
export function webhookUnit(ctx: OperatorContext, onPort: (port: number) => void): Runnable {
  const { config, log, caches } = ctx;
  return {
    name: "webhook",
    leaderElected: false,
    async start() {
      const webhook = await startWebhookServer({
        trustDomain: config.trustDomain,
        lookupIdentity: (ns, name) => caches.identities.get(ns, name),
        listIdentities: (ns) => caches.identities.list(ns),
        identitiesSynced: () => caches.identities.hasSynced(),
        logger: log.child({ component: "webhook" }),
        registry: ctx.metrics.registry,
        port: config.webhookPort,
        ...(config.webhookHost ? { host: config.webhookHost } : {}),
        handlers: {
          [VALIDATE_MACHINE_IDENTITIES_PATH]: validateMachineIdentities({
            ...ctx.claimRules,
            claimants: ctx.claimIndex,
            secret: (namespace, name) => caches.secrets.get(namespace, name),
            reserved: ctx.reservedSecrets,
            synced: () =>
              caches.identities.hasSynced() &&
              caches.issuancePolicies.hasSynced() &&
              caches.namespaces.hasSynced(),
          }),
        },
      });
      onPort(webhook.port);
      const load = (secret: k8s.V1Secret) => {
        if (secret.metadata?.name !== config.webhookSecretName) return;
        const { "tls.crt": crt = "", "tls.key": key = "" } = decodeSecretData(secret.data);
        try {
          webhook.setServingCertificate(crt, key);
          log.info("webhook serving certificate loaded");
        } catch (err) {
          log.warn({ err: (err as Error).message }, "webhook serving certificate rejected");
        }
      };
      const offs = [caches.webhookSecret.on("add", load), caches.webhookSecret.on("update", load)];
      for (const s of caches.webhookSecret.list()) load(s);
      return async () => {
        for (const off of offs) off();
        await webhook.close();
      };
    },
  };
}
