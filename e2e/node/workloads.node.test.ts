// Workloads on a real node with the chart installed: two pods prove who they are to each other with
// their Signet identities over mTLS from inside the pods, a third identity is refused; an
// AccessPolicy is enforced by a real NetworkPolicy implementation, suspend and a closing window cut
// new connections; a rotation reaches the running pod; deletions are garbage-collected.
import { randomBytes, X509Certificate } from "node:crypto";
import type * as k8s from "@kubernetes/client-node";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { sleep, waitFor } from "../support/wait.ts";
import { sameSerial } from "./cluster-ops.ts";
import {
  core,
  createIdentity,
  createSignet,
  deleteSignet,
  execIn,
  helm,
  installChart,
  networking,
  PEER_PORT,
  patchSignet,
  probeLines,
  RELEASE_NAMESPACE,
  readSignet,
  startPeerPod,
} from "./support.ts";

const RELEASE = "signet";
const ns = `node-mtls-${randomBytes(3).toString("hex")}`;
const idOf = (name: string) => `spiffe://cluster.local/ns/${ns}/id/${name}`;
const peer = (...args: string[]) => ["node", "/peer/peer.ts", ...args];
let server: k8s.V1Pod;
let target: string;

/** Figures the node tier reports; printed at the end of the file. */
const figures: string[] = [];

/** Starts `probe` in the client pod, runs `change` once the probe runs, and returns the probe's lines. */
async function probeAcross(pod: string, forMs: number, change: () => Promise<number>) {
  const running = execIn(
    ns,
    pod,
    peer("probe", "--to", target, "--expect", idOf("server"), "--every", "100", "--for", String(forMs)),
  );
  await sleep(1_500);
  const changedAt = await change();
  const result = await running;
  return { lines: probeLines(result.stdout), changedAt };
}

const untilClientConnects = () =>
  waitFor(
    "the client connecting again",
    async () => {
      const r = await execIn(ns, "client", peer("tcp", "--to", target, "--timeout", "500"));
      return r.code === 0 ? true : undefined;
    },
    { timeoutMs: 30_000, intervalMs: 100 },
  );

const firstFailureAfter = (lines: { at: number; outcome: string }[], t: number) =>
  lines.find((l) => l.at >= t && l.outcome !== "ok");

describe("workloads with Signet identities on a real node", () => {
  beforeAll(async () => {
    // A 90 s identity below, to see a rotation within the test.
    await installChart(RELEASE, ["minTTL=1m"]);
    await core.createNamespace({ body: { metadata: { name: ns } } });
    await createIdentity(ns, "server", { ttl: "90s", renewBefore: "60s" });
    await createIdentity(ns, "client");
    await createIdentity(ns, "intruder");
    server = await startPeerPod(ns, "server", "server", [
      "serve",
      "--port",
      String(PEER_PORT),
      "--allow",
      idOf("client"),
    ]);
    target = `${server.status?.podIP}:${PEER_PORT}`;
    await startPeerPod(ns, "client", "client", ["idle"]);
    await startPeerPod(ns, "intruder", "intruder", ["idle"]);
  }, 300_000);

  afterAll(async () => {
    for (const f of figures) console.log(`[figure] ${f}`);
    await helm(["uninstall", RELEASE, "--namespace", RELEASE_NAMESPACE, "--wait"]).catch(() => undefined);
  });

  it("does mTLS between pods: the server authorizes the client by SPIFFE ID and refuses another identity", async () => {
    const ok = await execIn(ns, "client", peer("connect", "--to", target, "--expect", idOf("server")));
    expect(ok.stdout).toMatch(new RegExp(`^hello ${idOf("client")} from ${idOf("server")}`));
    expect(ok.code).toBe(0);

    const refused = await execIn(ns, "intruder", peer("connect", "--to", target, "--expect", idOf("server")));
    expect(refused.stdout).toContain(`refused: ${idOf("intruder")}`);
    expect(refused.code).toBe(1);

    // The client checks the server too: expecting another identity, it refuses the server.
    const wrongServer = await execIn(
      ns,
      "client",
      peer("connect", "--to", target, "--expect", idOf("intruder")),
    );
    expect(wrongServer.code).toBe(1);
  });

  it("enforces an AccessPolicy: the allowed identity connects, another gets no TCP connection", async () => {
    await createSignet(ns, "AccessPolicy", "client-to-server", {
      target: { identity: "server", ports: [{ port: PEER_PORT }] },
      allowFrom: [{ identity: "client" }],
    });
    const since = Date.now();
    await waitFor(
      "the intruder's TCP connection refused",
      async () => {
        const r = await execIn(ns, "intruder", peer("tcp", "--to", target, "--timeout", "500"));
        return r.code === 1 ? r.stdout.trim() : undefined;
      },
      { timeoutMs: 30_000, intervalMs: 100 },
    );
    figures.push(
      `AccessPolicy created -> another identity's TCP connection refused: ${Date.now() - since} ms (upper bound)`,
    );
    const tcp = await execIn(ns, "client", peer("tcp", "--to", target));
    expect(tcp.stdout.trim()).toBe("connected");
    const intruder = await execIn(ns, "intruder", peer("tcp", "--to", target, "--timeout", "1000"));
    expect(intruder.code).toBe(1);
    expect(intruder.stdout.trim()).not.toBe("connected");
    const policies = await networking.listNamespacedNetworkPolicy({ namespace: ns });
    expect(policies.items.length).toBeGreaterThan(0);
  });

  it("suspending the policy stops new connections; a connection already open is reported", async () => {
    const held = execIn(
      ns,
      "client",
      peer("connect", "--to", target, "--expect", idOf("server"), "--hold", "9000"),
    );
    const { lines, changedAt } = await probeAcross("client", 8_000, async () => {
      await patchSignet(ns, "AccessPolicy", "client-to-server", { suspend: true });
      return Date.now();
    });
    const refused = firstFailureAfter(lines, changedAt);
    expect(refused, `probe lines: ${JSON.stringify(lines.slice(-5))}`).toBeDefined();
    expect(lines.some((l) => l.at < changedAt && l.outcome === "ok")).toBe(true);
    figures.push(`suspend -> first refused new connection: ${(refused?.at ?? 0) - changedAt} ms`);
    const heldResult = await held;
    figures.push(
      `connection open before suspend: ${heldResult.code === 0 ? "stayed open (conntrack keeps established flows)" : "was cut"}`,
    );
    await patchSignet(ns, "AccessPolicy", "client-to-server", { suspend: false });
    await untilClientConnects();
  });

  it("a closing grant stops new connections", async () => {
    const end = new Date(Date.now() + 6_000);
    await createSignet(ns, "AccessSchedule", "short", {
      grants: [
        {
          start: new Date(Date.now() - 60_000).toISOString(),
          end: end.toISOString().replace(/\.\d+Z$/, "Z"),
          reason: "e2e",
        },
      ],
    });
    await patchSignet(ns, "AccessPolicy", "client-to-server", { scheduleRef: { name: "short" } });
    const endsAt = Math.floor(end.getTime() / 1000) * 1000;
    const { lines } = await probeAcross("client", 10_000, async () => Date.now());
    const refused = firstFailureAfter(lines, endsAt);
    expect(refused, `probe lines: ${JSON.stringify(lines.slice(-5))}`).toBeDefined();
    expect(lines.some((l) => l.outcome === "ok")).toBe(true);
    figures.push(`grant end -> first refused new connection: ${(refused?.at ?? 0) - endsAt} ms`);
    const ap = await readSignet(ns, "AccessPolicy", "client-to-server");
    expect(ap.status?.active).toBe(false);
    // Standing access again for what follows.
    await patchSignet(ns, "AccessPolicy", "client-to-server", { scheduleRef: null });
    await untilClientConnects();
  });

  it("a rotation reaches the running pod: the new certificate is in its files and presented by the server", async () => {
    const secretName = "server-identity";
    const before = await core.readNamespacedSecret({ namespace: ns, name: secretName });
    const oldSerial = new X509Certificate(Buffer.from(before.data?.["tls.crt"] ?? "", "base64")).serialNumber;
    const rotated = await waitFor(
      "the server's Secret rotated",
      async () => {
        const s = await core.readNamespacedSecret({ namespace: ns, name: secretName });
        const serial = new X509Certificate(Buffer.from(s.data?.["tls.crt"] ?? "", "base64")).serialNumber;
        return serial !== oldSerial ? { serial, at: Date.now() } : undefined;
      },
      { timeoutMs: 90_000, intervalMs: 100 },
    );
    const reloaded = await waitFor(
      "the server pod reloading the new certificate",
      async () => {
        const log = await core.readNamespacedPodLog({ namespace: ns, name: "server", container: "app" });
        for (const line of log.split("\n")) {
          const m = /^reloaded serial ([0-9a-f]+) .* at (\d+)$/i.exec(line);
          if (m && sameSerial(m[1] ?? "", rotated.serial)) return Number(m[2]);
        }
        return undefined;
      },
      { timeoutMs: 90_000, intervalMs: 200 },
    );
    figures.push(
      `Secret updated -> new certificate in the pod's files, reloaded by the server: ${reloaded - rotated.at} ms`,
    );
    const hello = await execIn(ns, "client", peer("connect", "--to", target, "--expect", idOf("server")));
    const presented = /serial ([0-9a-f]+)/i.exec(hello.stdout)?.[1] ?? "";
    expect(sameSerial(presented, rotated.serial), hello.stdout).toBe(true);
  }, 200_000);

  it("deleting a MachineIdentity or an AccessPolicy garbage-collects what Signet made; the namespace deletes", async () => {
    await deleteSignet(ns, "MachineIdentity", "intruder");
    await waitFor(
      "the intruder's Secret gone",
      async () =>
        (await core.readNamespacedSecret({ namespace: ns, name: "intruder-identity" }).catch(() => undefined))
          ? undefined
          : true,
      { timeoutMs: 30_000 },
    );
    await deleteSignet(ns, "AccessPolicy", "client-to-server");
    await waitFor(
      "the NetworkPolicies gone",
      async () =>
        (await networking.listNamespacedNetworkPolicy({ namespace: ns })).items.length === 0
          ? true
          : undefined,
      { timeoutMs: 30_000 },
    );
    await core.deleteNamespace({ name: ns });
    await waitFor(
      `namespace ${ns} deleted`,
      async () => ((await core.readNamespace({ name: ns }).catch(() => undefined)) ? undefined : true),
      { timeoutMs: 90_000, intervalMs: 500 },
    );
  }, 150_000);
});
