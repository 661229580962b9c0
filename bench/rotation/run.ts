import { execFileSync } from "node:child_process";
import { readFileSync } from "node:fs";
import { cpus } from "node:os";
import { parseArgs } from "node:util";
import * as k8s from "@kubernetes/client-node";
import { startControlPlane } from "../../e2e/harness/controlplane.ts";
import { identity, MI } from "../../e2e/identity/support.ts";
import { reuseConnections } from "../../e2e/support/connections.ts";
import { installCrds } from "../../e2e/support/crds.ts";
import { type OperatorProcess, startOperatorProcess } from "../../e2e/support/operator.ts";
import type { MachineIdentity } from "../../operator/src/api/index.ts";
import { createRootCa, trustBundle } from "../../operator/src/pki/index.ts";
import {
  apiserverMetrics,
  childRunning,
  cpuModel,
  cpuSeconds,
  difference,
  load,
  procStatusKb,
  reconciles,
  retryThrottled,
  settle,
  sleep,
  table,
  writeCounts,
} from "../measure.ts";
import { type Observer, observeSecrets, type SecretEvent, type SecretState } from "./observe.ts";

/**
 * A CA rotation of the generated root on N MachineIdentities, on a real control plane, walked the
 * way the CA store walks it: prepare (the next root joins every ca.crt, no re-key), switch (issuance
 * moves to it; the leaves follow within the spread, paced by the re-key limit) and drop (the old
 * root leaves the bundle). Each phase is an edit of the CA Secret picked up by an operator process
 * started afresh on it (the CA is read on start). Every identity Secret event is observed through a
 * watch and classified; figures are reported, not asserted.
 *
 *   npm run bench:rotation -- --count 1000 --spread 60s --rate 20
 */

const { values } = parseArgs({
  options: {
    count: { type: "string", default: "1000" },
    /** --issuer-spread of the operator. */
    spread: { type: "string", default: "60s" },
    /** --rekeys-per-second of the operator. */
    rate: { type: "string", default: "20" },
    /** Identity ttl: long enough that no renewal falls due by time during the run. */
    ttl: { type: "string", default: "24h" },
    concurrency: { type: "string", default: "32" },
    /** NODE_OPTIONS for the operator process. */
    "node-options": { type: "string", default: "" },
  },
});
const count = Number(values.count);
const rate = Number(values.rate);
const concurrency = Number(values.concurrency);
const spreadMs = durationMs(values.spread);
if (!Number.isInteger(count) || count < 1)
  throw new Error(`--count must be a positive integer, got ${values.count}`);
if (!(rate > 0)) throw new Error(`--rate must be a positive number, got ${values.rate}`);
if (!Number.isInteger(concurrency) || concurrency < 1)
  throw new Error(`--concurrency must be a positive integer, got ${values.concurrency}`);

const NAMESPACE = "signet-bench";
const OPERATOR_NAMESPACE = "signet-system";
const CA_SECRET = "signet-ca";
const TRUST_DOMAIN = "cluster.local";
const IDENTITY_SELECTOR = "signet.dev/machineidentity";
type Phase = "issue" | "prepare" | "switch" | "drop";
/**
 * The API server records each identity Secret update with microsecond times, so that the pace of
 * the re-keys can be read where they land, not only where the watch delivers them.
 */
const AUDIT_POLICY = `apiVersion: audit.k8s.io/v1
kind: Policy
omitStages: ["RequestReceived"]
rules:
  - level: Metadata
    verbs: ["update"]
    namespaces: ["${NAMESPACE}"]
    resources: [{ group: "", resources: ["secrets"] }]
  - level: None
`;

interface AuditEvent {
  requestReceivedTimestamp: string;
  stageTimestamp: string;
  objectRef?: { name?: string };
  responseStatus?: { code?: number };
}

/** Times (ms) of the successful identity Secret updates the API server audited in [fromMs, toMs). */
function auditedUpdates(path: string, fromMs: number, toMs: number): { received: number[]; done: number[] } {
  const events = readFileSync(path, "utf8")
    .split("\n")
    .filter(Boolean)
    .map((line) => JSON.parse(line) as AuditEvent)
    .filter((e) => e.responseStatus?.code === 200)
    .map((e) => ({ received: Date.parse(e.requestReceivedTimestamp), done: Date.parse(e.stageTimestamp) }))
    .filter((e) => e.done >= fromMs && e.done < toMs);
  const sorted = (xs: number[]) => xs.sort((a, b) => a - b);
  return { received: sorted(events.map((e) => e.received)), done: sorted(events.map((e) => e.done)) };
}

function durationMs(text: string): number {
  const match = /^(\d+(?:\.\d+)?)(ms|s|m|h)$/.exec(text);
  if (!match) throw new Error(`--spread must be a duration such as 60s or 2m, got ${text}`);
  const unit = { ms: 1, s: 1_000, m: 60_000, h: 3_600_000 }[match[2] as "ms" | "s" | "m" | "h"];
  return Number(match[1]) * unit;
}

interface PhaseRecord {
  phase: Phase;
  /** performance.now() of the CA Secret edit (of the first create for "issue"). */
  editedAt: number;
  /** performance.now() and Date.now() when the operator of this phase logged "controllers started". */
  startedAt: number;
  startedWallMs: number;
  /** performance.now() when every Secret showed the phase's end state. */
  doneAt: number;
  /** Date.now() of the edit and of the end of the phase (settled). */
  editedWallMs: number;
  settledWallMs: number;
  writes: Map<string, number>;
  /** Writes of the benchmark itself, subtracted from `writes`. */
  own: string;
  hwmKb: number;
  cpuSeconds: number;
  /** MachineIdentity reconciles of the phase's operator process. */
  reconciles: number;
}

const stops: (() => Promise<void> | void)[] = [];
const stopAll = async () => {
  for (const stop of stops.splice(0).reverse()) {
    try {
      await stop();
    } catch (err) {
      console.error(`cleanup: ${(err as Error).message}`);
    }
  }
};
for (const signal of ["SIGINT", "SIGTERM"] as const) {
  process.once(signal, () => {
    void stopAll().finally(() => process.exit(130));
  });
}

const b64 = (s: string) => Buffer.from(s).toString("base64");
const unb64 = (s: string | undefined) => Buffer.from(s ?? "", "base64").toString("utf8");

/** The operator as its own process; resolves once its controllers run, with the time it said so. */
async function startOperator(kubeconfigPath: string): Promise<{ op: OperatorProcess; wallMs: number }> {
  if (values["node-options"]) process.env.NODE_OPTIONS = values["node-options"];
  const op = await startOperatorProcess(
    kubeconfigPath,
    [
      "--leader-elect=false",
      `--namespace=${OPERATOR_NAMESPACE}`,
      `--watch-namespaces=${NAMESPACE}`,
      `--trust-domain=${TRUST_DOMAIN}`,
      `--issuer-spread=${values.spread}`,
      `--rekeys-per-second=${values.rate}`,
    ],
    "controller",
  );
  delete process.env.NODE_OPTIONS;
  stops.push(() => op.process.stop(15_000));
  const deadline = Date.now() + 120_000;
  for (;;) {
    const line = op
      .log()
      .split("\n")
      .find((l) => l.includes("controllers started"));
    if (line) {
      // pino's time, an ISO string; the moment the line was seen when it cannot be read.
      let wallMs = Date.now();
      try {
        const time = Date.parse(String((JSON.parse(line) as { time?: unknown }).time));
        if (Number.isFinite(time)) wallMs = time;
      } catch {
        // Not JSON: keep the moment it was seen.
      }
      return { op, wallMs };
    }
    if (Date.now() > deadline) throw new Error(`the operator did not start:\n${op.log()}`);
    await sleep(100);
  }
}

async function createAll(objects: k8s.CustomObjectsApi): Promise<number> {
  let next = 0;
  let retries = 0;
  const worker = async () => {
    for (let i = next++; i < count; i = next++) {
      const body = identity(NAMESPACE, `id-${String(i).padStart(5, "0")}`, {
        serviceAccounts: ["bench"],
        ttl: values.ttl,
        privateKey: { algorithm: "ECDSA", size: 256 },
      });
      retries += await retryThrottled(() =>
        objects.createNamespacedCustomObject({ ...MI, namespace: NAMESPACE, body }),
      );
    }
  };
  await Promise.all(Array.from({ length: concurrency }, worker));
  return retries;
}

async function readyCount(objects: k8s.CustomObjectsApi): Promise<number> {
  const list = (await objects.listNamespacedCustomObject({ ...MI, namespace: NAMESPACE })) as {
    items: MachineIdentity[];
  };
  return list.items.filter(
    (mi) =>
      mi.status?.serialNumber && mi.status.conditions?.some((c) => c.type === "Ready" && c.status === "True"),
  ).length;
}

/** Waits until `count` identity Secrets all satisfy `done`; reports progress every 5 s. */
async function waitForSecrets(
  observer: Observer,
  what: string,
  done: (s: SecretState) => boolean,
  timeoutMs: number,
): Promise<number> {
  const t0 = performance.now();
  let lastReport = t0;
  for (;;) {
    const reached = [...observer.state.values()].filter(done).length;
    if (reached === count && observer.state.size === count) return performance.now();
    if (performance.now() - t0 > timeoutMs)
      throw new Error(`${what}: ${reached}/${count} after ${(timeoutMs / 1000).toFixed(0)} s`);
    if (performance.now() - lastReport > 5_000) {
      lastReport = performance.now();
      console.error(
        `  ${((lastReport - t0) / 1000).toFixed(0)} s: ${reached}/${count} ${what} (load ${load()})`,
      );
    }
    await sleep(100);
  }
}

/** Reads the CA Secret, applies `edit` to its data and annotations, and writes it back. */
async function editCaSecret(
  core: k8s.CoreV1Api,
  edit: (data: Record<string, string>, annotations: Record<string, string>) => void,
): Promise<void> {
  const ca = await core.readNamespacedSecret({ namespace: OPERATOR_NAMESPACE, name: CA_SECRET });
  const data = Object.fromEntries(Object.entries(ca.data ?? {}).map(([k, v]) => [k, unb64(v)]));
  const annotations = { ...ca.metadata?.annotations };
  edit(data, annotations);
  ca.data = Object.fromEntries(Object.entries(data).map(([k, v]) => [k, b64(v)]));
  ca.metadata = { ...ca.metadata, annotations };
  await core.replaceNamespacedSecret({ namespace: OPERATOR_NAMESPACE, name: CA_SECRET, body: ca });
}

/** The largest number of `times` (ms, sorted) inside any window of one second. */
function slidingMax(times: number[]): number {
  let max = 0;
  for (let i = 0, j = 0; i < times.length; i++) {
    while ((times[i] as number) - (times[j] as number) >= 1000) j++;
    max = Math.max(max, i - j + 1);
  }
  return max;
}

function countBy<T>(items: T[], key: (item: T) => number): Map<number, number> {
  const out = new Map<number, number>();
  for (const item of items) out.set(key(item), (out.get(key(item)) ?? 0) + 1);
  return out;
}

/** The re-keys of the switch phase as the API server's audit log timed them. */
function auditFigures(sw: PhaseRecord, auditLogPath: string | undefined): string[][] {
  if (!auditLogPath) return [];
  const { received, done } = auditedUpdates(auditLogPath, sw.editedWallMs, sw.settledWallMs);
  const verdict = (n: number) => `limit ${rate}/s: ${n <= rate ? "within" : "ABOVE"}`;
  const calendar = Math.max(0, ...countBy(done, (t) => Math.floor(t / 1000)).values());
  return [
    [
      "max in one calendar second (audit, written)",
      String(calendar),
      `${verdict(calendar)}; ${done.length} identity Secret updates audited`,
    ],
    ["max in any 1 s window (audit, written)", String(slidingMax(done)), verdict(slidingMax(done))],
    ["max in any 1 s window (audit, received)", String(slidingMax(received)), verdict(slidingMax(received))],
  ];
}

function report(
  records: PhaseRecord[],
  events: SecretEvent[],
  auditLogPath: string | undefined,
  meta: string[],
): void {
  const mb = (kb: number) => `${(kb / 1024).toFixed(0)} MB`;
  const s = (ms: number) => `${(ms / 1000).toFixed(1)} s`;
  const of = (phase: Phase) => events.filter((e) => e.phase === phase);
  const lacking = events.filter((e) => e.change !== "deleted" && !e.trustsIssuer);

  console.log(
    `\nSignet CA rotation: ${count} MachineIdentities (ECDSA P-256, ttl ${values.ttl}), one namespace`,
  );
  for (const line of meta) console.log(line);

  console.log("\nIdentity Secret events seen by the watch, per phase:");
  console.log(
    table(
      records.map((r) => {
        const e = of(r.phase);
        const n = (c: SecretEvent["change"]) => String(e.filter((x) => x.change === c).length);
        return [
          r.phase,
          s(r.doneAt - r.editedAt),
          n("created"),
          n("rekey"),
          n("bundle-only"),
          n("unchanged"),
          n("deleted"),
          String(e.filter((x) => x.serialWithoutKey).length),
          String(e.filter((x) => x.change !== "deleted" && !x.trustsIssuer).length),
        ];
      }),
      [
        "phase",
        "edit -> done",
        "created",
        "re-keys",
        "bundle-only",
        "unchanged",
        "deleted",
        "new serial, same key",
        "ca.crt lacks leaf's issuer",
      ],
    ),
  );

  const sw = records.find((r) => r.phase === "switch");
  if (sw) {
    const rekeys = of("switch")
      .filter((e) => e.change === "rekey")
      .sort((a, b) => a.wallMs - b.wallMs);
    const base = Math.floor(sw.startedWallMs / 1000);
    const byWrite = countBy(
      rekeys.filter((e) => e.writtenAt),
      (e) => Math.floor(Date.parse(e.writtenAt as string) / 1000) - base,
    );
    const byArrival = countBy(rekeys, (e) => Math.floor(e.wallMs / 1000) - base);
    const seconds = [...byWrite.keys(), ...byArrival.keys()];
    const rows: string[][] = [];
    let cumulative = 0;
    for (let sec = Math.min(...seconds); sec <= Math.max(...seconds); sec++) {
      const written = byWrite.get(sec) ?? 0;
      cumulative += written;
      const flag = written > rate ? "  ABOVE LIMIT" : "";
      rows.push([`+${sec}`, String(written), String(cumulative), `${byArrival.get(sec) ?? 0}${flag}`]);
    }
    console.log(
      `\nRe-keys per second in the switch phase (second 0: the calendar second in which the switched operator's controllers started; by the API server's write time, managedFields, and by arrival at the watch):`,
    );
    console.log(table(rows, ["second", "re-keys", "cumulative", "arrived"]));
    const maxWritten = Math.max(0, ...byWrite.values());
    const maxArrived = Math.max(0, ...byArrival.values());
    const last = rekeys.at(-1);
    const first = rekeys[0];
    const verdict = (ok: boolean) => (ok ? "within" : "ABOVE");
    console.log(
      table([
        [
          "max re-keys in one second (write time)",
          String(maxWritten),
          `limit ${rate}/s: ${verdict(maxWritten <= rate)}`,
        ],
        [
          "max re-keys in one second (arrival)",
          String(maxArrived),
          `limit ${rate}/s: ${verdict(maxArrived <= rate)}`,
        ],
        [
          "max re-keys in any 1 s window (arrival)",
          String(slidingMax(rekeys.map((e) => e.at))),
          "includes the API server's watch delivery jitter",
        ],
        [
          "switch -> first re-key",
          first ? s(first.at - sw.startedAt) : "none",
          "from the switched operator's controllers started",
        ],
        [
          "switch -> last re-key",
          last ? s(last.at - sw.startedAt) : "none",
          `spread ${values.spread}, ${count} at ${rate}/s take at least ${s((1000 * count) / rate)}; from the CA edit ${last ? s(last.at - sw.editedAt) : "-"}`,
        ],
        ...auditFigures(sw, auditLogPath),
        [
          "mean rate",
          last && first ? `${(rekeys.length / ((last.at - first.at) / 1000)).toFixed(1)}/s` : "-",
          "",
        ],
      ]),
    );
  }

  console.log(
    `\nSamples where a Secret's ca.crt lacked the certificate that issued its leaf: ${lacking.length} of ${events.filter((e) => e.change !== "deleted").length}`,
  );
  for (const e of lacking.slice(0, 10)) console.log(`  ${e.phase} ${e.name} ${e.change} ${e.writtenAt}`);

  console.log(
    "\nAPI writes per phase (apiserver_request_total from the edit until settled, minus the benchmark's own):",
  );
  const keys = [...new Set(records.flatMap((r) => [...r.writes.keys()]))].sort();
  console.log(
    table(
      [
        ...keys
          .filter((k) => records.some((r) => (r.writes.get(k) ?? 0) > 0))
          .map((k) => [k, ...records.map((r) => String(r.writes.get(k) ?? 0))]),
        ["all", ...records.map((r) => String([...r.writes.values()].reduce((a, b) => a + b, 0)))],
      ],
      ["write", ...records.map((r) => r.phase)],
    ),
  );
  console.log(`  subtracted, the benchmark's own: ${records.map((r) => `${r.phase}: ${r.own}`).join("; ")}`);

  console.log("\nOperator process of each phase (started afresh on the CA Secret; until the phase settled):");
  console.log(
    table(
      records.map((r) => [
        r.phase,
        mb(r.hwmKb),
        `${r.cpuSeconds.toFixed(1)} s`,
        String(r.reconciles),
        (r.reconciles / count).toFixed(2),
      ]),
      ["phase", "peak RSS (VmHWM)", "CPU", "reconciles", "per identity"],
    ),
  );
}

try {
  const loadAtStart = load();
  console.error(`starting the control plane (load ${loadAtStart})`);
  const cp = await startControlPlane({ auditPolicy: AUDIT_POLICY });
  stops.push(() => cp.stop());
  const kc = new k8s.KubeConfig();
  kc.loadFromFile(cp.kubeconfigPath);
  reuseConnections(kc);
  await installCrds(kc);
  const core = kc.makeApiClient(k8s.CoreV1Api);
  const objects = kc.makeApiClient(k8s.CustomObjectsApi);
  for (const name of [NAMESPACE, OPERATOR_NAMESPACE])
    await core.createNamespace({ body: { metadata: { name } } });

  const records: PhaseRecord[] = [];
  let operator = await startOperator(cp.kubeconfigPath);
  const ca0 = await core.readNamespacedSecret({ namespace: OPERATOR_NAMESPACE, name: CA_SECRET });
  const rootA = unb64(ca0.data?.["tls.crt"]);
  const observer = await observeSecrets(kc, NAMESPACE, IDENTITY_SELECTOR);
  stops.push(() => observer.stop());
  observer.addRoot("A", rootA);

  /** Runs one phase: `act` (an edit, then a new operator), then waits for `done` and settles. */
  const runPhase = async (
    phase: Phase,
    act: () => Promise<{ editedAt: number; own: Map<string, number> }>,
    done: (s: SecretState) => boolean,
    what: string,
    timeoutMs: number,
  ) => {
    console.error(`${phase} (load ${load()})`);
    observer.setPhase(phase);
    const before = writeCounts(await apiserverMetrics(kc));
    const editedWallMs = Date.now();
    const { editedAt, own } = await act();
    const doneAt = await waitForSecrets(observer, what, done, timeoutMs);
    await settle(operator.op);
    const settledWallMs = Date.now();
    const writes = difference(writeCounts(await apiserverMetrics(kc)), before);
    for (const [key, n] of own) writes.set(key, (writes.get(key) ?? 0) - n);
    const pid = childRunning(operator.op.process.pid, "main.ts");
    const last = observer.events.filter((e) => e.phase === phase).at(-1);
    records.push({
      phase,
      editedAt,
      startedAt: performance.now() - (Date.now() - operator.wallMs),
      startedWallMs: operator.wallMs,
      doneAt: last ? Math.min(doneAt, last.at) : doneAt,
      editedWallMs,
      settledWallMs,
      writes,
      own: [...own].map(([k, n]) => `${k} ${n}`).join(", ") || "-",
      hwmKb: procStatusKb(pid, "VmHWM"),
      cpuSeconds: cpuSeconds(pid),
      reconciles: await reconciles(operator.op, "machineidentity"),
    });
  };
  /** Stops the operator, edits the CA Secret, starts a new operator on it. */
  const restartOn = (edit: Parameters<typeof editCaSecret>[1]) => async () => {
    await operator.op.process.stop(15_000);
    const editedAt = performance.now();
    await editCaSecret(core, edit);
    operator = await startOperator(cp.kubeconfigPath);
    return { editedAt, own: new Map([["secrets PUT 200", 1]]) };
  };

  await runPhase(
    "issue",
    async () => {
      console.error(`  creating ${count} MachineIdentities with concurrency ${concurrency}`);
      const editedAt = performance.now();
      const throttled = await createAll(objects);
      const own = new Map([["machineidentities POST 201", count]]);
      if (throttled > 0) own.set("machineidentities POST 429", throttled);
      return { editedAt, own };
    },
    (x) => x.issuer === "A" && x.bundle === "A",
    "Secrets issued by root A",
    900_000,
  );
  for (;;) {
    const ready = await readyCount(objects);
    if (ready === count) break;
    console.error(`  ${ready}/${count} Ready`);
    await sleep(2_000);
  }

  const next = await createRootCa({
    commonName: `Signet root CA ${TRUST_DOMAIN}`,
    trustDomain: TRUST_DOMAIN,
    constrainToTrustDomain: true,
    validity: 365 * 86_400_000,
    now: new Date(),
  });
  observer.addRoot("B", next.certPem);
  await runPhase(
    "prepare",
    restartOn((data, annotations) => {
      data["next.crt"] = next.certPem;
      data["next.key"] = next.keyPem;
      data["ca.crt"] = trustBundle([rootA, next.certPem]);
      annotations["signet.dev/next-prepared-at"] = new Date().toISOString();
    }),
    (x) => x.issuer === "A" && x.bundle === "A+B",
    "ca.crt with both roots",
    300_000,
  );
  await runPhase(
    "switch",
    restartOn((data, annotations) => {
      data["previous.crt"] = rootA;
      data["tls.crt"] = next.certPem;
      data["tls.key"] = next.keyPem;
      delete data["next.crt"];
      delete data["next.key"];
      annotations["signet.dev/current-since"] = new Date().toISOString();
      delete annotations["signet.dev/next-prepared-at"];
    }),
    (x) => x.issuer === "B" && x.bundle === "A+B",
    "leaves issued by root B",
    spreadMs + (2_000 * count) / rate + 300_000,
  );
  await runPhase(
    "drop",
    restartOn((data) => {
      delete data["previous.crt"];
      data["ca.crt"] = trustBundle([next.certPem]);
    }),
    (x) => x.issuer === "B" && x.bundle === "B",
    "ca.crt with root B only",
    300_000,
  );
  const readyAtEnd = await readyCount(objects);

  const node = execFileSync(process.execPath, ["--version"], { encoding: "utf8" }).trim();
  report(records, observer.events, cp.auditLogPath, [
    `machine: ${cpus().length} cores, ${cpuModel()}, Node ${node}`,
    `operator: controller, --issuer-spread=${values.spread} --rekeys-per-second=${rate}, NODE_OPTIONS ${JSON.stringify(values["node-options"])}`,
    `date: ${new Date().toISOString()}; load average at start ${loadAtStart}, at end ${load()}`,
    `Ready at the end: ${readyAtEnd}/${count}`,
  ]);
} catch (err) {
  console.error(err);
  process.exitCode = 1;
} finally {
  await stopAll();
}
