// The signet-proxy sidecar on a real node: the webhook adds it to a pod with the annotation
// signet.dev/proxy, it serves once the pod's ServiceAccount may list the AccessPolicies, and a client
// pod sends requests through it with a fresh Signet proof each, signed with operator/src/proof.
import { randomBytes } from "node:crypto";
import * as k8s from "@kubernetes/client-node";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { waitFor } from "../support/wait.ts";
import { peerPod } from "./cluster-ops.ts";
import {
  admin,
  core,
  createIdentity,
  createSignet,
  execIn,
  helm,
  installChart,
  networking,
  RELEASE_NAMESPACE,
  startPeerPod,
  waitRunning,
} from "./support.ts";

const RELEASE = "signet";
const ns = `node-proxy-${randomBytes(3).toString("hex")}`;
const idOf = (name: string) => `spiffe://cluster.local/ns/${ns}/id/${name}`;
const peer = (...args: string[]) => ["node", "/peer/peer.ts", ...args];
const LISTEN = 8443;
const UPSTREAM = 8080;
let target: string;

const rbac = admin.makeApiClient(k8s.RbacAuthorizationV1Api);
const figures: string[] = [];

interface Answer {
  status: number;
  body: string;
  ms: number;
}

/** proof-get from a pod: one answer per request, in order. */
async function proofGet(pod: string, ...flags: string[]): Promise<Answer[]> {
  const result = await execIn(ns, pod, peer("proof-get", "--to", target, "--expect", idOf("api"), ...flags));
  expect(result.stderr).toBe("");
  expect(result.code).toBe(0);
  return result.stdout
    .trim()
    .split("\n")
    .map((line) => JSON.parse(line) as Answer);
}

const reasonOf = (answer: Answer | undefined) =>
  (JSON.parse(answer?.body ?? "{}") as { reason?: string }).reason;

/** The pod `api`: the http-echo workload on loopback, and the sidecar the annotation asks for. */
function apiPod(): k8s.V1Pod {
  const pod = peerPod("api", "api", ["http-echo", "--port", String(UPSTREAM)]);
  pod.metadata = {
    ...pod.metadata,
    annotations: { ...pod.metadata?.annotations, "signet.dev/proxy": `${LISTEN}:${UPSTREAM}` },
  };
  // The proxy reads the AccessPolicies with the pod's ServiceAccount token.
  pod.spec = { ...(pod.spec as k8s.V1PodSpec), automountServiceAccountToken: true };
  for (const container of pod.spec.containers) delete container.ports;
  return pod;
}

const proxyLogs = () =>
  core.readNamespacedPodLog({ namespace: ns, name: "api", container: "signet-proxy" }).catch(() => "");

describe("the signet-proxy sidecar on a real node", () => {
  beforeAll(async () => {
    await installChart(RELEASE);
    await core.createNamespace({ body: { metadata: { name: ns } } });
    await createIdentity(ns, "api");
    await createIdentity(ns, "client");
    await createIdentity(ns, "intruder");
    await createSignet(ns, "AccessPolicy", "client-to-api", {
      target: { identity: "api", ports: [{ port: LISTEN }] },
      allowFrom: [{ identity: "client", http: { methods: ["GET"], paths: ["/hello"] } }],
    });
    // The network lets any pod of the namespace reach the proxy's port, so that the third identity
    // is refused by the proxy, not by the NetworkPolicies Signet writes for the AccessPolicy.
    await networking.createNamespacedNetworkPolicy({
      namespace: ns,
      body: {
        metadata: { name: "any-pod-to-api-proxy" },
        spec: {
          podSelector: { matchLabels: { "signet.dev/identity": "api" } },
          policyTypes: ["Ingress"],
          ingress: [{ _from: [{ podSelector: {} }], ports: [{ port: LISTEN, protocol: "TCP" }] }],
        },
      },
    });
    await startPeerPod(ns, "client", "client", ["idle"]);
    await startPeerPod(ns, "intruder", "intruder", ["idle"]);
  }, 300_000);

  afterAll(async () => {
    for (const f of figures) console.log(`[figure] ${f}`);
    await core.deleteNamespace({ name: ns }).catch(() => undefined);
    await helm(["uninstall", RELEASE, "--namespace", RELEASE_NAMESPACE, "--wait"]).catch(() => undefined);
  });

  it("injects the sidecar, which refuses to serve, saying why, until a Role lets it list the policies", async () => {
    await core.createNamespacedPod({ namespace: ns, body: apiPod() });
    const pod = await core.readNamespacedPod({ namespace: ns, name: "api" });
    const sidecar = pod.spec?.containers.find((c) => c.name === "signet-proxy");
    expect(sidecar?.image).toBe("signet:dev");
    expect(sidecar?.args).toEqual([
      "proxy",
      "--listen",
      String(LISTEN),
      "--upstream",
      `http://127.0.0.1:${UPSTREAM}`,
      "--identity-dir",
      "/var/run/secrets/signet.dev/identity",
    ]);
    expect(sidecar?.securityContext).toMatchObject({
      runAsNonRoot: true,
      readOnlyRootFilesystem: true,
      allowPrivilegeEscalation: false,
      capabilities: { drop: ["ALL"] },
      seccompProfile: { type: "RuntimeDefault" },
    });

    const refusal = await waitFor(
      "the proxy's log saying the API refused its list",
      async () => {
        const logs = await proxyLogs();
        return /refused this pod's ServiceAccount the list of access(policies|schedules)\.signet\.dev/.test(
          logs,
        )
          ? logs
          : undefined;
      },
      { timeoutMs: 60_000, intervalMs: 500 },
    );
    expect(refusal).toContain("grant the ServiceAccount a Role with list and watch");
    const notReady = await core.readNamespacedPod({ namespace: ns, name: "api" });
    expect(notReady.status?.conditions?.find((c) => c.type === "Ready")?.status).toBe("False");

    await rbac.createNamespacedRole({
      namespace: ns,
      body: {
        metadata: { name: "signet-proxy" },
        rules: [
          {
            apiGroups: ["signet.dev"],
            resources: ["accesspolicies", "accessschedules"],
            verbs: ["list", "watch"],
          },
        ],
      },
    });
    await rbac.createNamespacedRoleBinding({
      namespace: ns,
      body: {
        metadata: { name: "signet-proxy" },
        roleRef: { apiGroup: "rbac.authorization.k8s.io", kind: "Role", name: "signet-proxy" },
        subjects: [{ kind: "ServiceAccount", name: "api", namespace: ns }],
      },
    });
    const ready = await waitRunning(ns, "api", 120_000);
    target = `${ready.status?.podIP}:${LISTEN}`;
    expect(await proxyLogs()).toContain("signet proxy started");
  }, 180_000);

  it("forwards a GET /hello with a fresh proof, and the workload sees the caller's SPIFFE ID", async () => {
    const [answer] = await proofGet("client", "--path", "/hello");
    expect(answer?.status).toBe(200);
    expect(JSON.parse(answer?.body ?? "{}")).toEqual({
      caller: idOf("client"),
      method: "GET",
      path: "/hello",
      proofForwarded: false,
    });
  });

  it("refuses the same proof sent twice with 401 ProofReplayed", async () => {
    const answers = await proofGet("client", "--path", "/hello", "--replay");
    expect(answers.map((a) => a.status)).toEqual([200, 401]);
    expect(reasonOf(answers[1])).toBe("ProofReplayed");
  });

  it("refuses a POST the policy does not allow with 403 MethodNotAllowed", async () => {
    const [answer] = await proofGet("client", "--path", "/hello", "--method", "POST");
    expect(answer?.status).toBe(403);
    expect(reasonOf(answer)).toBe("MethodNotAllowed");
  });

  it("refuses a third identity, which the network lets through, with 403 CallerNotAllowed", async () => {
    const [answer] = await proofGet("intruder", "--path", "/hello");
    expect(answer?.status).toBe(403);
    expect(reasonOf(answer)).toBe("CallerNotAllowed");
  });

  it("measures the round trip of a request through the sidecar on a kept-alive connection", async () => {
    const answers = await proofGet("client", "--path", "/hello", "--count", "51");
    expect(answers.every((a) => a.status === 200)).toBe(true);
    // From the request's write to its whole response, the proof signed before (about 0.1 ms,
    // docs/proofs.md section 15). The first request pays for the verifier's first parse of the leaf.
    const ms = answers
      .slice(1)
      .map((a) => a.ms)
      .sort((a, b) => a - b);
    const p50 = ms[Math.floor(ms.length / 2)] ?? Number.NaN;
    const p90 = ms[Math.floor(ms.length * 0.9)] ?? Number.NaN;
    figures.push(
      `request through signet-proxy, p50 over 50: ${p50} ms (p90 ${p90} ms, first ${answers[0]?.ms} ms)`,
    );
    expect(p50).toBeGreaterThan(0);
  });
});
