import { createHash, X509Certificate } from "node:crypto";
import * as k8s from "@kubernetes/client-node";
import { afterAll, beforeAll, describe, expect, inject, it } from "vitest";
import { createRootCa, trustBundle } from "../../operator/src/pki/index.ts";
import { createNamespace, kubeConfig, kubeconfigPath } from "../support/cluster.ts";
import { installCrds } from "../support/crds.ts";
import { type OperatorProcess, startOperatorProcess } from "../support/operator.ts";
import { sleep, waitFor } from "../support/wait.ts";
import { createIdentity } from "./support.ts";

const N = 50;
const LIMIT = 4;
const SPREAD = "15s";
const LEASE = { duration: 4_000, renew: 3_000, retry: 500 };
const CERTS = /-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----/g;

const decode = (s: k8s.V1Secret, key: string) => Buffer.from(s.data?.[key] ?? "", "base64").toString("utf8");
const certsOf = (pem: string) => (pem.match(CERTS) ?? []).map((p) => new X509Certificate(p));

interface Sample {
  serial: string;
  keyHash: string;
  issuerRoot: string | undefined;
  trustsIssuer: boolean;
  writtenAt: string | undefined;
  bundleSize: number;
}

/**
 * A CA rotation of the generated root while 50 identities exist, each phase picked up by an
 * operator started afresh on the CA Secret (the CA is re-read on start): preparing the next root
 * rewrites only ca.crt, and moving to it re-keys every identity within the spread window, never
 * above the re-key limit, with every ca.crt trusting its leaf's issuer at every sample.
 */
describe.runIf(inject("localControlPlane"))("a CA rotation on 50 identities", () => {
  const kc = kubeConfig();
  const core = kc.makeApiClient(k8s.CoreV1Api);
  let ns: string;
  let opNs: string;
  let operator: OperatorProcess | undefined;

  const start = async () => {
    operator = await startOperatorProcess(kubeconfigPath(), [
      `--namespace=${opNs}`,
      `--watch-namespaces=${ns}`,
      "--trust-domain=cluster.local",
      `--issuer-spread=${SPREAD}`,
      `--rekeys-per-second=${LIMIT}`,
      `--lease-duration=${LEASE.duration}ms`,
      `--renew-deadline=${LEASE.renew}ms`,
      `--retry-period=${LEASE.retry}ms`,
      "--log-level=info",
    ]);
  };
  const restart = async (edit: (ca: k8s.V1Secret) => Promise<void>) => {
    await operator?.stop();
    const ca = await core.readNamespacedSecret({ namespace: opNs, name: "signet-ca" });
    await edit(ca);
    await core.replaceNamespacedSecret({ namespace: opNs, name: "signet-ca", body: ca });
    await start();
  };

  const sample = async (roots: Map<string, X509Certificate>): Promise<Map<string, Sample>> => {
    const list = await core.listNamespacedSecret({
      namespace: ns,
      labelSelector: "signet.dev/machineidentity",
    });
    const out = new Map<string, Sample>();
    for (const s of list.items) {
      const [leaf] = certsOf(decode(s, "tls.crt"));
      const trusted = certsOf(decode(s, "ca.crt"));
      const issuerRoot = leaf ? [...roots.entries()].find(([, r]) => leaf.checkIssued(r))?.[0] : undefined;
      out.set(s.metadata?.name ?? "", {
        serial: s.metadata?.annotations?.["signet.dev/serial-number"] ?? "",
        keyHash: createHash("sha256").update(decode(s, "tls.key")).digest("hex"),
        issuerRoot,
        trustsIssuer:
          leaf !== undefined && trusted.some((r) => leaf.checkIssued(r) && leaf.verify(r.publicKey)),
        bundleSize: trusted.length,
        writtenAt: s.metadata?.managedFields
          ?.map((f) => String(f.time))
          .sort()
          .at(-1),
      });
    }
    return out;
  };

  beforeAll(async () => {
    await installCrds(kc);
    ns = await createNamespace(kc, "storm");
    opNs = await createNamespace(kc, "signet-storm");
    await start();
    await Promise.all(Array.from({ length: N }, (_, i) => createIdentity(kc, ns, `id-${i}`)));
  }, 120_000);

  afterAll(async () => {
    await operator?.stop();
  });

  it("rewrites only ca.crt for the next root, then moves every leaf within the window, never above the limit", async () => {
    const ca0 = await waitFor("the CA Secret", () =>
      core.readNamespacedSecret({ namespace: opNs, name: "signet-ca" }),
    );
    /** Every sample's Secrets whose ca.crt does not trust the issuer of their leaf. */
    const untrusted: string[] = [];
    const check = (s: Map<string, Sample>) => {
      for (const [name, x] of s) if (!x.trustsIssuer) untrusted.push(name);
      return s;
    };
    const rootA = new X509Certificate(decode(ca0, "tls.crt"));
    const roots = new Map<string, X509Certificate>([["A", rootA]]);
    const first = await waitFor(
      `${N} identity Secrets`,
      async () => {
        const s = check(await sample(roots));
        return s.size === N && [...s.values()].every((x) => x.issuerRoot === "A") ? s : undefined;
      },
      { timeoutMs: 60_000 },
    );

    // 1. Prepare: the next root joins the bundle, issuance stays. Only ca.crt changes.
    const next = await createRootCa({
      commonName: "Signet root CA cluster.local",
      trustDomain: "cluster.local",
      constrainToTrustDomain: true,
      validity: 365 * 86_400_000,
      now: new Date(),
    });
    const rootB = new X509Certificate(next.certPem);
    roots.set("B", rootB);
    const bundle = trustBundle([rootA.toString(), next.certPem]);
    await restart(async (ca) => {
      ca.data = {
        ...ca.data,
        "next.crt": Buffer.from(next.certPem).toString("base64"),
        "next.key": Buffer.from(next.keyPem).toString("base64"),
        "ca.crt": Buffer.from(bundle).toString("base64"),
      };
      ca.metadata = {
        ...ca.metadata,
        annotations: { ...ca.metadata?.annotations, "signet.dev/next-prepared-at": new Date().toISOString() },
      };
    });
    const prepared = await waitFor(
      "every ca.crt to hold both roots",
      async () => {
        const s = check(await sample(roots));
        return [...s.values()].every((x) => x.bundleSize === 2) ? s : undefined;
      },
      { timeoutMs: 60_000, intervalMs: 1_000 },
    );
    for (const [name, x] of prepared) {
      expect(x.serial).toBe(first.get(name)?.serial);
      expect(x.keyHash).toBe(first.get(name)?.keyHash);
    }

    // 2. Switch: issuance moves to the next root, the old one stays trusted. Leaves move, paced.
    await restart(async (ca) => {
      const data = { ...ca.data };
      data["previous.crt"] = Buffer.from(rootA.toString()).toString("base64");
      data["tls.crt"] = data["next.crt"] ?? "";
      data["tls.key"] = data["next.key"] ?? "";
      delete data["next.crt"];
      delete data["next.key"];
      ca.data = data;
      const annotations: Record<string, string> = {
        ...ca.metadata?.annotations,
        "signet.dev/current-since": new Date().toISOString(),
      };
      delete annotations["signet.dev/next-prepared-at"];
      ca.metadata = { ...ca.metadata, annotations };
    });
    const switchedAt = Date.now();
    const rekeyedAt = new Map<string, string | undefined>();
    for (;;) {
      const s = check(await sample(roots));
      for (const [name, x] of s) {
        if (x.serial !== prepared.get(name)?.serial && !rekeyedAt.has(name)) {
          expect(x.keyHash).not.toBe(prepared.get(name)?.keyHash);
          rekeyedAt.set(name, x.writtenAt);
        }
      }
      if ([...s.values()].every((x) => x.issuerRoot === "B")) break;
      expect(Date.now() - switchedAt).toBeLessThan(60_000);
      await sleep(1_000);
    }
    expect(rekeyedAt.size).toBe(N);
    expect(untrusted).toEqual([]);
    // Re-keys per second of the API server's own write times.
    const perSecond = new Map<string, number>();
    for (const t of rekeyedAt.values()) perSecond.set(String(t), (perSecond.get(String(t)) ?? 0) + 1);
    const max = Math.max(...perSecond.values());
    console.log(
      `re-keys per second after the switch: ${JSON.stringify(Object.fromEntries([...perSecond].sort()))}`,
    );
    expect(max).toBeLessThanOrEqual(LIMIT);
    // Spread, not all at once: they took at least N / LIMIT seconds.
    expect(perSecond.size).toBeGreaterThanOrEqual(Math.ceil(N / LIMIT) - 1);
  }, 240_000);
});
