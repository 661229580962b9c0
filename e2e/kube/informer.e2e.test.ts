import * as k8s from "@kubernetes/client-node";
import { afterEach, describe, expect, it } from "vitest";
import { KubeClient } from "../../operator/src/kube/client.ts";
import { createInformer, type Informer } from "../../operator/src/kube/informer.ts";
import { loadConnection } from "../../operator/src/kube/kubeconfig.ts";
import { createNamespace, kubeClient, kubeConfig, kubeconfigPath } from "../support/cluster.ts";

const LABEL = "signet.dev/managed";

async function waitFor(what: string, check: () => boolean | Promise<boolean>, timeoutMs = 20_000) {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (await check()) return;
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new Error(`timed out waiting for ${what}`);
}

function secret(name: string, labelled: boolean, value = "v"): k8s.V1Secret {
  return {
    metadata: { name, ...(labelled ? { labels: { [LABEL]: "true" } } : {}) },
    stringData: { value },
  };
}

describe("informer on the real API server", () => {
  const kc = kubeConfig();
  const core = kc.makeApiClient(k8s.CoreV1Api);
  const kube = kubeClient();
  const informers: Informer<k8s.V1Secret>[] = [];
  afterEach(() => {
    for (const informer of informers.splice(0)) informer.stop();
  });

  /** An informer over the Signet-labelled Secrets of one namespace, as `client` may see them. */
  function labelledSecrets(namespace: string, client = core, extra: { watchTimeoutSeconds?: number } = {}) {
    const events: string[] = [];
    const errors: unknown[] = [];
    let lists = 0;
    const informer = createInformer<k8s.V1Secret>(kube, {
      path: `/api/v1/namespaces/${namespace}/secrets`,
      labelSelector: `${LABEL}=true`,
      list: () => {
        lists++;
        return client.listNamespacedSecret({ namespace, labelSelector: `${LABEL}=true` });
      },
      restartBaseDelayMs: 100,
      restartMaxDelayMs: 1_000,
      ...extra,
    });
    for (const event of ["add", "update", "delete"] as const) {
      informer.on(event, (s) => events.push(`${event} ${s.metadata?.name}`));
    }
    informer.on("error", (e) => errors.push(e));
    informers.push(informer);
    return { informer, events, errors, lists: () => lists };
  }

  const cachedNames = (informer: Informer<k8s.V1Secret>, namespace: string) =>
    informer
      .list(namespace)
      .map((s) => s.metadata?.name)
      .sort();

  it("should see labelled Secrets come, change and go, and never cache unlabelled ones", async () => {
    const namespace = await createNamespace(kc, "informer");
    await core.createNamespacedSecret({ namespace, body: secret("before", true) });
    await core.createNamespacedSecret({ namespace, body: secret("plain", false) });
    const { informer, events } = labelledSecrets(namespace);
    await informer.start();
    expect(informer.hasSynced()).toBe(true);
    expect(cachedNames(informer, namespace)).toEqual(["before"]);

    await core.createNamespacedSecret({ namespace, body: secret("a", true) });
    await core.createNamespacedSecret({ namespace, body: secret("other-plain", false) });
    await core.replaceNamespacedSecret({ namespace, name: "a", body: secret("a", true, "changed") });
    await core.deleteNamespacedSecret({ namespace, name: "before" });
    await waitFor("the delete of 'before'", () => events.includes("delete before"));
    expect(events).toEqual(["add before", "add a", "update a", "delete before"]);
    expect(cachedNames(informer, namespace)).toEqual(["a"]);
    expect(Buffer.from(informer.get(namespace, "a")?.data?.value ?? "", "base64").toString()).toBe("changed");
    expect(informer.get(namespace, "plain")).toBeUndefined();
  });

  it("should resume after the server closes its watch, without relisting, and miss nothing", async () => {
    const namespace = await createNamespace(kc, "informer-close");
    const { informer, events, lists } = labelledSecrets(namespace, core, { watchTimeoutSeconds: 1 });
    await informer.start();
    const names: string[] = [];
    // Writes spread over several one-second watches, some landing while a watch is being reopened.
    for (let i = 0; i < 8; i++) {
      names.push(`s${i}`);
      await core.createNamespacedSecret({ namespace, body: secret(`s${i}`, true) });
      await new Promise((r) => setTimeout(r, 400));
    }
    await waitFor("every Secret in the cache", () => informer.list(namespace).length === names.length);
    expect(events).toEqual(names.map((n) => `add ${n}`));
    expect(lists()).toBe(1);
  });

  it("should restart after its watch fails and converge on what changed while it was failing", async () => {
    const namespace = await createNamespace(kc, "informer-fail");
    const rbac = kc.makeApiClient(k8s.RbacAuthorizationV1Api);
    await core.createNamespacedServiceAccount({ namespace, body: { metadata: { name: "reader" } } });
    await rbac.createNamespacedRole({
      namespace,
      body: {
        metadata: { name: "secret-reader" },
        rules: [{ apiGroups: [""], resources: ["secrets"], verbs: ["list", "watch"] }],
      },
    });
    const binding: k8s.V1RoleBinding = {
      metadata: { name: "reader-reads-secrets" },
      roleRef: { apiGroup: "rbac.authorization.k8s.io", kind: "Role", name: "secret-reader" },
      subjects: [{ kind: "ServiceAccount", name: "reader", namespace }],
    };
    await rbac.createNamespacedRoleBinding({ namespace, body: binding });
    const token = await core.createNamespacedServiceAccountToken({
      namespace,
      name: "reader",
      body: { spec: { audiences: [], expirationSeconds: 3600 } },
    });
    const readerKc = new k8s.KubeConfig();
    const cluster = kc.getCurrentCluster();
    if (!cluster) throw new Error("the admin kubeconfig names no cluster");
    readerKc.loadFromOptions({
      clusters: [cluster],
      users: [{ name: "reader", token: token.status?.token ?? "" }],
      contexts: [{ name: "reader", cluster: cluster.name, user: "reader" }],
      currentContext: "reader",
    });
    const readerCore = readerKc.makeApiClient(k8s.CoreV1Api);
    await waitFor("the reader's binding to take effect", () =>
      readerCore.listNamespacedSecret({ namespace }).then(
        () => true,
        () => false,
      ),
    );

    const events: string[] = [];
    const errors: unknown[] = [];
    // The same API server, as the reader: its token instead of the admin's client certificate.
    const { cert: _cert, key: _key, ...server } = loadConnection({ env: { KUBECONFIG: kubeconfigPath() } });
    const reader = new KubeClient({ ...server, token: token.status?.token ?? "", source: "reader" });
    const informer = createInformer<k8s.V1Secret>(reader, {
      path: `/api/v1/namespaces/${namespace}/secrets`,
      labelSelector: `${LABEL}=true`,
      list: () => readerCore.listNamespacedSecret({ namespace, labelSelector: `${LABEL}=true` }),
      restartBaseDelayMs: 100,
      restartMaxDelayMs: 1_000,
      watchTimeoutSeconds: 1,
    });
    informers.push(informer);
    informer.on("add", (s) => events.push(`add ${s.metadata?.name}`));
    informer.on("delete", (s) => events.push(`delete ${s.metadata?.name}`));
    informer.on("error", (e) => errors.push(e));
    await core.createNamespacedSecret({ namespace, body: secret("kept", true) });
    await core.createNamespacedSecret({ namespace, body: secret("doomed", true) });
    await informer.start();
    expect(cachedNames(informer, namespace)).toEqual(["doomed", "kept"]);

    // Revoking access makes the next watch (the server closes each after a second) fail with 403.
    await rbac.deleteNamespacedRoleBinding({ namespace, name: binding.metadata?.name ?? "" });
    await waitFor("the watch to fail", () => errors.length > 0);
    expect(errors.some((e) => (e as { code?: number }).code === 403)).toBe(true);
    await core.deleteNamespacedSecret({ namespace, name: "doomed" });
    await core.createNamespacedSecret({ namespace, body: secret("newcomer", true) });
    await new Promise((r) => setTimeout(r, 1_500));
    expect(cachedNames(informer, namespace)).toEqual(["doomed", "kept"]);

    await rbac.createNamespacedRoleBinding({ namespace, body: binding });
    await waitFor("the cache to converge", () => cachedNames(informer, namespace).join() === "kept,newcomer");
    expect(events).toEqual(["add doomed", "add kept", "delete doomed", "add newcomer"]);
    expect(informer.hasSynced()).toBe(true);
  });
});
