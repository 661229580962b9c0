import { execFileSync } from "node:child_process";
import { webcrypto, X509Certificate } from "node:crypto";
import { cpus } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { parseArgs } from "node:util";
import * as k8s from "@kubernetes/client-node";
import { startControlPlane } from "../../e2e/harness/controlplane.ts";
import { identity } from "../../e2e/identity/support.ts";
import { reuseConnections } from "../../e2e/support/connections.ts";
import { installCrds } from "../../e2e/support/crds.ts";
import { type OperatorProcess, startOperatorProcess } from "../../e2e/support/operator.ts";
import {
  IDENTITY_LABEL,
  type MachineIdentity,
  POD_CERTIFICATE_SIGNER,
} from "../../operator/src/api/index.ts";
import { desiredIdentity } from "../../operator/src/controllers/machineidentity/desired.ts";
import { KubeClient } from "../../operator/src/kube/client.ts";
import { createInformer } from "../../operator/src/kube/informer.ts";
import { loadConnection } from "../../operator/src/kube/kubeconfig.ts";
import {
  collectionPath,
  MACHINE_IDENTITIES,
  PODS,
  resourceClient,
  SECRETS,
  SERVICE_ACCOUNTS,
} from "../../operator/src/kube/resources.ts";
import { loadCa } from "../../operator/src/pki/ca.ts";
import { mintSvidForKey } from "../../operator/src/pki/mint.ts";
import * as x509 from "../../operator/src/pki/x509.ts";
import { parseConfig } from "../../operator/src/runtime/config.ts";
import {
  decidePodCertificate,
  type PodFacts,
  type SignerDecision,
  type SignerInput,
} from "../../operator/src/signer/decide.ts";
import { type RequestKey, requestKey } from "../../operator/src/signer/public-key.ts";
import {
  isAnswered,
  POD_CERTIFICATE_REQUESTS,
  type PodCertificateRequest,
  TERMINAL,
} from "../../operator/src/signer/request.ts";
import { build } from "../../scripts/build.ts";
import {
  apiserverMetrics,
  childRunning,
  cpuModel,
  cpuSeconds,
  difference,
  load,
  operatorMetrics,
  procStatusKb,
  requestCounts,
  retryThrottled,
  settle,
  sleep,
  table,
} from "../measure.ts";

const repoRoot = fileURLToPath(new URL("../../", import.meta.url));

/**
 * PodCertificateRequests signed per second by one operator, on a real control plane: N pods of
 * one MachineIdentity (delivery PodCertificate) are stored on a node that runs nothing, and this
 * process makes their requests as the kubelet does (a P-256 key and a stub PKCS#10 request each,
 * prepared before the clock starts), then follows them through a watch until every one is answered.
 * The signing work alone, on the same CA and requests without the API, is measured after it.
 * Figures are reported, not asserted; the exit code is non-zero only on errors.
 *
 *   npm run bench:podcert -- --count 1000 --concurrency 32
 */

const { values } = parseArgs({
  options: {
    count: { type: "string", default: "1000" },
    concurrency: { type: "string", default: "32" },
    /** Passed to the operator as --workers; its own default when absent. */
    workers: { type: "string" },
    /** Seconds to wait for every answer before reporting what was reached. */
    timeout: { type: "string", default: "600" },
    /** Run the operator from its TypeScript sources instead of the JavaScript the image ships. */
    "from-source": { type: "boolean", default: false },
  },
});
const count = Number(values.count);
const concurrency = Number(values.concurrency);
const timeoutMs = Number(values.timeout) * 1000;
if (!Number.isInteger(count) || count < 1)
  throw new Error(`--count must be a positive integer, got ${values.count}`);
if (!Number.isInteger(concurrency) || concurrency < 1)
  throw new Error(`--concurrency must be a positive integer, got ${values.concurrency}`);

const NAMESPACE = "signet-bench";
const IDENTITY = "bench";
const SERVICE_ACCOUNT = "bench";
const NODE_NAME = "bench-node-that-runs-nothing";
const NODE_UID = "7f6b9a34-5b8e-4d0e-9d43-1f1c1e9b0c01";
const TRUST_DOMAIN = "cluster.local";
const WRITE_VERBS = new Set(["POST", "PUT", "PATCH", "APPLY", "DELETE"]);
/** What the operator may write while it signs; any other write is the API server's own and listed apart. */
const OPERATOR_RESOURCES = new Set([
  "podcertificaterequests",
  "machineidentities",
  "events",
  "secrets",
  "clustertrustbundles",
  "pods",
]);
/** Timed passes over the requests for each step of the signing work in this process. */
const PASSES = 5;
const ALGORITHM = { name: "ECDSA", namedCurve: "P-256", hash: "SHA-256" } as const;

/** apiserver_request_total by "resource[/subresource] VERB code", for writes and for reads of pods. */
function podcertRequestCounts(metricsText: string): Map<string, number> {
  return requestCounts(
    metricsText,
    ({ verb, resource }) => WRITE_VERBS.has(verb) || (verb === "GET" && resource === "pods"),
  );
}

/** Sum of a counter family in Prometheus text by the value of one label, over lines containing `filter`. */
function counterByLabel(metricsText: string, name: string, label: string, filter = ""): Map<string, number> {
  const out = new Map<string, number>();
  for (const line of metricsText.split("\n")) {
    if (!line.startsWith(`${name}{`) || !line.includes(filter)) continue;
    const value = new RegExp(`${label}="([^"]*)"`).exec(line)?.[1] ?? "";
    out.set(value, (out.get(value) ?? 0) + Number(line.slice(line.lastIndexOf("}") + 1).trim()));
  }
  return out;
}

function percentile(sorted: readonly number[], p: number): number {
  if (sorted.length === 0) return Number.NaN;
  return sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)] as number;
}

const ms = (n: number) => `${n.toFixed(0)} ms`;
const mb = (kb: number) => `${(kb / 1024).toFixed(1)} MB`;
const podName = (i: number) => `pod-${String(i).padStart(5, "0")}`;
const requestName = (i: number) => `pcr-${String(i).padStart(5, "0")}`;

/** What the kubelet holds for one pod's podCertificate volume before it asks. */
interface Prepared {
  podUid: string;
  spki: Buffer;
  stubPKCS10Request: string;
}

/** A fresh P-256 key and an empty PKCS#10 request signed with it, as the kubelet makes (base64 DER). */
async function keyAndStubCsr(): Promise<{ spki: Buffer; csr: string }> {
  const keys = await webcrypto.subtle.generateKey(ALGORITHM, true, ["sign", "verify"]);
  const csr = await x509.Pkcs10CertificateRequestGenerator.create({ keys, signingAlgorithm: ALGORITHM });
  const spki = Buffer.from(await webcrypto.subtle.exportKey("spki", keys.publicKey));
  return { spki, csr: Buffer.from(csr.rawData).toString("base64") };
}

/** Runs `task(i)` for i in [0, n) with `width` in flight; returns the 429 retries it took. */
async function inParallel(n: number, width: number, task: (i: number) => Promise<number>): Promise<number> {
  let next = 0;
  let retries = 0;
  const worker = async () => {
    for (let i = next++; i < n; i = next++) retries += await task(i);
  };
  await Promise.all(Array.from({ length: width }, worker));
  return retries;
}

function requestFor(i: number, prepared: Prepared, serviceAccountUid: string): PodCertificateRequest {
  return {
    metadata: { name: requestName(i), namespace: NAMESPACE },
    spec: {
      signerName: POD_CERTIFICATE_SIGNER,
      podName: podName(i),
      podUID: prepared.podUid,
      serviceAccountName: SERVICE_ACCOUNT,
      serviceAccountUID: serviceAccountUid,
      nodeName: NODE_NAME,
      nodeUID: NODE_UID,
      stubPKCS10Request: prepared.stubPKCS10Request,
    },
  };
}

interface Answers {
  /** Request name -> performance.now() when its create was sent. */
  sentAt: Map<string, number>;
  /** Request name -> performance.now() when the watch first showed it answered. */
  answeredAt: Map<string, number>;
  /** Request name -> the answered request as the watch showed it. */
  answered: Map<string, PodCertificateRequest>;
  /** Answers that came before this process had sent the create: a clock mix-up, reported. */
  early: number;
}

/** Follows the namespace's PodCertificateRequests; a request is answered at its first terminal condition. */
async function watchAnswers(kube: KubeClient, answers: Answers): Promise<() => void> {
  const requests = resourceClient(kube, POD_CERTIFICATE_REQUESTS);
  const informer = createInformer<PodCertificateRequest>(kube, {
    path: collectionPath(POD_CERTIFICATE_REQUESTS, NAMESPACE),
    list: () => requests.list(NAMESPACE),
  });
  const onRequest = (pcr: PodCertificateRequest) => {
    const name = pcr.metadata?.name ?? "";
    if (answers.answeredAt.has(name)) return;
    if (!isAnswered(pcr)) return;
    if (!answers.sentAt.has(name)) answers.early++;
    answers.answeredAt.set(name, performance.now());
    answers.answered.set(name, pcr);
  };
  informer.on("add", onRequest);
  informer.on("update", onRequest);
  await informer.start();
  return () => informer.stop();
}

/** The answer's condition type and reason, e.g. "Issued Issued" or "Denied PodMismatch". */
function outcomeOf(pcr: PodCertificateRequest): string {
  const c = (pcr.status?.conditions ?? []).find((c) => (TERMINAL as readonly string[]).includes(c.type));
  return c ? `${c.type} ${c.reason}` : "unanswered";
}

/**
 * The signer's own work for `requests`, in this process and without the API: what
 * PodCertificateSigner.reconcile computes for each (the key read once from the stub request, the
 * decision and the certificate signed), on the operator's own CA as loaded
 * from its Secret. Then each step alone, over the same requests.
 */
function signingWork(
  requests: PodCertificateRequest[],
  pods: Map<string, PodFacts>,
  mi: MachineIdentity,
  caSecret: k8s.V1Secret,
): [string, string, string][] {
  const data = caSecret.data ?? {};
  const pem = (key: string) => Buffer.from(data[key] ?? "", "base64").toString("utf8");
  const ca = loadCa(pem("tls.crt"), pem("tls.key"));
  const config = parseConfig([`--trust-domain=${TRUST_DOMAIN}`], {});
  const policy = { trustDomain: config.trustDomain, minTtlMs: config.minTtlMs, maxTtlMs: config.maxTtlMs };
  const inputOf = (request: PodCertificateRequest, key: RequestKey): SignerInput => ({
    request,
    key,
    pod: pods.get(request.spec.podName),
    identity: mi,
    schedule: undefined,
    issuanceRefusal: undefined,
    policy,
    ca,
    now: new Date(),
  });
  const mint = (decision: SignerDecision, key: RequestKey, name: string) => {
    if (decision.kind !== "Issue") throw new Error(`${name}: ${decision.kind} ${decision.reason}`);
    if (!key.ok) throw new Error(`${name}: ${key.message}`);
    return mintSvidForKey({
      ca,
      spiffeId: decision.spiffeId,
      dnsNames: decision.dnsNames,
      keyAlgorithm: key.algorithm,
      publicKeySpki: key.spki,
      notBefore: decision.notBefore,
      notAfter: decision.notAfter,
    });
  };
  const reconcileWork = (request: PodCertificateRequest) => {
    const key = requestKey(request.spec);
    return mint(decidePodCertificate(inputOf(request, key)), key, request.metadata?.name ?? "");
  };
  const keys = new Map(requests.map((r) => [r, requestKey(r.spec)]));
  const keyOf = (r: PodCertificateRequest) => keys.get(r) as RequestKey;
  const decisions = new Map(requests.map((r) => [r, decidePodCertificate(inputOf(r, keyOf(r)))]));
  // One pass over the requests warms up; of the next PASSES, the median, so that a pause of the
  // shared machine in one pass does not make the figure.
  const time = (step: (r: PodCertificateRequest) => unknown): number => {
    for (const r of requests) step(r);
    const passes: number[] = [];
    for (let pass = 0; pass < PASSES; pass++) {
      const start = process.hrtime.bigint();
      for (const r of requests) step(r);
      passes.push(Number(process.hrtime.bigint() - start) / 1e9);
    }
    return percentile(
      passes.sort((a, b) => a - b),
      50,
    );
  };
  const row = (what: string, seconds: number): [string, string, string] => [
    what,
    `${(requests.length / seconds).toFixed(0)}/s`,
    `${((seconds / requests.length) * 1e6).toFixed(0)} µs each`,
  ];
  return [
    row("a reconcile's signing work (key read, decision, certificate)", time(reconcileWork)),
    row(
      "  key read from the stub PKCS#10 request (requestKey)",
      time((r) => requestKey(r.spec)),
    ),
    row(
      "  decision, key read beforehand (decidePodCertificate)",
      time((r) => decidePodCertificate(inputOf(r, keyOf(r)))),
    ),
    row(
      "    of which the identity's spec checked (desiredIdentity)",
      time(() => desiredIdentity(mi, policy)),
    ),
    row(
      "  certificate, decided beforehand (mintSvidForKey: template, serial, P-256 signature, PEM)",
      time((r) => mint(decisions.get(r) as SignerDecision, keyOf(r), r.metadata?.name ?? "")),
    ),
  ];
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

try {
  const loadAtStart = load();
  console.error(`starting the control plane (load ${loadAtStart})`);
  const cp = await startControlPlane();
  stops.push(() => cp.stop());
  const kc = new k8s.KubeConfig();
  kc.loadFromFile(cp.kubeconfigPath);
  reuseConnections(kc);
  await installCrds(kc);
  const kube = new KubeClient(loadConnection({ env: { KUBECONFIG: cp.kubeconfigPath } }));
  stops.push(() => kube.close());
  await kc.makeApiClient(k8s.CoreV1Api).createNamespace({ body: { metadata: { name: NAMESPACE } } });

  let entry: string | undefined;
  if (!values["from-source"]) {
    build(join(repoRoot, "dist"));
    entry = join(repoRoot, "dist/operator/src/cli/main.js");
  }
  const operator: OperatorProcess = await startOperatorProcess(
    cp.kubeconfigPath,
    [
      "--leader-elect=false",
      `--namespace=${NAMESPACE}`,
      `--watch-namespaces=${NAMESPACE}`,
      `--trust-domain=${TRUST_DOMAIN}`,
      "--pod-certificate-signer=true",
      ...(values.workers ? [`--workers=${values.workers}`] : []),
    ],
    "controller",
    { entry },
  );
  stops.push(() => operator.process.stop(15_000));
  const deadline = Date.now() + 120_000;
  while (!operator.log().includes("pod certificate signer started")) {
    if (Date.now() > deadline) throw new Error(`the signer did not start:\n${operator.log()}`);
    await sleep(200);
  }

  const serviceAccount = await resourceClient(kube, SERVICE_ACCOUNTS).create({
    metadata: { name: SERVICE_ACCOUNT, namespace: NAMESPACE },
  });
  const serviceAccountUid = serviceAccount.metadata?.uid ?? "";
  const identities = resourceClient(kube, MACHINE_IDENTITIES);
  await identities.create(
    identity(NAMESPACE, IDENTITY, {
      serviceAccounts: [SERVICE_ACCOUNT],
      delivery: "PodCertificate",
      ttl: "1h",
      privateKey: { algorithm: "ECDSA", size: 256 },
    }) as MachineIdentity,
  );
  for (;;) {
    const mi = await identities.get(NAMESPACE, IDENTITY);
    if (mi.status?.conditions?.some((c) => c.type === "Ready" && c.reason === "SignerReady")) break;
    if (Date.now() > deadline)
      throw new Error(`MachineIdentity ${IDENTITY} is not Ready: ${JSON.stringify(mi.status)}`);
    await sleep(200);
  }

  // Not timed: the pods the requests are for, and what each pod's kubelet would hold.
  const tPrep = performance.now();
  const pods = resourceClient(kube, PODS);
  const podFacts = new Map<string, PodFacts>();
  const prepared: Prepared[] = new Array(count);
  await inParallel(count, concurrency, async (i) => {
    let uid = "";
    const retries = await retryThrottled(async () => {
      const created = await pods.create({
        metadata: { name: podName(i), namespace: NAMESPACE, labels: { [IDENTITY_LABEL]: IDENTITY } },
        spec: {
          serviceAccountName: SERVICE_ACCOUNT,
          nodeName: NODE_NAME,
          containers: [{ name: "app", image: "registry.invalid/app:1" }],
        },
      });
      uid = created.metadata?.uid ?? "";
    });
    podFacts.set(podName(i), {
      uid,
      labels: { [IDENTITY_LABEL]: IDENTITY },
      serviceAccountName: SERVICE_ACCOUNT,
      nodeName: NODE_NAME,
    });
    const { spki, csr } = await keyAndStubCsr();
    prepared[i] = { podUid: uid, spki, stubPKCS10Request: csr };
    return retries;
  });
  console.error(
    `created ${count} pods and ${count} P-256 keys with stub requests in ${((performance.now() - tPrep) / 1000).toFixed(1)} s`,
  );

  const answers: Answers = { sentAt: new Map(), answeredAt: new Map(), answered: new Map(), early: 0 };
  stops.push(await watchAnswers(kube, answers));
  await settle(operator, 3, 30_000);
  const nodePid = childRunning(operator.process.pid, "cli/main.");
  const [etcdGuard, apiserverGuard] = cp.pids;
  const measured = {
    operator: nodePid,
    "kube-apiserver": childRunning(apiserverGuard ?? 0, "kube-apiserver"),
    etcd: childRunning(etcdGuard ?? 0, "etcd"),
  };
  const cpuOf = (): Record<string, number> => ({
    ...Object.fromEntries(Object.entries(measured).map(([name, pid]) => [name, cpuSeconds(pid)])),
    "benchmark (creates, watch)": (process.cpuUsage().user + process.cpuUsage().system) / 1e6,
  });
  const rssIdleKb = procStatusKb(nodePid, "VmRSS");
  const hwmIdleKb = procStatusKb(nodePid, "VmHWM");
  const before = podcertRequestCounts(await apiserverMetrics(kc));
  const cpuBefore = cpuOf();
  const loadBefore = load();

  console.error(
    `creating ${count} PodCertificateRequests with concurrency ${concurrency} (load ${loadBefore})`,
  );
  const requests = resourceClient(kube, POD_CERTIFICATE_REQUESTS);
  const createMs: number[] = [];
  const t0 = performance.now();
  const throttled = await inParallel(count, concurrency, async (i) => {
    const body = requestFor(i, prepared[i] as Prepared, serviceAccountUid);
    const sent = performance.now();
    answers.sentAt.set(requestName(i), sent);
    const retries = await retryThrottled(() => requests.create(body));
    createMs.push(performance.now() - sent);
    return retries;
  });
  const createdAt = performance.now();
  console.error(`  ${((createdAt - t0) / 1000).toFixed(1)} s: all ${count} created`);
  let lastReport = performance.now();
  let loadDuring = load();
  while (answers.answeredAt.size < count && performance.now() - t0 < timeoutMs) {
    if (performance.now() - lastReport > 5_000) {
      lastReport = performance.now();
      loadDuring = load();
      console.error(
        `  ${((lastReport - t0) / 1000).toFixed(0)} s: ${answers.answeredAt.size}/${count} answered (load ${loadDuring})`,
      );
    }
    await sleep(20);
  }
  const lastAnswerAt = Math.max(...answers.answeredAt.values());
  const wallSeconds = ((answers.answeredAt.size === count ? lastAnswerAt : performance.now()) - t0) / 1000;
  const cpuAtEnd = cpuOf();
  const loadAtEnd = load();
  const settleSeconds = await settle(operator, 3, 30_000);
  // The identity's status keeps being written for a moment after the last answer.
  const operatorCpuSettled = cpuSeconds(nodePid) - (cpuBefore.operator ?? 0);
  const after = podcertRequestCounts(await apiserverMetrics(kc));
  const operatorText = await operatorMetrics(operator);
  const hwmKb = procStatusKb(nodePid, "VmHWM");
  const rssEndKb = procStatusKb(nodePid, "VmRSS");

  // Not timed: each answer checked against the request it answers.
  const outcomes = new Map<string, number>();
  const wrongKey: string[] = [];
  for (let i = 0; i < count; i++) {
    const pcr = answers.answered.get(requestName(i));
    const outcome = pcr ? outcomeOf(pcr) : "unanswered";
    outcomes.set(outcome, (outcomes.get(outcome) ?? 0) + 1);
    if (!pcr || !outcome.startsWith("Issued")) continue;
    const leafPem = /-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----/.exec(
      pcr.status?.certificateChain ?? "",
    )?.[0];
    const leaf = leafPem ? new X509Certificate(leafPem) : undefined;
    if (!leaf?.publicKey.export({ format: "der", type: "spki" }).equals((prepared[i] as Prepared).spki))
      wrongKey.push(requestName(i));
  }
  const issuedAll = outcomes.get("Issued Issued") === count && wrongKey.length === 0;
  const latencies = [...answers.answeredAt]
    .map(([name, at]) => at - (answers.sentAt.get(name) ?? Number.NaN))
    .filter(Number.isFinite)
    .sort((a, b) => a - b);
  createMs.sort((a, b) => a - b);

  const writes = difference(after, before);
  const ownKey = "podcertificaterequests POST 201";
  writes.set(ownKey, (writes.get(ownKey) ?? 0) - count);
  const ownThrottled = "podcertificaterequests POST 429";
  writes.set(ownThrottled, (writes.get(ownThrottled) ?? 0) - throttled);
  const resourceOf = (key: string) => key.split(/[/ ]/)[0] ?? "";
  const isWrite = (key: string) => WRITE_VERBS.has(key.split(" ")[1] ?? "");
  const operatorWrites = [...writes]
    .filter(([key, n]) => n > 0 && isWrite(key) && OPERATOR_RESOURCES.has(resourceOf(key)))
    .sort();
  const otherWrites = [...writes].filter(
    ([key, n]) => n > 0 && isWrite(key) && !OPERATOR_RESOURCES.has(resourceOf(key)),
  );
  const podReads = [...writes].filter(([key, n]) => n > 0 && key.startsWith("pods GET")).sort();
  const writeTotal = operatorWrites.reduce((a, [, n]) => a + n, 0);
  const signerAnswers = counterByLabel(operatorText, "signet_pod_certificate_requests_total", "outcome");
  const reconcilesOf = (controller: string) =>
    [...counterByLabel(operatorText, "signet_reconcile_total", "result", `controller="${controller}"`)]
      .map(([r, n]) => `${r} ${n}`)
      .join(", ");
  const operatorCpu = (cpuAtEnd.operator ?? 0) - (cpuBefore.operator ?? 0);

  const node = execFileSync(process.execPath, ["--version"], { encoding: "utf8" }).trim();
  console.log(
    `\nSignet pod certificate signer: ${count} PodCertificateRequests (ECDSA P-256, stub PKCS#10) for one MachineIdentity (delivery PodCertificate, ttl 1h), one namespace`,
  );
  console.log(`machine: ${cpus().length} cores, ${cpuModel()}, Node ${node}`);
  console.log(
    `operator: controller, ${values["from-source"] ? "from the TypeScript sources" : "built JavaScript (as the image runs it)"}, ${values.workers ?? "default"} workers; ${concurrency} creates in flight`,
  );
  console.log(
    `date: ${new Date().toISOString()}; load average at start ${loadAtStart}, before the creates ${loadBefore}, during ${loadDuring}, at the last answer ${loadAtEnd}\n`,
  );
  console.log(
    table([
      [
        "creates accepted",
        `${((createdAt - t0) / 1000).toFixed(2)} s`,
        `${(count / ((createdAt - t0) / 1000)).toFixed(0)}/s, ${throttled} throttled (429) and retried; create p50 ${ms(percentile(createMs, 50))}, p99 ${ms(percentile(createMs, 99))}`,
      ],
      [
        answers.answeredAt.size === count ? "all answered" : "NOT all answered",
        `${wallSeconds.toFixed(2)} s`,
        `${answers.answeredAt.size}/${count}, from the first create to the last answer`,
      ],
      ["answered per second", `${(answers.answeredAt.size / wallSeconds).toFixed(0)}/s`, ""],
      [
        "create -> answer (watch)",
        `p50 ${ms(percentile(latencies, 50))}`,
        `p99 ${ms(percentile(latencies, 99))}, max ${ms(latencies.at(-1) ?? Number.NaN)}`,
      ],
      [
        "answers",
        issuedAll ? "all Issued" : "NOT all Issued",
        `${[...outcomes].map(([o, n]) => `${o} ${n}`).join(", ")}${wrongKey.length ? `; ${wrongKey.length} issued to another key (${wrongKey.slice(0, 3).join(", ")})` : "; every leaf for the request's key"}${answers.early ? `; ${answers.early} seen before their create was sent` : ""}`,
      ],
      [
        "operator API writes per request",
        (writeTotal / count).toFixed(2),
        `${writeTotal} writes (settled ${settleSeconds.toFixed(0)} s after)`,
      ],
      [
        "operator CPU",
        `${operatorCpu.toFixed(2)} s`,
        `${((operatorCpu / count) * 1e6).toFixed(0)} µs per request, ${((100 * operatorCpu) / wallSeconds).toFixed(0)}% of one core; ${operatorCpuSettled.toFixed(2)} s until settled`,
      ],
      [
        "operator peak RSS (VmHWM)",
        mb(hwmKb),
        `before the creates ${mb(hwmIdleKb)} (RSS ${mb(rssIdleKb)}), RSS at end ${mb(rssEndKb)}`,
      ],
      [
        "signer answers (its metric)",
        String([...signerAnswers.values()].reduce((a, b) => a + b, 0)),
        [...signerAnswers].map(([o, n]) => `${o} ${n}`).join(", "),
      ],
      ["signer reconciles", "", reconcilesOf("podcertificaterequest")],
      ["MachineIdentity reconciles", "", reconcilesOf("machineidentity") || "none"],
    ]),
  );
  console.log(
    `\nCPU seconds from the first create to the last answer (${wallSeconds.toFixed(1)} s on ${cpus().length} cores):`,
  );
  console.log(
    table(
      Object.entries(cpuAtEnd).map(([name, seconds]) => {
        const used = seconds - (cpuBefore[name] ?? 0);
        return [name, `${used.toFixed(1)} s`, `${((100 * used) / wallSeconds).toFixed(0)}% of one core`];
      }),
    ),
  );
  console.log(
    `\nAPI requests of the operator (apiserver_request_total, minus this run's ${count + throttled} creates):`,
  );
  console.log(
    table(
      [...operatorWrites, ...podReads].map(([key, n]) => [
        key,
        String(n),
        `${(n / count).toFixed(2)} per request`,
      ]),
    ),
  );
  if (otherWrites.length > 0)
    console.log(
      `  not counted (the API server's own): ${otherWrites.map(([k, n]) => `${k} ${n}`).join(", ")}`,
    );

  const caSecret = await resourceClient(kube, SECRETS).get(NAMESPACE, "signet-ca");
  const mi = await identities.get(NAMESPACE, IDENTITY);
  const stored = [...answers.answered.values()].map((r) => ({ ...r, status: {} }));
  // The cluster is stopped first: the signing work has the machine to itself, as far as this run goes.
  await stopAll();
  console.log(
    `\nThe signing work alone, in this process (no API, control plane and operator stopped), over the same ${stored.length} requests on the operator's CA, one thread, median of ${PASSES} passes (load ${load()}):`,
  );
  console.log(table(signingWork(stored, podFacts, mi, caSecret)));
  if (!issuedAll || answers.answeredAt.size < count) process.exitCode = 1;
} catch (err) {
  console.error(err);
  process.exitCode = 1;
} finally {
  await stopAll();
}
