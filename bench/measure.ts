import { execFileSync } from "node:child_process";
import { readFileSync } from "node:fs";
import { request } from "node:https";
import { cpus, loadavg } from "node:os";
import type * as k8s from "@kubernetes/client-node";
import { type OperatorProcess, scrapeMetrics } from "../e2e/support/operator.ts";

/**
 * What the benchmarks read from outside the operator: the API server's own write counters,
 * /proc figures of the operator's node process, and the machine it ran on.
 */

const WRITE_VERBS = new Set(["POST", "PUT", "PATCH", "APPLY", "DELETE"]);
const COUNTED_RESOURCES = new Set(["secrets", "machineidentities", "events"]);
const CLOCK_TICKS = Number(execFileSync("getconf", ["CLK_TCK"], { encoding: "utf8" }).trim());

export const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

export function cpuModel(): string {
  const line = readFileSync("/proc/cpuinfo", "utf8")
    .split("\n")
    .find((l) => l.startsWith("model name"));
  return line?.split(":")[1]?.trim() ?? cpus()[0]?.model ?? "unknown";
}

export const load = () =>
  loadavg()
    .map((l) => l.toFixed(2))
    .join(" ");

/** Text of the API server's own /metrics, fetched with the admin client certificate of the kubeconfig. */
export function apiserverMetrics(kc: k8s.KubeConfig): Promise<string> {
  const cluster = kc.getCurrentCluster();
  const user = kc.getCurrentUser();
  if (!cluster?.caData || !user?.certData || !user.keyData)
    throw new Error("the kubeconfig has no CA or admin client certificate");
  const b64 = (s: string) => Buffer.from(s, "base64");
  return new Promise((resolve, reject) => {
    const req = request(
      new URL("/metrics", cluster.server),
      {
        ca: b64(cluster.caData as string),
        cert: b64(user.certData as string),
        key: b64(user.keyData as string),
      },
      (res) => {
        let body = "";
        res.setEncoding("utf8");
        res.on("data", (chunk: string) => {
          body += chunk;
        });
        res.on("end", () =>
          res.statusCode === 200 ? resolve(body) : reject(new Error(`apiserver /metrics: ${res.statusCode}`)),
        );
      },
    );
    req.on("error", reject);
    req.end();
  });
}

/**
 * apiserver_request_total summed by "resource[/subresource] VERB code", over the requests `keep`
 * takes (by their labels).
 */
export function requestCounts(
  metricsText: string,
  keep: (labels: { verb: string; resource: string; subresource: string; code: string }) => boolean,
): Map<string, number> {
  const counts = new Map<string, number>();
  for (const line of metricsText.split("\n")) {
    if (!line.startsWith("apiserver_request_total{")) continue;
    const close = line.lastIndexOf("}");
    const labels = Object.fromEntries(
      [...line.slice(line.indexOf("{") + 1, close).matchAll(/(\w+)="([^"]*)"/g)].map((m) => [m[1], m[2]]),
    );
    const { verb = "", resource = "", subresource = "", code = "" } = labels;
    if (!keep({ verb, resource, subresource, code })) continue;
    const key = `${resource}${subresource ? `/${subresource}` : ""} ${verb} ${code}`;
    counts.set(key, (counts.get(key) ?? 0) + Number(line.slice(close + 1).trim()));
  }
  return counts;
}

/** Write requests to Secrets, MachineIdentities and events, keyed "resource[/subresource] VERB code". */
export function writeCounts(metricsText: string): Map<string, number> {
  return requestCounts(
    metricsText,
    ({ verb, resource }) => WRITE_VERBS.has(verb) && COUNTED_RESOURCES.has(resource),
  );
}

export function difference(after: Map<string, number>, before: Map<string, number>): Map<string, number> {
  const delta = new Map<string, number>();
  for (const [key, value] of after) {
    const d = value - (before.get(key) ?? 0);
    if (d > 0) delta.set(key, d);
  }
  return delta;
}

/** Sum of a counter family in Prometheus text, over the series whose labels include `filter`. */
function counterSum(metricsText: string, name: string, filter = ""): number {
  let sum = 0;
  for (const line of metricsText.split("\n")) {
    if (line.startsWith(`${name}{`) && line.includes(filter))
      sum += Number(line.slice(line.lastIndexOf("}") + 1).trim());
  }
  return sum;
}

/** The process running `program` under a supervising guard shell. */
export function childRunning(guardPid: number, program: string): number {
  const children = execFileSync("pgrep", ["-P", String(guardPid)], { encoding: "utf8" })
    .split("\n")
    .filter(Boolean)
    .map(Number);
  const found = children.find((pid) => readFileSync(`/proc/${pid}/cmdline`, "utf8").includes(program));
  if (found === undefined) throw new Error(`no ${program} process under pid ${guardPid}`);
  return found;
}

/** User plus system CPU seconds a process has used so far. */
export function cpuSeconds(pid: number): number {
  const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
  // Fields after the parenthesised command name; utime and stime are the 14th and 15th of the line.
  const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
  return (Number(fields[11]) + Number(fields[12])) / CLOCK_TICKS;
}

export function procStatusKb(pid: number, field: "VmHWM" | "VmRSS"): number {
  const match = new RegExp(`${field}:\\s+(\\d+) kB`).exec(readFileSync(`/proc/${pid}/status`, "utf8"));
  if (!match) throw new Error(`no ${field} in /proc/${pid}/status`);
  return Number(match[1]);
}

/** The operator's /metrics; retried, since a reused keep-alive connection may have been closed. */
export async function operatorMetrics(operator: OperatorProcess): Promise<string> {
  for (let attempt = 0; ; attempt++) {
    try {
      return await scrapeMetrics(operator.metricsPort);
    } catch (err) {
      if (attempt >= 3) throw err;
      await sleep(200);
    }
  }
}

/** Reconciles of one controller since the operator process started. */
export async function reconciles(operator: OperatorProcess, controller: string): Promise<number> {
  return counterSum(await operatorMetrics(operator), "signet_reconcile_total", `controller="${controller}"`);
}

/**
 * Waits until the operator's reconcile count has been still for `quietSeconds`, so that trailing
 * writes fall into the phase that caused them. Returns the seconds waited.
 */
export async function settle(operator: OperatorProcess, quietSeconds = 3, maxMs = 60_000): Promise<number> {
  const total = async () => counterSum(await operatorMetrics(operator), "signet_reconcile_total");
  let last = await total();
  const started = performance.now();
  for (let quiet = 0; quiet < quietSeconds && performance.now() - started < maxMs; ) {
    await sleep(1_000);
    const now = await total();
    quiet = now === last ? quiet + 1 : 0;
    last = now;
  }
  return (performance.now() - started) / 1000;
}

export function table(rows: string[][], header?: string[]): string {
  const all = header ? [header, ...rows] : rows;
  const widths = all.reduce<number[]>((w, row) => row.map((cell, i) => Math.max(w[i] ?? 0, cell.length)), []);
  // First column left-aligned, the figures right-aligned.
  const line = (row: string[]) =>
    `  ${row.map((cell, i) => (i === 0 ? cell.padEnd(widths[i] ?? 0) : cell.padStart(widths[i] ?? 0))).join("  ")}`;
  return all.map(line).join("\n");
}

/**
 * Calls `fn`, again after each 429 (API priority and fairness: the server is full, not broken),
 * waiting a little longer each time, up to 21 attempts. Returns how many retries it took.
 */
export async function retryThrottled(fn: () => Promise<unknown>): Promise<number> {
  for (let attempt = 0; ; attempt++) {
    try {
      await fn();
      return attempt;
    } catch (err) {
      if ((err as { code?: number }).code !== 429 || attempt > 20) throw err;
      await sleep(100 * (attempt + 1));
    }
  }
}
