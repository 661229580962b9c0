import { dumpYaml, loadYaml, type V1NetworkPolicy } from "@kubernetes/client-node";
import { describe, expect, it } from "vitest";
import { parse, stringify } from "yaml";
import { networkPolicyDiff } from "./diff.ts";
import { type AccessPolicyInput, networkPoliciesFor } from "./networkpolicies.ts";

const policies: AccessPolicyInput[] = [
  {
    metadata: { name: "checkout-to-payments", namespace: "shop" },
    spec: {
      target: { identity: "payments-api", ports: [{ port: 8443 }] },
      allowFrom: [{ identity: "checkout" }, { identity: "ledger", namespace: "finance" }],
    },
  },
];
const desired = networkPoliciesFor(policies, () => undefined).networkPolicies;
const [allow, deny] = desired as [V1NetworkPolicy, V1NetworkPolicy];

type Wire = Record<string, unknown> & {
  metadata: Record<string, unknown> & { labels?: Record<string, string> };
  spec: Record<string, unknown> & { ingress?: Record<string, unknown>[] };
};

/**
 * The object as a client-node read returns it after the API server stored it: through the wire
 * format, with server-set metadata and defaults added, then deserialised into client-node's model.
 */
function fromServer(object: V1NetworkPolicy, edit: (wire: Wire) => void = () => {}, n = 1): V1NetworkPolicy {
  const wire = parse(dumpYaml(object)) as Wire;
  wire.metadata.uid = `0c4f1a2e-0000-4000-8000-00000000000${n}`;
  wire.metadata.resourceVersion = `${1000 + n}`;
  wire.metadata.generation = 3;
  wire.metadata.creationTimestamp = "2026-11-16T08:00:00Z";
  wire.metadata.managedFields = [
    { manager: "signet", operation: "Apply", apiVersion: "networking.k8s.io/v1" },
  ];
  wire.metadata.ownerReferences = [
    { apiVersion: "signet.dev/v1alpha1", kind: "AccessPolicy", name: "checkout-to-payments", uid: "u-1" },
  ];
  wire.metadata.annotations = { "example.com/note": "added by someone else" };
  wire.metadata.labels = { ...wire.metadata.labels, "team.example.com/owner": "payments" };
  edit(wire);
  return loadYaml<V1NetworkPolicy>(stringify(wire));
}

/** The allow policy's only ingress rule in wire form. */
const rule = (w: Wire) => (w.spec.ingress ?? [])[0] as { from?: unknown[]; ports?: { port: number }[] };

const names = (list: V1NetworkPolicy[]) => list.map((np) => `${np.metadata?.namespace}/${np.metadata?.name}`);

describe("networkPolicyDiff", () => {
  it("creates everything when nothing exists", () => {
    const diff = networkPolicyDiff(desired, []);
    expect(diff.create).toEqual(desired);
    expect(diff.update).toEqual([]);
    expect(diff.delete).toEqual([]);
  });

  it("changes nothing when the server's copies match, whatever it set or defaulted", () => {
    const actual = [
      fromServer(allow, (w) => {
        for (const rule of w.spec.ingress ?? []) {
          for (const port of (rule.ports as Record<string, unknown>[] | undefined) ?? [])
            delete port.protocol;
        }
      }),
      fromServer(deny, () => {}, 2),
    ];
    expect(actual[0]?.spec?.ingress?.[0]?._from).toHaveLength(2);
    expect(networkPolicyDiff(desired, actual)).toEqual({ create: [], update: [], delete: [] });
  });

  it("accepts a copy read as plain JSON (with `from` rather than client-node's `_from`)", () => {
    const plain = JSON.parse(JSON.stringify(parse(dumpYaml(allow)))) as V1NetworkPolicy;
    expect(networkPolicyDiff([allow], [plain]).update).toEqual([]);
  });

  it.each<{ name: string; edit: (wire: Wire) => void }>([
    {
      name: "a source was removed",
      edit: (w) => {
        rule(w).from = rule(w).from?.slice(0, 1);
      },
    },
    {
      name: "the peers were dropped, which would admit every source",
      edit: (w) => {
        delete rule(w).from;
      },
    },
    {
      name: "an ipBlock peer was added",
      edit: (w) => {
        rule(w).from?.push({ ipBlock: { cidr: "0.0.0.0/0" } });
      },
    },
    {
      name: "the port changed",
      edit: (w) => {
        rule(w).ports = [{ port: 8080 }];
      },
    },
    {
      name: "the pod selector changed",
      edit: (w) => {
        w.spec.podSelector = { matchLabels: { app: "payments" } };
      },
    },
    {
      name: "an egress policy type was added",
      edit: (w) => {
        w.spec.policyTypes = ["Ingress", "Egress"];
      },
    },
    {
      name: "Signet's target label was changed",
      edit: (w) => {
        if (w.metadata.labels) w.metadata.labels["signet.dev/target"] = "orders";
      },
    },
    {
      name: "the managed-by label was removed",
      edit: (w) => {
        delete w.metadata.labels?.["app.kubernetes.io/managed-by"];
      },
    },
  ])("updates the allow policy when $name, guarded by its resourceVersion", ({ edit }) => {
    const diff = networkPolicyDiff(desired, [fromServer(allow, edit), fromServer(deny, () => {}, 2)]);
    expect(diff.create).toEqual([]);
    expect(diff.delete).toEqual([]);
    expect(diff.update).toEqual([{ ...allow, metadata: { ...allow.metadata, resourceVersion: "1001" } }]);
  });

  it("updates a deny policy that gained a Signet label it should not carry", () => {
    const actual = fromServer(deny, (w) => {
      if (w.metadata.labels) w.metadata.labels["signet.dev/policy"] = "old";
    });
    expect(names(networkPolicyDiff([deny], [actual]).update)).toEqual(["shop/signet-deny-payments-api"]);
  });

  it("deletes Signet-managed strays and leaves everyone else's NetworkPolicies alone", () => {
    const stray = fromServer({ ...allow, metadata: { ...allow.metadata, name: "signet-allow-gone" } });
    const foreign = fromServer(
      { ...deny, metadata: { name: "team-policy", namespace: "shop", labels: { app: "x" } } },
      (w) => {
        w.metadata.labels = { app: "x" };
      },
    );
    const diff = networkPolicyDiff(desired, [
      fromServer(allow),
      fromServer(deny, () => {}, 2),
      stray,
      foreign,
    ]);
    expect(diff.create).toEqual([]);
    expect(diff.update).toEqual([]);
    expect(names(diff.delete)).toEqual(["shop/signet-allow-gone"]);
    expect(diff.delete[0]?.metadata?.uid).toBe("0c4f1a2e-0000-4000-8000-000000000001");
  });

  it("takes over an unlabelled object sitting at a desired name", () => {
    const squatter = fromServer(deny, (w) => {
      w.metadata.labels = {};
    });
    expect(names(networkPolicyDiff([deny], [squatter]).update)).toEqual(["shop/signet-deny-payments-api"]);
  });

  it("creates, updates and deletes at once, each list sorted", () => {
    const other = networkPoliciesFor(
      [
        {
          metadata: { name: "a", namespace: "finance" },
          spec: {
            target: { identity: "ledger" },
            allowFrom: [{ identity: "payments-api", namespace: "shop" }],
          },
        },
        ...policies,
      ],
      () => undefined,
    ).networkPolicies;
    const actual = [
      fromServer(allow, (w) => {
        w.spec.podSelector = {};
      }),
      fromServer({ ...deny, metadata: { ...deny.metadata, namespace: "old" } }),
      fromServer({ ...deny, metadata: { ...deny.metadata, namespace: "archive" } }),
    ];
    const diff = networkPolicyDiff(other, actual);
    expect(names(diff.create)).toEqual([
      "finance/signet-allow-a",
      "finance/signet-deny-ledger",
      "shop/signet-deny-payments-api",
    ]);
    expect(names(diff.update)).toEqual(["shop/signet-allow-checkout-to-payments"]);
    expect(names(diff.delete)).toEqual(["archive/signet-deny-payments-api", "old/signet-deny-payments-api"]);
  });
});
