import { randomBytes } from "node:crypto";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { API_VERSION, GROUP, VERSION } from "../../operator/src/api/index.ts";
import { createNamespace, kubeConfig } from "../support/cluster.ts";
import { installCrds } from "../support/crds.ts";
import type { OperatorProcess } from "../support/operator.ts";
import { waitFor as eventually } from "../support/wait.ts";
import { Access, observe, startTestOperator } from "./support.ts";

/**
 * A suspended MachineIdentity loses its network access, played as a tenant would: policies name
 * identities, the tenant suspends one with a patch and reads the NetworkPolicies back from the API
 * server. As a source it leaves every allow rule; as the target its pods keep only the default deny.
 */

const kc = kubeConfig();
const access = new Access(kc);
const MI = { group: GROUP, version: VERSION, plural: "machineidentities" } as const;
const operatorNamespace = `signet-idsuspend-${randomBytes(4).toString("hex")}`;
const MAX_DELAY_MS = 2_000;
let operator: OperatorProcess;
let shop: string;
let finance: string;

interface RawPeer {
  namespaceSelector?: { matchLabels?: Record<string, string> };
  podSelector?: { matchLabels?: Record<string, string> };
}

/** The identities an allow NetworkPolicy admits, as namespace/identity; undefined when it is absent. */
async function peersOf(namespace: string, name: string): Promise<string[] | undefined> {
  const np = await access.networkPolicy(namespace, name);
  if (np === undefined) return undefined;
  const rules = (np.spec.ingress ?? []) as { from?: RawPeer[] }[];
  return rules
    .flatMap((rule) => rule.from ?? [])
    .map(
      (peer) =>
        `${peer.namespaceSelector?.matchLabels?.["kubernetes.io/metadata.name"] ?? namespace}/${peer.podSelector?.matchLabels?.["signet.dev/identity"]}`,
    )
    .sort();
}

async function createIdentity(namespace: string, name: string): Promise<void> {
  await access.objects.createNamespacedCustomObject({
    ...MI,
    namespace,
    body: {
      apiVersion: API_VERSION,
      kind: "MachineIdentity",
      metadata: { name, namespace },
      spec: { serviceAccounts: [name] },
    },
  });
}

/** `kubectl patch machineidentity <name> --type=json -p '[{"op":"replace","path":"/spec/suspend",...}]'` */
async function suspendIdentity(namespace: string, name: string, suspend: boolean): Promise<void> {
  await access.objects.patchNamespacedCustomObject({
    ...MI,
    namespace,
    name,
    body: [{ op: "replace", path: "/spec/suspend", value: suspend }],
  });
}

const same = (want: string[] | undefined) => (got: string[] | undefined) =>
  JSON.stringify(got) === JSON.stringify(want);

/** Polls until the allow's peers are `want` (undefined: no allow at all); returns ms since `since`. */
async function peersBecome(namespace: string, allow: string, want: string[] | undefined, since: number) {
  const seen = await observe(async () => same(want)(await peersOf(namespace, allow)), true, {
    intervalMs: 20,
    timeoutMs: 10_000,
  });
  return seen - since;
}

beforeAll(async () => {
  await installCrds(kc);
  shop = await createNamespace(kc, "idsuspend-shop");
  finance = await createNamespace(kc, "idsuspend-finance");
  operator = await startTestOperator(kc, operatorNamespace, [shop, finance]);
  await createIdentity(shop, "checkout");
  await createIdentity(shop, "payments");
  await createIdentity(shop, "orders");
  await createIdentity(finance, "ledger");
  await access.createPolicy(shop, "to-payments", {
    target: { identity: "payments", ports: [{ port: 8443, protocol: "TCP" }] },
    allowFrom: [{ identity: "checkout" }, { identity: "ledger", namespace: finance }],
  });
  await access.createPolicy(shop, "checkout-to-orders", {
    target: { identity: "orders" },
    allowFrom: [{ identity: "checkout" }],
  });
  await access.createPolicy(finance, "checkout-to-ledger", {
    target: { identity: "ledger" },
    allowFrom: [{ identity: "checkout", namespace: shop }],
  });
  await peersBecome(shop, "signet-allow-to-payments", [`${finance}/ledger`, `${shop}/checkout`], Date.now());
  await peersBecome(shop, "signet-allow-checkout-to-orders", [`${shop}/checkout`], Date.now());
  await peersBecome(finance, "signet-allow-checkout-to-ledger", [`${shop}/checkout`], Date.now());
});

afterAll(async () => {
  await operator?.stop();
});

describe("a suspended MachineIdentity", () => {
  it("should leave every allow rule that names it as a source while suspended, in every namespace, and come back on resume", async () => {
    const suspendedAt = Date.now();
    await suspendIdentity(shop, "checkout", true);
    const [fromPayments, orders, ledger] = await Promise.all([
      peersBecome(shop, "signet-allow-to-payments", [`${finance}/ledger`], suspendedAt),
      peersBecome(shop, "signet-allow-checkout-to-orders", undefined, suspendedAt),
      peersBecome(finance, "signet-allow-checkout-to-ledger", undefined, suspendedAt),
    ]);
    for (const ms of [fromPayments, orders, ledger]) expect(ms).toBeLessThanOrEqual(MAX_DELAY_MS);
    // The targets stay closed by default: their denies stay, and nothing opens in their place.
    expect(await access.networkPolicyNames(shop)).toEqual([
      "signet-allow-to-payments",
      "signet-deny-orders",
      "signet-deny-payments",
    ]);
    expect((await access.networkPolicy(finance, "signet-deny-ledger"))?.spec.ingress).toBeUndefined();

    const partial = await eventually("to-payments reporting the suspended source", async () => {
      const p = await access.readPolicy(shop, "to-payments");
      return p.status?.conditions?.find((c) => c.type === "Ready")?.message?.includes("left out")
        ? p
        : undefined;
    });
    expect(partial.status).toMatchObject({ active: true, reason: "Active" });
    expect(partial.status?.conditions?.find((c) => c.type === "Ready")?.message).toContain(
      `suspended and left out: MachineIdentity "${shop}/checkout"`,
    );
    const closed = await eventually("checkout-to-orders closed", async () => {
      const p = await access.readPolicy(shop, "checkout-to-orders");
      return p.status?.reason === "SourcesSuspended" ? p : undefined;
    });
    expect(closed.status).toMatchObject({ active: false, networkPolicies: ["signet-deny-orders"] });
    expect(closed.status?.conditions?.find((c) => c.type === "Ready")).toMatchObject({
      status: "True",
      reason: "SourcesSuspended",
      message: expect.stringContaining(`MachineIdentity "${shop}/checkout"`),
    });
    const revoked = await eventually("the AccessRevoked event", async () => {
      const list = await access.events(shop, "checkout-to-orders");
      return list.find((e) => e.reason === "AccessRevoked");
    });
    expect(revoked.message).toContain(`"${shop}/checkout"`);

    const resumedAt = Date.now();
    await suspendIdentity(shop, "checkout", false);
    const back = await Promise.all([
      peersBecome(shop, "signet-allow-to-payments", [`${finance}/ledger`, `${shop}/checkout`], resumedAt),
      peersBecome(shop, "signet-allow-checkout-to-orders", [`${shop}/checkout`], resumedAt),
      peersBecome(finance, "signet-allow-checkout-to-ledger", [`${shop}/checkout`], resumedAt),
    ]);
    for (const ms of back) expect(ms).toBeLessThanOrEqual(MAX_DELAY_MS);
    await eventually("checkout-to-orders active again", async () => {
      const p = await access.readPolicy(shop, "checkout-to-orders");
      return p.status?.active === true && p.status.reason === "Active" ? p : undefined;
    });
    console.log(
      `identity suspend as source: rule gone after ${Math.max(fromPayments, orders, ledger)} ms, back after ${Math.max(...back)} ms`,
    );
  });

  it("should keep a suspended target behind its default deny, with no allow, until it is resumed", async () => {
    const suspendedAt = Date.now();
    await suspendIdentity(shop, "payments", true);
    const gone = await peersBecome(shop, "signet-allow-to-payments", undefined, suspendedAt);
    expect(gone).toBeLessThanOrEqual(MAX_DELAY_MS);
    const deny = await access.networkPolicy(shop, "signet-deny-payments");
    expect(deny?.spec).toEqual({
      podSelector: { matchLabels: { "signet.dev/identity": "payments" } },
      policyTypes: ["Ingress"],
    });
    const status = await eventually("to-payments reporting the suspended target", async () => {
      const p = await access.readPolicy(shop, "to-payments");
      return p.status?.reason === "TargetSuspended" ? p.status : undefined;
    });
    expect(status).toMatchObject({ active: false, networkPolicies: ["signet-deny-payments"] });
    expect(status.conditions?.find((c) => c.type === "Ready")?.message).toContain(
      `the target MachineIdentity "${shop}/payments" is suspended`,
    );

    const resumedAt = Date.now();
    await suspendIdentity(shop, "payments", false);
    const back = await peersBecome(
      shop,
      "signet-allow-to-payments",
      [`${finance}/ledger`, `${shop}/checkout`],
      resumedAt,
    );
    expect(back).toBeLessThanOrEqual(MAX_DELAY_MS);
    console.log(`identity suspend as target: allow gone after ${gone} ms, back after ${back} ms`);
  });
});
