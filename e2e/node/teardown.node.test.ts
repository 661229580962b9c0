// A node must not outlive its harness, even one killed with SIGKILL that runs no clean-up at all:
// no kubelet, containerd, shim, container, etcd or API server process, no network device, mount
// or nftables table of the node may be left on the host.
import { execFileSync, spawn } from "node:child_process";
import { existsSync, mkdtempSync, readdirSync, readFileSync, readlinkSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import * as k8s from "@kubernetes/client-node";
import { afterAll, describe, expect, it } from "vitest";
import { buildImages } from "../harness/images.ts";
import { removeNodeCgroups } from "../harness/node.ts";
import { waitFor } from "../support/wait.ts";

const script = fileURLToPath(new URL("./fixtures/start-node.ts", import.meta.url));
const dir = mkdtempSync(join(tmpdir(), "signet-teardown-"));

interface Started {
  kubeconfig: string;
  initPid: number;
  slot: number;
  hostLink: string;
}

const allPids = () =>
  readdirSync("/proc")
    .filter((e) => /^\d+$/.test(e))
    .map(Number);
const read = (path: string) => {
  try {
    return readFileSync(path, "utf8");
  } catch {
    return undefined;
  }
};
const link = (path: string) => {
  try {
    return readlinkSync(path);
  } catch {
    return undefined;
  }
};
const alive = (pid: number) =>
  read(`/proc/${pid}/stat`) !== undefined && !/\) Z /.test(read(`/proc/${pid}/stat`) ?? "");
const hostTables = () => execFileSync("nft", ["list", "tables"], { encoding: "utf8" }).trim();
const hostLinks = () => readdirSync("/sys/class/net").sort();

/** Every process that belongs to the node: in its PID namespace, in its cgroups, or using its directory. */
function nodeProcesses(started: Started): Map<number, string> {
  const pidNs = link(`/proc/${started.initPid}/ns/pid`);
  const found = new Map<number, string>();
  for (const pid of allPids()) {
    const cmdline = (read(`/proc/${pid}/cmdline`) ?? "").replaceAll("\0", " ").trim();
    const inNamespace = pidNs !== undefined && link(`/proc/${pid}/ns/pid`) === pidNs;
    const inCgroups = (read(`/proc/${pid}/cgroup`) ?? "").includes(`/signet-node${started.slot}/`);
    if (inNamespace || inCgroups || cmdline.includes(dir)) found.set(pid, cmdline || "?");
  }
  return found;
}

describe("a node whose harness is killed with SIGKILL", () => {
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it("leaves no process, network device, mount or nftables table behind", async () => {
    const images = buildImages().filter((f) => /pause|peer/.test(f));
    const tablesBefore = hostTables();
    const linksBefore = hostLinks();
    const child = spawn(process.execPath, [script, dir, ...images], { stdio: ["ignore", "pipe", "inherit"] });
    let out = "";
    child.stdout.setEncoding("utf8");
    child.stdout.on("data", (chunk: string) => {
      out += chunk;
    });
    const started = await waitFor(
      "the node ready",
      () => (out.includes("\n") ? (JSON.parse(out.split("\n")[0] ?? "") as Started) : undefined),
      { timeoutMs: 120_000, intervalMs: 200 },
    );
    expect(hostLinks()).toContain(started.hostLink);

    // A pod runs, so that shims and containers are among what must go.
    const kc = new k8s.KubeConfig();
    kc.loadFromFile(started.kubeconfig);
    const core = kc.makeApiClient(k8s.CoreV1Api);
    await waitFor(
      "the default ServiceAccount",
      () => core.readNamespacedServiceAccount({ namespace: "default", name: "default" }),
      {
        timeoutMs: 30_000,
      },
    );
    await core.createNamespacedPod({
      namespace: "default",
      body: {
        metadata: { name: "doomed" },
        spec: {
          containers: [
            { name: "app", image: "signet-e2e-peer:dev", imagePullPolicy: "Never", args: ["idle"] },
          ],
        },
      },
    });
    await waitFor(
      "the pod running",
      async () =>
        (await core.readNamespacedPod({ namespace: "default", name: "doomed" })).status?.phase === "Running"
          ? true
          : undefined,
      { timeoutMs: 60_000, intervalMs: 200 },
    );

    const tracked = nodeProcesses(started);
    const commands = [...tracked.values()].join("\n");
    for (const part of [
      "containerd-shim",
      "/peer/peer.ts idle",
      "kubelet",
      "kube-proxy",
      "kube-router",
      "etcd",
      "kube-apiserver",
    ]) {
      expect(commands, `expected a ${part} process among the node's`).toContain(part);
    }

    child.kill("SIGKILL");
    await waitFor(
      "every process of the node gone",
      () => ([...tracked.keys()].some(alive) ? undefined : true),
      { timeoutMs: 20_000, intervalMs: 100 },
    ).catch((err: Error) => {
      const left = [...tracked].filter(([pid]) => alive(pid)).map(([pid, cmd]) => `${pid} ${cmd}`);
      throw new Error(`${err.message}: ${left.join("; ")}`);
    });
    expect([...nodeProcesses(started).values()]).toEqual([]);
    await waitFor(
      "the node's network device gone",
      () => (hostLinks().includes(started.hostLink) ? undefined : true),
      {
        timeoutMs: 10_000,
      },
    );
    expect(hostLinks()).toEqual(linksBefore);
    expect(hostTables()).toBe(tablesBefore);
    const mounts = readFileSync("/proc/self/mountinfo", "utf8")
      .split("\n")
      .filter((l) => l.includes(dir));
    expect(mounts).toEqual([]);
    // Only the empty cgroup tree of the node's slot is left; removing it finds no process inside.
    expect(removeNodeCgroups(started.slot)).toEqual([]);
    for (const tree of [
      `/sys/fs/cgroup/pids/signet-node${started.slot}`,
      `/sys/fs/cgroup/signet-node${started.slot}`,
    ]) {
      expect(existsSync(tree), tree).toBe(false);
    }
  }, 200_000);
});
