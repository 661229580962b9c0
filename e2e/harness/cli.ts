// npm run cluster -- up [--bare]|down|status: a local cluster that keeps running in the background.
// `up` starts a full single-node Kubernetes (control plane, kubelet with containerd, Service routing,
// NetworkPolicy enforcement) with Signet's images imported; `up --bare` only etcd and kube-apiserver.
import { spawn } from "node:child_process";
import { existsSync, mkdirSync, openSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { startControlPlane } from "./controlplane.ts";
import { buildImages } from "./images.ts";
import { missingNodePrerequisites, startNodeCluster } from "./node.ts";

const stateDir =
  process.env.SIGNET_CLUSTER_DIR ?? fileURLToPath(new URL("../../.signet/cluster", import.meta.url));
const stateFile = join(stateDir, "state.json");
const self = fileURLToPath(import.meta.url);

interface State {
  pid: number;
  server: string;
  kubeconfig: string;
  /** "node" (a full single-node cluster) or "bare" (etcd and kube-apiserver only). */
  kind: "node" | "bare";
}

const bare = process.argv.includes("--bare");

function readState(): State | undefined {
  if (!existsSync(stateFile)) return undefined;
  return JSON.parse(readFileSync(stateFile, "utf8")) as State;
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

async function up(): Promise<void> {
  const state = readState();
  if (state && alive(state.pid)) {
    console.log(`already running at ${state.server}\nexport KUBECONFIG=${state.kubeconfig}`);
    return;
  }
  if (!bare) {
    const missing = missingNodePrerequisites();
    if (missing.length > 0) {
      throw new Error(
        `this machine cannot run a Kubernetes node; missing:\n  - ${missing.join("\n  - ")}\n` +
          "`npm run cluster -- up --bare` starts the control plane alone",
      );
    }
  }
  rmSync(stateFile, { force: true });
  mkdirSync(stateDir, { recursive: true });
  const logPath = join(stateDir, "cluster.log");
  const log = openSync(logPath, "a");
  const daemon = spawn(process.execPath, [self, "serve", ...(bare ? ["--bare"] : [])], {
    detached: true,
    stdio: ["ignore", log, log],
  });
  daemon.unref();
  console.error(`starting ${bare ? "the control plane" : "a single-node cluster"} (log: ${logPath})`);
  const deadline = Date.now() + 30 * 60_000; // a cold build of the binaries can take this long
  while (Date.now() < deadline) {
    const s = readState();
    if (s) {
      console.log(`running at ${s.server}\nexport KUBECONFIG=${s.kubeconfig}`);
      return;
    }
    if (daemon.pid === undefined || !alive(daemon.pid)) {
      throw new Error(`the control plane did not start; see ${logPath}`);
    }
    await sleep(500);
  }
  throw new Error(`the control plane is not ready after 30 minutes; see ${logPath}`);
}

async function serve(): Promise<void> {
  // Fresh state each time: certificates, etcd and the node's directories are never reused.
  for (const entry of ["pki", "etcd", "control-plane", "containerd", "kubelet", "cni", "sys"]) {
    rmSync(join(stateDir, entry), { recursive: true, force: true });
  }
  const cp = bare
    ? await startControlPlane({ dir: stateDir, removeOnStop: false })
    : await startNodeCluster({ dir: stateDir, removeOnStop: false, images: buildImages() });
  const server = "server" in cp ? cp.server : cp.controlPlane.server;
  const state: State = {
    pid: process.pid,
    server,
    kubeconfig: cp.kubeconfigPath,
    kind: bare ? "bare" : "node",
    ...("initPid" in cp ? { initPid: cp.initPid } : {}),
  };
  writeFileSync(stateFile, JSON.stringify(state, null, 2));
  console.log(`${bare ? "control plane" : "single-node cluster"} ready at ${server}`);
  const shutdown = async () => {
    rmSync(stateFile, { force: true });
    await cp.stop();
    process.exit(0);
  };
  process.on("SIGTERM", shutdown);
  process.on("SIGINT", shutdown);
  setInterval(() => {}, 1 << 30);
}

async function down(): Promise<void> {
  const state = readState();
  if (!state || !alive(state.pid)) {
    rmSync(stateFile, { force: true });
    console.log("not running");
    return;
  }
  process.kill(state.pid, "SIGTERM");
  for (let i = 0; i < 300 && alive(state.pid); i++) await sleep(100);
  if (alive(state.pid)) process.kill(state.pid, "SIGKILL");
  rmSync(stateFile, { force: true });
  console.log("stopped");
}

function status(): void {
  const state = readState();
  if (state && alive(state.pid)) {
    const what = state.kind === "bare" ? "control plane" : "single-node cluster";
    console.log(
      `${what} running at ${state.server} (pid ${state.pid})\nexport KUBECONFIG=${state.kubeconfig}`,
    );
  } else {
    console.log("not running");
    process.exitCode = 3;
  }
}

const command = process.argv[2];
const commands: Record<string, () => unknown> = { up, down, status, serve };
const run = command ? commands[command] : undefined;
if (!run) {
  console.error("usage: npm run cluster -- up [--bare] | down | status");
  process.exit(2);
}
try {
  await run();
} catch (err) {
  console.error((err as Error).message);
  process.exit(1);
}
