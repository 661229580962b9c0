// npm run cluster -- up|down|status: a local control plane that keeps running in the background.
import { spawn } from "node:child_process";
import { existsSync, mkdirSync, openSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { startControlPlane } from "./controlplane.ts";

const stateDir =
  process.env.SIGNET_CLUSTER_DIR ?? fileURLToPath(new URL("../../.signet/cluster", import.meta.url));
const stateFile = join(stateDir, "state.json");
const self = fileURLToPath(import.meta.url);

interface State {
  pid: number;
  server: string;
  kubeconfig: string;
}

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
  rmSync(stateFile, { force: true });
  mkdirSync(stateDir, { recursive: true });
  const logPath = join(stateDir, "cluster.log");
  const log = openSync(logPath, "a");
  const daemon = spawn(process.execPath, [self, "serve"], { detached: true, stdio: ["ignore", log, log] });
  daemon.unref();
  console.error(`starting the control plane (log: ${logPath})`);
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
  const cp = await startControlPlane({ dir: stateDir, removeOnStop: false });
  const state: State = { pid: process.pid, server: cp.server, kubeconfig: cp.kubeconfigPath };
  writeFileSync(stateFile, JSON.stringify(state, null, 2));
  console.log(`control plane ready at ${cp.server}`);
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
  for (let i = 0; i < 100 && alive(state.pid); i++) await sleep(100);
  if (alive(state.pid)) process.kill(state.pid, "SIGKILL");
  rmSync(stateFile, { force: true });
  console.log("stopped");
}

function status(): void {
  const state = readState();
  if (state && alive(state.pid)) {
    console.log(`running at ${state.server} (pid ${state.pid})\nexport KUBECONFIG=${state.kubeconfig}`);
  } else {
    console.log("not running");
    process.exitCode = 3;
  }
}

const command = process.argv[2];
const commands: Record<string, () => unknown> = { up, down, status, serve };
const run = command ? commands[command] : undefined;
if (!run) {
  console.error("usage: npm run cluster -- up|down|status");
  process.exit(2);
}
try {
  await run();
} catch (err) {
  console.error((err as Error).message);
  process.exit(1);
}
