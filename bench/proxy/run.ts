import { type ChildProcess, fork } from "node:child_process";
import { createPrivateKey, randomBytes, X509Certificate } from "node:crypto";
import { once } from "node:events";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { createServer } from "node:http";
import { type AddressInfo, connect as connectTcp, type Socket } from "node:net";
import { cpus, tmpdir } from "node:os";
import { join } from "node:path";
import { monitorEventLoopDelay } from "node:perf_hooks";
import * as tls from "node:tls";
import { parseArgs } from "node:util";
import { mintSvid } from "../../operator/src/pki/mint.ts";
import type { AccessPolicyInput } from "../../operator/src/policy/networkpolicies.ts";
import { channelBindingOf, signProof } from "../../operator/src/proof/index.ts";
import { rootCa } from "../../testing/pki.ts";
import { cpuModel, load, sleep, table } from "../measure.ts";
import type { ProxyMessage, ProxyTask, ProxyUsage } from "./proxy-process.ts";

/**
 * The latency signet proxy adds to a request. A client holding an SVID signs a fresh proof per
 * request and sends it on one of a few persistent mutual TLS 1.3 connections to the proxy, which
 * verifies it, checks the AccessPolicies (in memory) and forwards to an upstream on loopback. The
 * baseline is the same client, signing the same way, calling the upstream directly over loopback
 * HTTP. Requests start on a fixed schedule (open-loop): a request that finds its connection busy
 * waits for it, and that wait is part of its latency, which runs from just before signing to the
 * complete response. The proxy runs in a forked process (bench/proxy/proxy-process.ts) so that its
 * CPU time and peak RSS are its own.
 *
 *   npm run bench:proxy -- --rate 1000 --seconds 30 --warmup 5 --connections 4
 */

const { values } = parseArgs({
  options: {
    rate: { type: "string", default: "1000" },
    seconds: { type: "string", default: "30" },
    warmup: { type: "string", default: "5" },
    connections: { type: "string", default: "4" },
  },
});
const RATE = Number(values.rate);
const SECONDS = Number(values.seconds);
const WARMUP = Number(values.warmup);
const CONNECTIONS = Number(values.connections);

const SERVER_ID = "spiffe://cluster.local/ns/shop/id/payments-api";
const CLIENT_ID = "spiffe://cluster.local/ns/shop/id/checkout";
const ADDRESSED = "payments.shop.svc:8443";
const REQUEST_URL = `https://${ADDRESSED}/v1/charges`;
const POLICIES: AccessPolicyInput[] = [
  {
    metadata: { name: "checkout-to-payments", namespace: "shop" },
    spec: {
      target: { identity: "payments-api" },
      allowFrom: [{ identity: "checkout", http: { methods: ["POST"], paths: ["/v1/charges"] } }],
    },
  },
];

// --- Certificates: the test root of testing/pki.ts, SVIDs minted on the wall clock ---------
const { ca, certPem: bundle } = await rootCa();
const mint = (spiffeId: string) =>
  mintSvid({
    ca,
    spiffeId,
    ttlMs: 3_600_000,
    keyAlgorithm: { algorithm: "ECDSA", size: 256 },
    now: new Date(),
  });
const [serverSvid, clientSvid] = await Promise.all([mint(SERVER_ID), mint(CLIENT_ID)]);
const clientKey = createPrivateKey(clientSvid.keyPem);
const clientCertificate = new X509Certificate(clientSvid.certPem);
const dir = mkdtempSync(join(tmpdir(), "signet-bench-proxy-"));
const identity = {
  certFile: join(dir, "tls.crt"),
  keyFile: join(dir, "tls.key"),
  caFile: join(dir, "ca.crt"),
};
writeFileSync(identity.certFile, serverSvid.chainPem);
writeFileSync(identity.keyFile, serverSvid.keyPem);
writeFileSync(identity.caFile, bundle);

// --- The upstream: the workload, in this process, the same for both measurements ----------
const RESPONSE_BODY = JSON.stringify({ id: "ch_1", status: "succeeded" });
const upstream = createServer((req, res) => {
  req.resume();
  req.on("end", () =>
    res
      .writeHead(200, {
        "content-type": "application/json",
        "content-length": Buffer.byteLength(RESPONSE_BODY),
      })
      .end(RESPONSE_BODY),
  );
});
upstream.keepAliveTimeout = 60_000;
upstream.listen(0, "127.0.0.1");
await once(upstream, "listening");
const upstreamPort = (upstream.address() as AddressInfo).port;

// --- The client ----------------------------------------------------------------------------

/** One persistent HTTP/1.1 connection: one request at a time, the next queued until it is answered. */
class Connection {
  private readonly queue: { text: string; resolve: (status: number) => void; reject: (e: Error) => void }[] =
    [];
  private busy = false;
  private buffered: Buffer = Buffer.alloc(0);

  readonly socket: Socket;
  readonly channelBinding: Buffer;

  constructor(socket: Socket, channelBinding: Buffer) {
    this.socket = socket;
    this.channelBinding = channelBinding;
    socket.on("data", (chunk: Buffer) => this.onData(chunk));
    const fail = () => {
      for (const pending of this.queue.splice(0)) pending.reject(new Error("connection closed"));
    };
    socket.on("close", fail);
    socket.on("error", fail);
  }

  request(text: string): Promise<number> {
    return new Promise((resolve, reject) => {
      this.queue.push({ text, resolve, reject });
      if (!this.busy) this.next();
    });
  }

  private next(): void {
    const head = this.queue[0];
    if (!head) return;
    this.busy = true;
    this.socket.write(head.text);
  }

  private onData(chunk: Buffer): void {
    this.buffered = this.buffered.length === 0 ? chunk : Buffer.concat([this.buffered, chunk]);
    for (;;) {
      const end = this.buffered.indexOf("\r\n\r\n");
      if (end === -1) return;
      const head = this.buffered.subarray(0, end).toString("latin1");
      const length = Number(/\r\ncontent-length:\s*(\d+)/i.exec(head)?.[1] ?? 0);
      if (this.buffered.length < end + 4 + length) return;
      this.buffered = this.buffered.subarray(end + 4 + length);
      const status = Number(head.slice(9, 12));
      this.busy = false;
      this.queue.shift()?.resolve(status);
      this.next();
    }
  }
}

async function connectProxy(port: number): Promise<Connection> {
  const socket = tls.connect({
    host: "127.0.0.1",
    port,
    cert: clientSvid.chainPem,
    key: clientSvid.keyPem,
    ca: bundle,
    minVersion: "TLSv1.3",
    // SPIFFE authorises the server by its URI SAN, not by host name.
    checkServerIdentity: (_host, cert) =>
      cert.subjectaltname === `URI:${SERVER_ID}`
        ? undefined
        : new Error(`unexpected server ${cert.subjectaltname}`),
  });
  await once(socket, "secureConnect");
  socket.setNoDelay(true);
  return new Connection(socket, channelBindingOf(socket));
}

async function connectUpstream(): Promise<Connection> {
  const socket = connectTcp({ host: "127.0.0.1", port: upstreamPort });
  await once(socket, "connect");
  socket.setNoDelay(true);
  // Plain HTTP has no exporter; the baseline signs over random bytes, which costs the same.
  return new Connection(socket, randomBytes(32));
}

interface Phase {
  /** ms from just before signing to the complete response, of the measured requests. */
  latencies: number[];
  statuses: Map<string, number>;
  measuredSeconds: number;
  /** ms the scheduler started a request after it was due (timer granularity, a busy loop). */
  maxLateMs: number;
  loadAfter: string;
}

/** RATE requests a second over `connections`, round-robin, for WARMUP + SECONDS seconds. */
async function runPhase(connections: Connection[], onMeasureStart: () => void): Promise<Phase> {
  const latencies: number[] = [];
  const statuses = new Map<string, number>();
  const count = (key: string) => statuses.set(key, (statuses.get(key) ?? 0) + 1);
  const total = Math.round(RATE * (WARMUP + SECONDS));
  const firstMeasured = Math.round(RATE * WARMUP);
  const inFlight = new Set<Promise<void>>();
  let maxLateMs = 0;
  let measureStart = 0;
  let measureEnd = 0;
  const start = performance.now();

  const one = async (i: number, connection: Connection) => {
    const begin = performance.now();
    const proof = await signProof({
      key: clientKey,
      certificate: clientCertificate,
      method: "POST",
      url: REQUEST_URL,
      audience: SERVER_ID,
      channelBinding: connection.channelBinding,
    });
    const text =
      `POST /v1/charges HTTP/1.1\r\nHost: ${ADDRESSED}\r\nContent-Type: application/json\r\n` +
      `Content-Length: 2\r\nSignet-Proof: ${proof}\r\n\r\n{}`;
    let key: string;
    try {
      key = String(await connection.request(text));
    } catch (err) {
      key = (err as Error).message;
    }
    if (i < firstMeasured) return;
    latencies.push(performance.now() - begin);
    count(key);
    measureEnd = Math.max(measureEnd, performance.now());
  };

  let next = 0;
  while (next < total) {
    const now = performance.now();
    const due = Math.min(total, Math.floor(((now - start) * RATE) / 1000) + 1);
    for (; next < due; next++) {
      if (next === firstMeasured) {
        measureStart = performance.now();
        onMeasureStart();
      }
      maxLateMs = Math.max(maxLateMs, now - (start + (next * 1000) / RATE));
      const p = one(next, connections[next % connections.length] as Connection);
      inFlight.add(p);
      p.finally(() => inFlight.delete(p));
    }
    await sleep(1);
  }
  const drained = await Promise.race([
    Promise.all(inFlight).then(() => true),
    sleep(10_000).then(() => false),
  ]);
  if (!drained) count(`unanswered after 10 s (${inFlight.size})`);
  return {
    latencies,
    statuses,
    measuredSeconds: (measureEnd - measureStart) / 1000,
    maxLateMs,
    loadAfter: load(),
  };
}

// --- The proxy, forked -------------------------------------------------------------------
function usage(child: ChildProcess): Promise<ProxyUsage> {
  return new Promise((resolve) => {
    const onMessage = (message: ProxyMessage) => {
      if (!("usage" in message)) return;
      child.off("message", onMessage);
      resolve(message.usage);
    };
    child.on("message", onMessage);
    child.send("usage");
  });
}

console.log(
  `Node ${process.version}, ${cpus().length} CPUs (${cpuModel()}), load average ${load()} (before); ` +
    `${RATE} requests/s for ${SECONDS} s after ${WARMUP} s, ${CONNECTIONS} connections, ECDSA P-256 SVIDs`,
);

const child = fork(new URL("./proxy-process.ts", import.meta.url), [], {
  execPath: process.execPath,
  stdio: ["ignore", "ignore", "inherit", "ipc"],
});
const ready = new Promise<number>((resolve) => {
  const onMessage = (message: ProxyMessage) => {
    if ("ready" in message) {
      child.off("message", onMessage);
      resolve(message.ready);
    }
  };
  child.on("message", onMessage);
});
child.send({
  ...identity,
  upstream: `http://127.0.0.1:${upstreamPort}`,
  policies: POLICIES,
} satisfies ProxyTask);
const proxyPort = await ready;

const clientLoop = monitorEventLoopDelay({ resolution: 1 });
clientLoop.enable();
const direct = await runPhase(
  await Promise.all(Array.from({ length: CONNECTIONS }, connectUpstream)),
  () => {},
);
const rssBefore = (await usage(child)).rssBytes;
let cpuAtStart: Promise<number> | undefined;
const proxied = await runPhase(
  await Promise.all(Array.from({ length: CONNECTIONS }, () => connectProxy(proxyPort))),
  () => {
    cpuAtStart = usage(child).then((u) => u.cpuMicros);
    child.send("reset");
    clientLoop.reset();
  },
);
const after = await usage(child);
const proxyCpuSeconds = (after.cpuMicros - ((await cpuAtStart) ?? 0)) / 1e6;

// --- Report --------------------------------------------------------------------------------
const quantile = (sorted: number[], q: number) =>
  sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))] ?? NaN;
const ms = (n: number) => `${n.toFixed(2)} ms`;
const figures = (phase: Phase) => {
  const sorted = [...phase.latencies].sort((a, b) => a - b);
  return {
    rate: phase.latencies.length / phase.measuredSeconds,
    p50: quantile(sorted, 0.5),
    p90: quantile(sorted, 0.9),
    p99: quantile(sorted, 0.99),
    max: sorted.at(-1) ?? NaN,
  };
};
const d = figures(direct);
const p = figures(proxied);
console.log(
  `\n${table(
    [
      [
        "direct (loopback HTTP)",
        `${d.rate.toFixed(1)}/s`,
        ms(d.p50),
        ms(d.p90),
        ms(d.p99),
        ms(d.max),
        ms(direct.maxLateMs),
      ],
      [
        "through signet proxy",
        `${p.rate.toFixed(1)}/s`,
        ms(p.p50),
        ms(p.p90),
        ms(p.p99),
        ms(p.max),
        ms(proxied.maxLateMs),
      ],
      [
        "added by the proxy",
        "",
        ms(p.p50 - d.p50),
        ms(p.p90 - d.p90),
        ms(p.p99 - d.p99),
        ms(p.max - d.max),
        "",
      ],
    ],
    ["", "achieved", "p50", "p90", "p99", "max", "max start delay"],
  )}`,
);
const statusLine = (phase: Phase) =>
  [...phase.statuses].map(([status, n]) => `${status}: ${n.toLocaleString("en-US")}`).join(", ");
console.log(`\nresponses, direct: ${statusLine(direct)}; through the proxy: ${statusLine(proxied)}`);
console.log(
  `proxy: ${proxyCpuSeconds.toFixed(2)} CPU seconds over the ${proxied.measuredSeconds.toFixed(1)} s measured ` +
    `(${((proxyCpuSeconds / proxied.measuredSeconds) * 100).toFixed(0)}% of a core), ` +
    `RSS ${(rssBefore / 1_048_576).toFixed(1)} MiB before the load, peak ${(after.maxRssKiB / 1024).toFixed(1)} MiB`,
);
console.log(
  `during the proxy's measurement: event-loop delay max ${ms(after.loopMaxMs)}, p99 ${ms(after.loopP99Ms)} in the proxy, ` +
    `max ${ms(clientLoop.max / 1e6)}, p99 ${ms(clientLoop.percentile(99) / 1e6)} in the client; ` +
    `the proxy's GC pauses ${ms(after.gcMs)} in all, the longest ${ms(after.gcMaxMs)}`,
);
console.log(
  `load average at the end of the direct phase ${direct.loadAfter}, of the proxy phase ${proxied.loadAfter}`,
);

const errors = [direct, proxied].flatMap((phase) =>
  [...phase.statuses].filter(([status]) => status !== "200"),
);
child.send("stop");
upstream.closeAllConnections();
upstream.close();
rmSync(dir, { recursive: true, force: true });
if (errors.length > 0) {
  console.error(`errors: ${errors.map(([status, n]) => `${n} × ${status}`).join(", ")}`);
  process.exitCode = 1;
}
process.exit();
