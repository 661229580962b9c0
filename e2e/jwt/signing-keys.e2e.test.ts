import * as k8s from "@kubernetes/client-node";
import { describe, expect, it } from "vitest";
import { JwtKeyStore } from "../../operator/src/controllers/jwtkeys/store.ts";
import { parseSigningKeys } from "../../operator/src/jwt/keys.ts";
import { createLogger } from "../../operator/src/telemetry/logger.ts";
import { createNamespace, kubeClient, kubeConfig } from "../support/cluster.ts";

const MINUTE = 60_000;
const HOUR = 60 * MINUTE;
const DAY = 24 * HOUR;

/**
 * The signing key Secret as the leader keeps it, with the clock in the test's hands: the whole
 * rotation timeline of docs/jwt-svid.md against the real API server, in seconds.
 */
describe("the JWT signing keys in their Secret", () => {
  const kc = kubeConfig();
  const kube = kubeClient();
  const core = kc.makeApiClient(k8s.CoreV1Api);
  const log = createLogger({ level: "silent" });

  const stored = async (namespace: string) => {
    const secret = await core.readNamespacedSecret({ namespace, name: "signet-jwt-signing" });
    const keys = await parseSigningKeys(
      Buffer.from(secret.data?.["keys.json"] ?? "", "base64").toString("utf8"),
      "test",
    );
    return { secret, keys: keys.map((k) => ({ kid: k.kid, signingFrom: k.signingFrom.getTime() })) };
  };

  it("is created once, with one key, when several replicas start at the same time", async () => {
    const namespace = await createNamespace(kc, "jwt-race");
    const now = new Date();
    const stores = Array.from(
      { length: 4 },
      () =>
        new JwtKeyStore({
          kube,
          namespace,
          secretName: "signet-jwt-signing",
          schedule: {},
          log,
          now: () => now,
        }),
    );
    const plans = await Promise.all(stores.map((s) => s.reconcile()));
    const { secret, keys } = await stored(namespace);
    expect(keys).toHaveLength(1);
    expect(new Set(plans.map((p) => p.signing))).toEqual(new Set([keys[0]?.kid]));
    expect(secret.metadata?.labels).toMatchObject({
      "app.kubernetes.io/managed-by": "signet",
      "signet.dev/component": "jwt-signing",
    });
    expect(secret.type).toBe("Opaque");
  });

  it("publishes the next key 15 min ahead, switches at 24 h, and drops the old one after its last token", async () => {
    const namespace = await createNamespace(kc, "jwt-rotation");
    const t0 = Date.now();
    let now = t0;
    const store = new JwtKeyStore({
      kube,
      namespace,
      secretName: "signet-jwt-signing",
      schedule: {},
      log,
      now: () => new Date(now),
    });
    const first = await store.reconcile();
    const [a] = (await stored(namespace)).keys;
    expect(first).toMatchObject({ signing: a?.kid, nextCheck: new Date(t0 + DAY - 15 * MINUTE) });

    // Nothing is written before it is due.
    now = t0 + DAY - 15 * MINUTE - 1;
    const version = (await stored(namespace)).secret.metadata?.resourceVersion;
    await store.reconcile();
    expect((await stored(namespace)).secret.metadata?.resourceVersion).toBe(version);

    now = t0 + DAY - 15 * MINUTE;
    expect(await store.reconcile()).toMatchObject({ signing: a?.kid, nextCheck: new Date(t0 + DAY) });
    const published = (await stored(namespace)).keys;
    expect(published).toHaveLength(2);
    const b = published.find((k) => k.kid !== a?.kid);
    expect(b?.signingFrom).toBe(t0 + DAY);

    now = t0 + DAY;
    expect((await store.reconcile()).signing).toBe(b?.kid);
    now = t0 + DAY + HOUR + 5 * MINUTE - 1;
    await store.reconcile();
    expect((await stored(namespace)).keys.map((k) => k.kid)).toEqual([a?.kid, b?.kid]);

    now = t0 + DAY + HOUR + 5 * MINUTE;
    await store.reconcile();
    expect((await stored(namespace)).keys.map((k) => k.kid)).toEqual([b?.kid]);
  });

  it("refuses to sign with a Secret edited by hand, and leaves it as it is", async () => {
    const namespace = await createNamespace(kc, "jwt-tamper");
    const store = new JwtKeyStore({
      kube,
      namespace,
      secretName: "signet-jwt-signing",
      schedule: {},
      log,
      now: () => new Date(),
    });
    await store.reconcile();
    const { secret } = await stored(namespace);
    const keys = JSON.parse(Buffer.from(secret.data?.["keys.json"] ?? "", "base64").toString("utf8"));
    keys[0].kid = "my-own-kid";
    const edited = Buffer.from(JSON.stringify(keys)).toString("base64");
    await core.replaceNamespacedSecret({
      namespace,
      name: "signet-jwt-signing",
      body: { ...secret, data: { "keys.json": edited } },
    });
    await expect(store.reconcile()).rejects.toThrow(/kid my-own-kid is not the thumbprint of its key/);
    const after = await core.readNamespacedSecret({ namespace, name: "signet-jwt-signing" });
    expect(after.data?.["keys.json"]).toBe(edited);
  });
});
