import { mkdtempSync, readFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { freePort } from "../harness/ports.ts";
import { type Supervised, startSupervised } from "../harness/supervised.ts";

const cli = fileURLToPath(new URL("../../operator/src/cli/main.ts", import.meta.url));

export interface OperatorProcess {
  readonly process: Supervised;
  readonly metricsPort: number;
  readonly webhookPort: number;
  /** The JWT-SVID endpoint's port: the one in flags (--jwt-port=...), else a free one. */
  readonly jwtPort: number;
  /** The enrollment endpoint's port: the one in flags (--enrollment-port=...), else a free one. */
  readonly enrollmentPort: number;
  readonly logFile: string;
  log(): string;
  /** SIGKILL: the process gets no chance to release its lease or finish writes. */
  kill(): Promise<void>;
  /** SIGSTOP for `ms`, then SIGCONT: a process frozen as by a long GC pause or a throttled cgroup. */
  freeze(ms: number): Promise<void>;
  stop(): Promise<void>;
}

/**
 * Runs `signet <command>` as a separate Node process against the test cluster, as a Deployment
 * would run it. It is supervised: it dies with the test run.
 */
export async function startOperatorProcess(
  kubeconfigPath: string,
  flags: string[],
  command = "run",
  options: {
    /** The entry point: the TypeScript sources by default, or the built JavaScript (scripts/build.ts) as the image runs it. */
    entry?: string | undefined;
    /** A command the node process is started through, e.g. one that puts it into a memory cgroup first. */
    launcher?: string[] | undefined;
  } = {},
): Promise<OperatorProcess> {
  const dir = mkdtempSync(join(tmpdir(), "signet-op-"));
  const logFile = join(dir, "operator.log");
  const metricsPort = await freePort();
  const webhookPort = await freePort();
  const jwtFlag = flags.find((f) => f.startsWith("--jwt-port="));
  const jwtPort = jwtFlag ? Number(jwtFlag.slice("--jwt-port=".length)) : await freePort();
  const enrollmentFlag = flags.find((f) => f.startsWith("--enrollment-port="));
  const enrollmentPort = enrollmentFlag
    ? Number(enrollmentFlag.slice("--enrollment-port=".length))
    : await freePort();
  const nodeArgs = [
    options.entry ?? cli,
    command,
    `--metrics-port=${metricsPort}`,
    `--webhook-port=${webhookPort}`,
    ...(jwtFlag ? [] : [`--jwt-port=${jwtPort}`]),
    ...(enrollmentFlag ? [] : [`--enrollment-port=${enrollmentPort}`]),
    // One pod certificate signer per cluster, and files share the control plane: only a test that
    // asks for the signer runs it (it owns the cluster-wide ClusterTrustBundle).
    ...(flags.some((f) => f.startsWith("--pod-certificate-signer"))
      ? []
      : ["--pod-certificate-signer=false"]),
    ...flags,
  ];
  const [program = process.execPath, ...args] = [...(options.launcher ?? []), process.execPath, ...nodeArgs];
  const proc = startSupervised("signet", program, args, logFile, {
    ...process.env,
    KUBECONFIG: kubeconfigPath,
    NO_PROXY: "127.0.0.1,localhost",
  });
  return {
    process: proc,
    metricsPort,
    webhookPort,
    jwtPort,
    enrollmentPort,
    logFile,
    log: () => readFileSync(logFile, "utf8"),
    kill: async () => {
      process.kill(-proc.pid, "SIGKILL");
      await proc.exited;
    },
    freeze: async (ms) => {
      process.kill(-proc.pid, "SIGSTOP");
      try {
        await new Promise((resolve) => setTimeout(resolve, ms));
      } finally {
        process.kill(-proc.pid, "SIGCONT");
      }
    },
    stop: () => proc.stop(),
  };
}

/** Fetches the operator's /metrics text. */
export async function scrapeMetrics(port: number): Promise<string> {
  const res = await fetch(`http://127.0.0.1:${port}/metrics`);
  return res.text();
}
