// Pod certificates on a real node: the kubelet generates each pod's key, asks Signet's signer
// (signet.dev/svid) for the SVID through a PodCertificateRequest and writes both into the pod. The
// key exists on the node only; two such pods do mTLS by SPIFFE ID; a pod whose request is denied
// never starts, and says why in its events.
import { createPrivateKey, createPublicKey, randomBytes, X509Certificate } from "node:crypto";
import * as k8s from "@kubernetes/client-node";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { POD_CERTIFICATE_REQUESTS, type PodCertificateRequest } from "../../operator/src/signer/request.ts";
import { waitFor } from "../support/wait.ts";
import { peerPod, sameSerial } from "./cluster-ops.ts";
import {
  admin,
  core,
  createIdentity,
  createSignet,
  execIn,
  helm,
  installChart,
  PEER_PORT,
  patchSignet,
  RELEASE_NAMESPACE,
  readSignet,
  startPeerPod,
} from "./support.ts";

const RELEASE = "signet";
const ns = `node-podcert-${randomBytes(3).toString("hex")}`;
const idOf = (name: string) => `spiffe://cluster.local/ns/${ns}/id/${name}`;
const peer = (...args: string[]) => ["node", "/peer/peer.ts", ...args];
const IDENTITY_DIR = "/var/run/secrets/signet.dev/identity";
const HOLD = "signet.dev/e2e-hold";
const figures: string[] = [];

const readFileIn = async (pod: string, file: string) =>
  (
    await execIn(ns, pod, [
      "node",
      "-e",
      `process.stdout.write(require("fs").readFileSync(${JSON.stringify(file)}, "utf8"))`,
    ])
  ).stdout;

async function requestsFor(pod: string): Promise<PodCertificateRequest[]> {
  const list = await admin.makeApiClient(k8s.CustomObjectsApi).listNamespacedCustomObject({
    group: POD_CERTIFICATE_REQUESTS.group,
    version: POD_CERTIFICATE_REQUESTS.version,
    plural: POD_CERTIFICATE_REQUESTS.plural,
    namespace: ns,
  });
  return ((list as { items: PodCertificateRequest[] }).items ?? []).filter((r) => r.spec.podName === pod);
}

/** A pod held back from scheduling, so that the identity can change between admission and the kubelet. */
async function createHeldPod(name: string, identity: string): Promise<void> {
  const body = peerPod(name, identity, ["idle"]);
  body.spec = { ...body.spec, containers: body.spec?.containers ?? [], schedulingGates: [{ name: HOLD }] };
  await core.createNamespacedPod({ namespace: ns, body });
}

async function release(name: string): Promise<void> {
  const pod = await core.readNamespacedPod({ namespace: ns, name });
  pod.spec = { ...pod.spec, containers: pod.spec?.containers ?? [], schedulingGates: [] };
  await core.replaceNamespacedPod({ namespace: ns, name, body: pod });
}

/** The kubelet's Warning event for the pod's denied request, with the signer's reason in it. */
function deniedEvent(pod: string, reason: string) {
  return waitFor(
    `a Denied event for pod ${pod} with reason ${reason}`,
    async () => {
      const events = await core.listNamespacedEvent({
        namespace: ns,
        fieldSelector: `involvedObject.name=${pod}`,
      });
      return events.items.find((e) => e.type === "Warning" && `${e.reason} ${e.message}`.includes(reason));
    },
    { timeoutMs: 60_000, intervalMs: 500 },
  );
}

describe("pod certificates: keys born on the node, signed by signet.dev/svid", () => {
  beforeAll(async () => {
    await installChart(RELEASE);
    await core.createNamespace({ body: { metadata: { name: ns } } });
    await createIdentity(ns, "server", { delivery: "PodCertificate" });
    await createIdentity(ns, "client", { delivery: "PodCertificate" });
    await createIdentity(ns, "intruder", { delivery: "PodCertificate" });
  }, 300_000);

  afterAll(async () => {
    for (const f of figures) console.log(`[figure] ${f}`);
    await core.deleteNamespace({ name: ns }).catch(() => undefined);
    await helm(["uninstall", RELEASE, "--namespace", RELEASE_NAMESPACE, "--wait"]).catch(() => undefined);
  });

  let server: k8s.V1Pod;

  it("starts a pod with key and SVID from the kubelet, and no Secret anywhere holds the key", async () => {
    const created = Date.now();
    server = await startPeerPod(ns, "server", "server", [
      "serve",
      "--port",
      String(PEER_PORT),
      "--allow",
      idOf("client"),
    ]);
    figures.push(`pod created -> Running and Ready with its pod certificate: ${Date.now() - created} ms`);

    const [request] = await requestsFor("server");
    expect(request?.status?.conditions?.[0]).toMatchObject({ type: "Issued", status: "True" });
    const chain = await readFileIn("server", `${IDENTITY_DIR}/tls.crt`);
    const leaf = new X509Certificate(chain);
    expect(leaf.subjectAltName).toBe(`URI:${idOf("server")}`);
    // What the pod holds is what the signer issued, for the key the kubelet generated.
    expect(leaf.serialNumber).toBe(new X509Certificate(request?.status?.certificateChain ?? "").serialNumber);
    const key = await readFileIn("server", `${IDENTITY_DIR}/tls.key`);
    expect(key).toMatch(/^-----BEGIN PRIVATE KEY-----/);
    expect(createPublicKey(createPrivateKey(key)).export({ format: "der", type: "spki" })).toEqual(
      leaf.publicKey.export({ format: "der", type: "spki" }),
    );
    // The bundle file carries the same key and chain in one read.
    const bundle = await readFileIn("server", `${IDENTITY_DIR}/credentials.pem`);
    expect(bundle).toContain(key.trim());
    // ca.crt, from Signet's ClusterTrustBundle, verifies the leaf.
    const ca = new X509Certificate(await readFileIn("server", `${IDENTITY_DIR}/ca.crt`));
    expect(leaf.verify(ca.publicKey)).toBe(true);

    // The key is on the node only: no Secret in any namespace holds it, in any encoding.
    const keyBody = key.split("\n").slice(1, -2).join("");
    const secrets = await core.listSecretForAllNamespaces();
    for (const secret of secrets.items) {
      for (const value of Object.values(secret.data ?? {})) {
        const decoded = Buffer.from(value, "base64").toString("utf8").replace(/\s/g, "");
        expect(
          decoded.includes(keyBody),
          `Secret ${secret.metadata?.namespace}/${secret.metadata?.name}`,
        ).toBe(false);
      }
    }
    expect((await core.listNamespacedSecret({ namespace: ns })).items).toEqual([]);

    const mi = await waitFor("status.podCertificates of the server", async () => {
      const got = await readSignet(ns, "MachineIdentity", "server");
      return (got.status as { podCertificates?: { issued?: number } } | undefined)?.podCertificates?.issued
        ? got
        : undefined;
    });
    expect(mi.status?.conditions?.find((c) => c.type === "Ready")?.reason).toBe("SignerReady");
  });

  it("does mTLS between two such pods, the server authorizing the client by SPIFFE ID and refusing another", async () => {
    await startPeerPod(ns, "client", "client", ["idle"]);
    await startPeerPod(ns, "intruder", "intruder", ["idle"]);
    const target = `${server.status?.podIP}:${PEER_PORT}`;
    const ok = await execIn(ns, "client", peer("connect", "--to", target, "--expect", idOf("server")));
    expect(ok.stdout).toMatch(new RegExp(`^hello ${idOf("client")} from ${idOf("server")}`));
    const refused = await execIn(ns, "intruder", peer("connect", "--to", target, "--expect", idOf("server")));
    expect(refused.stdout).toContain(`refused: ${idOf("intruder")}`);
    expect(refused.code).toBe(1);
  });

  it("denies the request of a pod whose ServiceAccount the identity no longer lists: it never starts, and its events say why", async () => {
    await createIdentity(ns, "batch", { delivery: "PodCertificate" });
    await createHeldPod("batch-0", "batch");
    // Admitted while the ServiceAccount was listed; the list changes before the kubelet asks.
    await patchSignet(ns, "MachineIdentity", "batch", { serviceAccounts: ["client"] });
    await release("batch-0");
    const event = await deniedEvent("batch-0", "ServiceAccountNotListed");
    expect(event.message).toContain("does not list ServiceAccount batch");
    const [request] = await requestsFor("batch-0");
    expect(request?.status?.conditions?.[0]).toMatchObject({
      type: "Denied",
      reason: "ServiceAccountNotListed",
    });
    const pod = await core.readNamespacedPod({ namespace: ns, name: "batch-0" });
    expect(pod.status?.phase).toBe("Pending");
    expect(pod.status?.containerStatuses?.[0]?.state?.running).toBeUndefined();
  });

  it("issues nothing new for a suspended identity", async () => {
    await createHeldPod("client-1", "client");
    await patchSignet(ns, "MachineIdentity", "client", { suspend: true });
    await release("client-1");
    await deniedEvent("client-1", "Suspended");
    const [request] = await requestsFor("client-1");
    expect(request?.status?.certificateChain).toBeUndefined();
    await patchSignet(ns, "MachineIdentity", "client", { suspend: false });
  });

  it("issues nothing outside the identity's access window", async () => {
    const start = new Date(Date.now() + 3_600_000).toISOString().replace(/\.\d+Z$/, "Z");
    const end = new Date(Date.now() + 7_200_000).toISOString().replace(/\.\d+Z$/, "Z");
    await createSignet(ns, "AccessSchedule", "later", { grants: [{ start, end, reason: "e2e" }] });
    await createIdentity(ns, "nightly", { delivery: "PodCertificate" });
    await patchSignet(ns, "MachineIdentity", "nightly", { scheduleRef: { name: "later" } });
    await core.createNamespacedPod({ namespace: ns, body: peerPod("nightly-0", "nightly", ["idle"]) });
    const event = await deniedEvent("nightly-0", "OutsideWindow");
    expect(event.message).toContain(new Date(start).toISOString());
  });

  // The kubelet refreshes a pod certificate on its own at beginRefreshAt, which the API server
  // allows no earlier than 10 minutes after notBefore, and adds up to 5 minutes of jitter of its
  // own: the wait is 9 to 16 minutes, too long for every run. SIGNET_E2E_REFRESH=1 runs it.
  it.runIf(process.env.SIGNET_E2E_REFRESH === "1")(
    "the kubelet refreshes at beginRefreshAt and the running pod serves the new certificate",
    async () => {
      // renewBefore 54m of a 1h ttl (±10% jitter) puts beginRefreshAt 0.6 to 11.4 minutes after
      // notBefore, which the signer lifts to the API server's earliest, 10 minutes.
      await createIdentity(ns, "refresher", { delivery: "PodCertificate", renewBefore: "54m" });
      const pod = await startPeerPod(ns, "refresher", "refresher", [
        "serve",
        "--port",
        String(PEER_PORT),
        "--allow",
        idOf("client"),
      ]);
      const [first] = await requestsFor("refresher");
      const beginRefreshAt = Date.parse(first?.status?.beginRefreshAt ?? "");
      const notBefore = Date.parse(first?.status?.notBefore ?? "");
      expect(beginRefreshAt - notBefore).toBeGreaterThanOrEqual(600_000);
      expect(beginRefreshAt - notBefore).toBeLessThanOrEqual(685_000);
      const oldSerial = new X509Certificate(first?.status?.certificateChain ?? "").serialNumber;
      const renewed = await waitFor(
        "the kubelet's refresh request issued",
        async () => {
          const issued = (await requestsFor("refresher")).find(
            (r) => r.metadata?.name !== first?.metadata?.name && r.status?.certificateChain,
          );
          return issued ? { request: issued, seenAt: Date.now() } : undefined;
        },
        { timeoutMs: 20 * 60_000, intervalMs: 2_000 },
      );
      const created = Date.parse(String(renewed.request.metadata?.creationTimestamp ?? ""));
      expect(created).toBeGreaterThanOrEqual(beginRefreshAt - 1_000);
      figures.push(
        `beginRefreshAt -> the kubelet's refresh request: ${created - beginRefreshAt} ms (its own jitter is 0-5 min)`,
      );
      const newSerial = new X509Certificate(renewed.request.status?.certificateChain ?? "").serialNumber;
      expect(newSerial).not.toBe(oldSerial);
      const reloaded = await waitFor(
        "the running pod reloading the refreshed certificate",
        async () => {
          const log = await core.readNamespacedPodLog({ namespace: ns, name: "refresher", container: "app" });
          const serials = [...log.matchAll(/^reloaded serial ([0-9a-f]+) /gim)].map((m) => m[1] ?? "");
          return serials.some((serial) => sameSerial(serial, newSerial)) ? Date.now() : undefined;
        },
        { timeoutMs: 120_000, intervalMs: 500 },
      );
      figures.push(
        `refresh request issued -> new certificate reloaded in the pod: ${reloaded - renewed.seenAt} ms (upper bound)`,
      );
      const hello = await execIn(
        ns,
        "client",
        peer("connect", "--to", `${pod.status?.podIP}:${PEER_PORT}`, "--expect", idOf("refresher")),
      );
      expect(sameSerial(/serial ([0-9a-f]+)/i.exec(hello.stdout)?.[1] ?? "", newSerial), hello.stdout).toBe(
        true,
      );
    },
    25 * 60_000,
  );
});
