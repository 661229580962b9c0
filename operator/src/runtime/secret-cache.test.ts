import type * as k8s from "@kubernetes/client-node";
import { describe, expect, it } from "vitest";
import type { MachineIdentity } from "../api/index.ts";
import type { KubeClient, WatchEvent } from "../kube/client.ts";
import type { OperatorConfig } from "./config.ts";
import { createCaches } from "./manager.ts";
import { identitySecretsOnly, marksOnly } from "./secret-cache.ts";

const NS = "shop";
const UID = "7f1c2a3b-0d4e-4f5a-8b6c-9d0e1f2a3b4c";
const KEY = Buffer.from("-----BEGIN PRIVATE KEY-----\nnot a real key\n-----END PRIVATE KEY-----\n").toString(
  "base64",
);

const identity = {
  apiVersion: "signet.dev/v1alpha1",
  kind: "MachineIdentity",
  metadata: { name: "payments", namespace: NS, uid: UID, resourceVersion: "5" },
  spec: { serviceAccounts: ["payments"] },
} as unknown as MachineIdentity;

function secret(name: string, metadata: Partial<k8s.V1ObjectMeta> = {}): k8s.V1Secret {
  return {
    apiVersion: "v1",
    kind: "Secret",
    metadata: { name, namespace: NS, uid: `uid-${name}`, resourceVersion: "7", ...metadata },
    type: "kubernetes.io/tls",
    data: { "tls.key": KEY, "tls.crt": KEY },
  };
}

const identityMarks = (uid = UID): Partial<k8s.V1ObjectMeta> => ({
  labels: { "app.kubernetes.io/managed-by": "signet", "signet.dev/machineidentity": "payments" },
  ownerReferences: [
    { apiVersion: "signet.dev/v1alpha1", kind: "MachineIdentity", name: "payments", uid, controller: true },
  ],
});
/** What anyone who may create a Secret can put on one: the label the cache selects on. */
const tenantLabelled = () =>
  secret("static-tls", {
    labels: { "app.kubernetes.io/managed-by": "signet", team: "a".repeat(60) },
    annotations: { bulk: "x".repeat(100_000) },
    ownerReferences: [{ apiVersion: "v1", kind: "ConfigMap", name: "c", uid: "u" }],
  });

describe("identitySecretsOnly", () => {
  const keep = identitySecretsOnly((namespace, name) =>
    namespace === NS && name === "payments" ? identity : undefined,
  );
  it.each<[string, k8s.V1Secret, boolean]>([
    ["should keep the identity Secret whole", secret("payments-identity", identityMarks()), true],
    ["should drop the data of a Secret with only the managed-by label", tenantLabelled(), false],
    [
      "should drop the data of a Secret controlled by another uid",
      secret("payments-identity", identityMarks("someone-else")),
      false,
    ],
    [
      "should drop the data of a Secret with the identity's marks that it does not name",
      secret("payments-copy", identityMarks()),
      false,
    ],
  ])("%s", (_name, s, whole) => {
    const kept = keep(structuredClone(s));
    if (whole) expect(kept).toEqual(s);
    else expect(kept.data).toBeUndefined();
  });

  it("should keep of a foreign Secret only who it is and whose it claims to be", () => {
    const foreign = secret("payments-identity", {
      ...identityMarks("someone-else"),
      annotations: { bulk: "x".repeat(1_000) },
      creationTimestamp: new Date("2026-12-01T00:00:00Z"),
    });
    expect(keep(foreign)).toEqual({
      apiVersion: "v1",
      kind: "Secret",
      metadata: {
        name: "payments-identity",
        namespace: NS,
        uid: "uid-payments-identity",
        resourceVersion: "7",
        creationTimestamp: new Date("2026-12-01T00:00:00Z"),
        labels: { "app.kubernetes.io/managed-by": "signet", "signet.dev/machineidentity": "payments" },
        ownerReferences: identityMarks("someone-else").ownerReferences,
      },
    });
  });

  it("should give the same result when applied again", () => {
    const once = marksOnly(tenantLabelled());
    expect(marksOnly(structuredClone(once))).toEqual(once);
    expect(JSON.stringify(once).length).toBeLessThan(400);
  });
});

/**
 * A KubeClient that answers lists from fixed items and lets the test send watch events: the
 * operator's own caches (createCaches) over it, as startOperator starts them.
 */
function fakeKube(lists: Record<string, unknown[]>) {
  const watches = new Map<string, (type: string, object: unknown, event: WatchEvent) => void>();
  const kube = {
    async request(_method: string, path: string) {
      return { items: lists[path] ?? [], metadata: { resourceVersion: "10" } };
    },
    async watch(
      path: string,
      _query: unknown,
      callback: (type: string, object: unknown, event: WatchEvent) => void,
    ): Promise<AbortController> {
      watches.set(path, callback);
      return new AbortController();
    },
  };
  return { kube: kube as unknown as KubeClient, watches };
}

describe("the operator's Secret cache", () => {
  const config = {
    watchNamespaces: [NS],
    namespace: "signet-system",
    webhookSecretName: "signet-webhook-tls",
  } as OperatorConfig;
  const secretsPath = `/api/v1/namespaces/${NS}/secrets`;

  it("should not keep the data of a labelled Secret that is no identity's, listed or watched", async () => {
    const { kube, watches } = fakeKube({
      [`/apis/signet.dev/v1alpha1/namespaces/${NS}/machineidentities`]: [identity],
      [secretsPath]: [tenantLabelled(), secret("payments-identity", identityMarks())],
    });
    const caches = createCaches(kube, config, true);
    const all = Object.values(caches);
    try {
      await caches.identities.start();
      await Promise.all(all.filter((c) => c !== caches.identities).map((c) => c.start()));

      const listed = caches.secrets.get(NS, "static-tls");
      expect(listed?.metadata?.labels?.["app.kubernetes.io/managed-by"]).toBe("signet");
      expect(listed?.data).toBeUndefined();
      expect(listed?.metadata?.annotations).toBeUndefined();
      expect(caches.secrets.get(NS, "payments-identity")?.data).toEqual({ "tls.key": KEY, "tls.crt": KEY });

      const watched = { ...tenantLabelled(), metadata: { ...tenantLabelled().metadata, name: "another" } };
      watches.get(secretsPath)?.("ADDED", watched, { type: "ADDED", object: watched } as WatchEvent);
      expect(caches.secrets.get(NS, "another")).toBeDefined();
      expect(caches.secrets.get(NS, "another")?.data).toBeUndefined();
    } finally {
      for (const cache of all) cache.stop();
    }
  });
});
