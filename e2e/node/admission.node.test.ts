// The admission cases of the local tiers (e2e/admission/cases.ts), here against the chart as a user
// installs it: the API server calls the webhook in-cluster through its Service, the shipped
// ValidatingAdmissionPolicy and webhook configurations apply, and the operator's Deployment
// reconciles the tenant's MachineIdentities and issues their Secrets.
import { randomBytes } from "node:crypto";
import { afterAll, beforeAll, describe } from "vitest";
import { admissionCases, operatorIdentities } from "../admission/cases.ts";
import { grantTenant, impersonating } from "../support/tenant.ts";
import { waitFor } from "../support/wait.ts";
import { admin, core, helm, installChart, RELEASE_NAMESPACE } from "./support.ts";

const RELEASE = "signet";
const suffix = randomBytes(3).toString("hex");
const ns = `node-adm-${suffix}`;
const otherNs = `node-adm-other-${suffix}`;
const tenant = impersonating(admin, `tenant-${ns}`);

describe("admission by the chart on a real node", () => {
  beforeAll(async () => {
    await installChart(RELEASE);
    for (const name of [ns, otherNs]) await core.createNamespace({ body: { metadata: { name } } });
    await grantTenant(admin, ns, `tenant-${ns}`);
  }, 240_000);

  afterAll(async () => {
    // The namespaces go first, while the operator still runs to let its objects go.
    for (const name of [ns, otherNs]) await core.deleteNamespace({ name }).catch(() => undefined);
    await waitFor(
      "the test namespaces deleted",
      async () => {
        const left = (await core.listNamespace()).items.filter((n) =>
          [ns, otherNs].includes(n.metadata?.name ?? ""),
        );
        return left.length === 0 ? true : undefined;
      },
      { timeoutMs: 60_000, intervalMs: 500 },
    ).catch(() => undefined);
    await helm(["uninstall", RELEASE, "--namespace", RELEASE_NAMESPACE, "--wait"]).catch(() => undefined);
  }, 180_000);

  admissionCases(
    () => ({
      admin,
      tenant,
      namespace: ns,
      otherNamespace: otherNs,
      // The sandbox image the node has: pods of these cases may run, never pull.
      image: "registry.k8s.io/pause:3.6",
      putIdentity: operatorIdentities(admin, tenant, ns),
    }),
    { issuesSecrets: true },
  );
});
