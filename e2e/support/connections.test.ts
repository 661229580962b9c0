import { HttpMethod, KubeConfig, RequestContext } from "@kubernetes/client-node";
import { describe, expect, it } from "vitest";
import { reuseConnections } from "./connections.ts";

const b64 = (s: string) => Buffer.from(s).toString("base64");

function kubeConfig(user: { cert: string; key: string }, ca = "ca-1"): KubeConfig {
  const kc = new KubeConfig();
  kc.loadFromOptions({
    clusters: [{ name: "c", server: "https://127.0.0.1:6443", caData: b64(ca) }],
    users: [{ name: "u", certData: b64(user.cert), keyData: b64(user.key) }],
    contexts: [{ name: "ctx", cluster: "c", user: "u" }],
    currentContext: "ctx",
  });
  return kc;
}

/** The dispatcher the next API call through `kc` would use. */
async function dispatcherOf(kc: KubeConfig) {
  const context = new RequestContext("https://127.0.0.1:6443/api/v1/namespaces", HttpMethod.GET);
  await kc.applySecurityAuthentication(context);
  return context.getDispatcher();
}

function setUser(kc: KubeConfig, user: { cert: string; key: string }): void {
  const current = kc.getCurrentUser() as { certData?: string; keyData?: string };
  current.certData = b64(user.cert);
  current.keyData = b64(user.key);
}

describe("reuseConnections", () => {
  it("should show why it exists: client-node alone builds a new dispatcher for every request", async () => {
    const kc = kubeConfig({ cert: "cert-1", key: "key-1" });
    expect(await dispatcherOf(kc)).not.toBe(await dispatcherOf(kc));
  });

  it("should hand every request with the same credentials one dispatcher, so connections are pooled", async () => {
    const kc = reuseConnections(kubeConfig({ cert: "cert-1", key: "key-1" }));
    const first = await dispatcherOf(kc);
    expect(first).toBeDefined();
    expect(await dispatcherOf(kc)).toBe(first);
    expect(await dispatcherOf(kc)).toBe(first);
  });

  it.each([
    {
      name: "the client certificate changes",
      change: (kc: KubeConfig) => setUser(kc, { cert: "cert-2", key: "key-1" }),
    },
    {
      name: "the client key changes",
      change: (kc: KubeConfig) => setUser(kc, { cert: "cert-1", key: "key-2" }),
    },
    {
      name: "the cluster CA changes",
      change: (kc: KubeConfig) => {
        (kc.getCurrentCluster() as { caData?: string }).caData = b64("ca-2");
      },
    },
  ])("should build a new dispatcher and close the old one when $name", async ({ change }) => {
    const kc = reuseConnections(kubeConfig({ cert: "cert-1", key: "key-1" }));
    const before = (await dispatcherOf(kc)) as unknown as { closed: boolean };
    change(kc);
    const after = await dispatcherOf(kc);
    expect(after).not.toBe(before);
    expect(before.closed).toBe(true);
    expect(await dispatcherOf(kc)).toBe(after);
  });

  it("should wrap a KubeConfig only once when called again", async () => {
    const kc = reuseConnections(reuseConnections(kubeConfig({ cert: "cert-1", key: "key-1" })));
    expect(await dispatcherOf(kc)).toBe(await dispatcherOf(kc));
  });
});
