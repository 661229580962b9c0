import { generateKeyPairSync, type KeyObject, sign, webcrypto, X509Certificate } from "node:crypto";
import type * as k8s from "@kubernetes/client-node";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import {
  IDENTITY_LABEL,
  POD_CERTIFICATE_SIGNER,
  TRUST_BUNDLE_CONFIGMAP,
  TRUST_BUNDLE_NAME,
} from "../../operator/src/api/names.ts";
import {
  CONFIG_MAPS,
  PODS,
  resourceClient,
  SECRETS,
  SERVICE_ACCOUNTS,
} from "../../operator/src/kube/resources.ts";
import * as x509 from "../../operator/src/pki/x509.ts";
import {
  CLUSTER_TRUST_BUNDLES,
  POD_CERTIFICATE_REQUESTS,
  type PodCertificateRequest,
} from "../../operator/src/signer/request.ts";
import { createNamespace, kubeClient, kubeConfig, kubeconfigPath } from "../support/cluster.ts";
import { installCrds } from "../support/crds.ts";
import { type OperatorProcess, scrapeMetrics, startOperatorProcess } from "../support/operator.ts";
import { waitFor } from "../support/wait.ts";
import { createIdentity, patchIdentitySpec, readIdentity, uriSans } from "./support.ts";

/**
 * Signet as the signer of PodCertificateRequests on a real API server (the PodCertificateRequest
 * gate on): requests are created here as the kubelet would, for pods stored on a node that does
 * not run them, and every answer has to pass the API server's own checks of a pod certificate.
 * The node tier shows the same with a real kubelet.
 */
describe("the pod certificate signer (signet.dev/svid)", () => {
  const kc = kubeConfig();
  const kube = kubeClient();
  const requests = resourceClient(kube, POD_CERTIFICATE_REQUESTS);
  let ns: string;
  let opNs: string;
  let operator: OperatorProcess;

  beforeAll(async () => {
    await installCrds(kc);
    ns = await createNamespace(kc, "podcert");
    opNs = await createNamespace(kc, "signet-op");
    for (const sa of ["payments", "intruder"]) {
      await resourceClient(kube, SERVICE_ACCOUNTS).create({
        metadata: { name: sa, namespace: ns },
      });
    }
    operator = await startSigner(opNs, ns);
    await createIdentity(kc, ns, "payments", {
      serviceAccounts: ["payments"],
      delivery: "PodCertificate",
      ttl: "2h",
    });
  });

  afterAll(async () => {
    await operator?.stop();
  });

  it("issues a certificate for the kubelet's key that the API server accepts, and writes no Secret", async () => {
    const { pod, pcr } = await podAndRequest("payments-0", "payments", { identity: "payments" });
    const issued = await answered(pcr);
    const condition = issued.status?.conditions?.[0];
    expect(condition).toMatchObject({ type: "Issued", status: "True", reason: "Issued" });

    const [leafPem] = splitPem(issued.status?.certificateChain ?? "");
    const leaf = new X509Certificate(leafPem ?? "");
    // Issued to the key the request carries, which never left this process.
    expect(leaf.publicKey.export({ format: "der", type: "spki" })).toEqual(
      pod.key.export({ format: "der", type: "spki" }),
    );
    expect(uriSans(leaf)).toEqual([`spiffe://cluster.local/ns/${ns}/id/payments`]);
    const ca = await workloadCa(opNs);
    expect(leaf.verify(ca.publicKey)).toBe(true);

    const notBefore = Date.parse(issued.status?.notBefore ?? "");
    const notAfter = Date.parse(issued.status?.notAfter ?? "");
    const refresh = Date.parse(issued.status?.beginRefreshAt ?? "");
    expect(notBefore).toBe(Date.parse(leaf.validFrom));
    expect(notAfter).toBe(Date.parse(leaf.validTo));
    // ttl 2h, within the request's maxExpirationSeconds (the API server's default of 24h).
    expect(notAfter - notBefore).toBe(2 * 3_600_000);
    // A third of the lifetime before expiry, jittered by at most a tenth of that.
    expect(Math.abs(notAfter - 40 * 60_000 - refresh)).toBeLessThanOrEqual(4 * 60_000 + 1000);

    // No Secret in the namespace holds anything of the identity.
    const secrets = await resourceClient(kube, SECRETS).list(ns);
    expect(secrets.items.map((s) => s.metadata?.name)).toEqual([]);

    const mi = await waitFor("status.podCertificates.issued", async () => {
      const got = await readIdentity(kc, ns, "payments");
      return (got.status?.podCertificates?.issued ?? 0) >= 1 ? got : undefined;
    });
    expect(mi.status?.conditions?.find((c) => c.type === "Ready")).toMatchObject({
      status: "True",
      reason: "SignerReady",
    });
    expect(await scrapeMetrics(operator.metricsPort)).toMatch(
      new RegExp(
        `signet_pod_certificate_requests_total\\{namespace="${ns}",outcome="Issued",reason="Issued"\\} 1`,
      ),
    );
  });

  it("publishes the roots pods trust as its ClusterTrustBundle, linked to signet.dev/svid", async () => {
    const bundle = await waitFor("the ClusterTrustBundle", () =>
      resourceClient(kube, CLUSTER_TRUST_BUNDLES).find("", TRUST_BUNDLE_NAME),
    );
    expect(bundle.spec.signerName).toBe(POD_CERTIFICATE_SIGNER);
    expect(bundle.metadata?.labels?.["app.kubernetes.io/managed-by"]).toBe("signet");
    const ca = await workloadCa(opNs);
    const roots = splitPem(bundle.spec.trustBundle).map((pem) => new X509Certificate(pem).fingerprint256);
    expect(roots).toEqual([ca.fingerprint256]);
  });

  it("takes the 1.35 request format (pkixPublicKey with a proof of possession) too", async () => {
    const { pcr } = await podAndRequest("payments-legacy", "payments", {
      identity: "payments",
      legacy: true,
    });
    const issued = await answered(pcr);
    expect(issued.status?.conditions?.[0]?.type).toBe("Issued");
  });

  it.each([
    {
      what: "a pod whose ServiceAccount the identity does not list",
      pod: "intruder-0",
      serviceAccount: "intruder",
      identity: "payments",
      reason: "ServiceAccountNotListed",
      message: /does not list ServiceAccount intruder/,
    },
    {
      what: "a pod without the identity label",
      pod: "unlabelled-0",
      serviceAccount: "payments",
      identity: undefined,
      reason: "NoIdentity",
      message: /carries no signet\.dev\/identity label/,
    },
    {
      what: "a pod naming an identity that does not exist",
      pod: "ghost-0",
      serviceAccount: "payments",
      identity: "ghost",
      reason: "IdentityNotFound",
      message: /ghost.*does not exist/,
    },
    {
      what: "a key of another type than the identity's",
      pod: "p384-0",
      serviceAccount: "payments",
      identity: "payments",
      curve: "P-384",
      reason: "UnsupportedKeyType",
      message: /ECDSA 256 keys only.*ECDSAP256/,
    },
  ])("denies $what, with a reason the pod's owner can act on", async (c) => {
    const { pcr } = await podAndRequest(c.pod, c.serviceAccount, {
      identity: c.identity,
      ...(c.curve ? { curve: c.curve } : {}),
    });
    const denied = await answered(pcr);
    expect(denied.status?.conditions).toHaveLength(1);
    expect(denied.status?.conditions?.[0]).toMatchObject({
      type: "Denied",
      status: "True",
      reason: c.reason,
    });
    expect(denied.status?.conditions?.[0]?.message).toMatch(c.message);
    expect(denied.status?.certificateChain).toBeUndefined();
  });

  it("issues nothing new for a suspended identity, and issues again once it is resumed", async () => {
    await patchIdentitySpec(kc, ns, "payments", { suspend: true });
    await waitFor("the identity suspended in the operator's cache", async () => {
      const mi = await readIdentity(kc, ns, "payments");
      return mi.status?.conditions?.find((c) => c.type === "Suspended")?.status === "True" ? mi : undefined;
    });
    const { pcr } = await podAndRequest("payments-1", "payments", { identity: "payments" });
    const denied = await answered(pcr);
    expect(denied.status?.conditions?.[0]).toMatchObject({ type: "Denied", reason: "Suspended" });
    const mi = await waitFor("the denial in the status", async () => {
      const got = await readIdentity(kc, ns, "payments");
      return got.status?.podCertificates?.lastDenial?.reason === "Suspended" ? got : undefined;
    });
    expect(mi.status?.podCertificates?.lastDenial?.pod).toBe(`${ns}/payments-1`);

    await patchIdentitySpec(kc, ns, "payments", { suspend: false });
    await waitFor("the identity resumed", async () => {
      const got = await readIdentity(kc, ns, "payments");
      return got.status?.conditions?.find((c) => c.type === "Ready")?.reason === "SignerReady"
        ? got
        : undefined;
    });
    const again = await podAndRequest("payments-2", "payments", { identity: "payments" });
    expect((await answered(again.pcr)).status?.conditions?.[0]?.type).toBe("Issued");
  });

  /** A pod stored on a node named in its spec, and the request its kubelet would make for it. */
  async function podAndRequest(
    name: string,
    serviceAccount: string,
    options: { identity?: string | undefined; curve?: string; legacy?: boolean },
  ): Promise<{ pod: { uid: string; key: KeyObject }; pcr: PodCertificateRequest }> {
    const created = await resourceClient(kube, PODS).create({
      metadata: {
        name,
        namespace: ns,
        labels: options.identity ? { [IDENTITY_LABEL]: options.identity } : {},
      },
      spec: {
        serviceAccountName: serviceAccount,
        nodeName: "node-that-runs-nothing",
        containers: [{ name: "app", image: "registry.invalid/app:1" }],
      },
    } as k8s.V1Pod);
    const uid = created.metadata?.uid ?? "";
    const sa = await resourceClient(kube, SERVICE_ACCOUNTS).get(ns, serviceAccount);
    const curve = options.curve ?? "P-256";
    const { privateKey, publicKey } = generateKeyPairSync("ec", { namedCurve: curve });
    const keyMaterial = options.legacy
      ? {
          pkixPublicKey: publicKey.export({ format: "der", type: "spki" }).toString("base64"),
          proofOfPossession: sign("sha256", Buffer.from(uid, "ascii"), privateKey).toString("base64"),
        }
      : { stubPKCS10Request: await stubCsr(privateKey, publicKey, curve) };
    const pcr = await requests.create({
      metadata: { generateName: `${name}-`, namespace: ns },
      spec: {
        signerName: POD_CERTIFICATE_SIGNER,
        podName: name,
        podUID: uid,
        serviceAccountName: serviceAccount,
        serviceAccountUID: sa.metadata?.uid ?? "",
        nodeName: "node-that-runs-nothing",
        nodeUID: "7f6b9a34-5b8e-4d0e-9d43-1f1c1e9b0c01",
        ...keyMaterial,
      },
    });
    return { pod: { uid, key: publicKey }, pcr };
  }

  function answered(pcr: PodCertificateRequest): Promise<PodCertificateRequest> {
    return waitFor(`an answer to PodCertificateRequest ${pcr.metadata?.name}`, async () => {
      const got = await requests.get(ns, pcr.metadata?.name ?? "");
      return got.status?.conditions?.length ? got : undefined;
    });
  }
});

/**
 * Where the API server serves no ClusterTrustBundles, pods of PodCertificate identities take ca.crt
 * from a ConfigMap Signet keeps in their namespace. This control plane serves them, so the flag
 * forces that path. After the suite above, in the same file: one signer at a time on the shared
 * control plane (each publishes the cluster-wide ClusterTrustBundle).
 */
describe("the trust ConfigMap of PodCertificate identities (--trust-bundle=ConfigMap)", () => {
  const kc = kubeConfig();
  const kube = kubeClient();
  const configMaps = resourceClient(kube, CONFIG_MAPS);
  let ns: string;
  let opNs: string;
  let operator: OperatorProcess;

  beforeAll(async () => {
    await installCrds(kc);
    ns = await createNamespace(kc, "podcert-cm");
    opNs = await createNamespace(kc, "signet-op");
    operator = await startSigner(opNs, ns, ["--trust-bundle=ConfigMap"]);
    await createIdentity(kc, ns, "payments", { serviceAccounts: ["payments"], delivery: "PodCertificate" });
  });

  afterAll(async () => {
    await operator?.stop();
  });

  const ownerOf = async (name: string) => ({
    apiVersion: "signet.dev/v1alpha1",
    kind: "MachineIdentity",
    name,
    uid: (await readIdentity(kc, ns, name)).metadata?.uid,
    controller: false,
    blockOwnerDeletion: false,
  });

  it("writes the ConfigMap in the identity's namespace with exactly the workload CA's root, owned by the identity", async () => {
    const cm = await waitFor(`ConfigMap ${TRUST_BUNDLE_CONFIGMAP}`, () =>
      configMaps.find(ns, TRUST_BUNDLE_CONFIGMAP),
    );
    const ca = await workloadCa(opNs);
    expect(Object.keys(cm.data ?? {})).toEqual(["ca.crt"]);
    const roots = splitPem(cm.data?.["ca.crt"] ?? "").map((pem) => new X509Certificate(pem).fingerprint256);
    expect(roots).toEqual([ca.fingerprint256]);
    expect(cm.metadata?.labels?.["app.kubernetes.io/managed-by"]).toBe("signet");
    expect(cm.metadata?.ownerReferences).toEqual([await ownerOf("payments")]);
  });

  it("adds the ownerReference of a second PodCertificate identity of the namespace beside the first", async () => {
    await createIdentity(kc, ns, "ledger", { serviceAccounts: ["ledger"], delivery: "PodCertificate" });
    const expected = [await ownerOf("payments"), await ownerOf("ledger")];
    const cm = await waitFor("both ownerReferences", async () => {
      const got = await configMaps.find(ns, TRUST_BUNDLE_CONFIGMAP);
      return got?.metadata?.ownerReferences?.length === 2 ? got : undefined;
    });
    expect(cm.metadata?.ownerReferences).toEqual(expected);
    // Each identity applies under a field manager of its own, so each owns its reference.
    const managers = (cm.metadata?.managedFields ?? []).map((f) => f.manager).sort();
    expect(managers).toEqual(["signet-trust-bundle/ledger", "signet-trust-bundle/payments"]);
  });
});

/** The operator as the cluster's pod certificate signer, for the identities of `namespace`. */
function startSigner(
  operatorNamespace: string,
  namespace: string,
  flags: string[] = [],
): Promise<OperatorProcess> {
  return startOperatorProcess(kubeconfigPath(), [
    `--namespace=${operatorNamespace}`,
    `--watch-namespaces=${namespace}`,
    "--trust-domain=cluster.local",
    "--leader-elect=false",
    "--log-level=info",
    "--pod-certificate-signer=true",
    ...flags,
  ]);
}

/** The workload CA's root, from the operator's CA Secret. */
async function workloadCa(operatorNamespace: string): Promise<X509Certificate> {
  const secret = await resourceClient(kubeClient(), SECRETS).get(operatorNamespace, "signet-ca");
  return new X509Certificate(Buffer.from(secret.data?.["tls.crt"] ?? "", "base64"));
}

/** An empty PKCS#10 request signed with the key, as the kubelet makes (base64 DER). */
async function stubCsr(privateKey: KeyObject, publicKey: KeyObject, curve: string): Promise<string> {
  const algorithm = { name: "ECDSA", namedCurve: curve, hash: curve === "P-384" ? "SHA-384" : "SHA-256" };
  const keys = {
    privateKey: await webcrypto.subtle.importKey(
      "pkcs8",
      privateKey.export({ format: "der", type: "pkcs8" }),
      algorithm,
      false,
      ["sign"],
    ),
    publicKey: await webcrypto.subtle.importKey(
      "spki",
      publicKey.export({ format: "der", type: "spki" }),
      algorithm,
      true,
      ["verify"],
    ),
  };
  const csr = await x509.Pkcs10CertificateRequestGenerator.create({ keys, signingAlgorithm: algorithm });
  return Buffer.from(csr.rawData).toString("base64");
}

function splitPem(pem: string): string[] {
  return pem.match(/-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----\n?/g) ?? [];
}
