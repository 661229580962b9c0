// Signet proofs: how many a verifier checks per second on one core (ECDSA P-256), and how much
// heap its replay cache takes in steady state. `npm run bench:proof` runs it pinned to one CPU
// (taskset -c 0) with --expose-gc; options: --count N (proofs per throughput figure, default
// 20,000), --rates 10000,100000 (proofs per minute for the memory figures), --seconds 90
// (simulated time per rate). Figures are reported, not asserted.
import { createPrivateKey, randomBytes, X509Certificate } from "node:crypto";
import { readFileSync } from "node:fs";
import { cpus } from "node:os";
import { parseArgs } from "node:util";
import { compactVerify } from "jose";
import { createRootCa } from "../../operator/src/pki/ca.ts";
import { mintSvid } from "../../operator/src/pki/mint.ts";
import { createVerifier, signProof } from "../../operator/src/proof/index.ts";
import { ReplayCache, replayKeyOf } from "../../operator/src/proof/replay-cache.ts";
import { parseProof } from "../../operator/src/proof/verify.ts";
import { cpuModel, load, table } from "../measure.ts";

const { values: args } = parseArgs({
  options: {
    count: { type: "string", default: "20000" },
    rates: { type: "string", default: "10000,100000" },
    seconds: { type: "string", default: "90" },
  },
});
const COUNT = Number(args.count);
const RATES = args.rates.split(",").map(Number);
const SIMULATED_SECONDS = Number(args.seconds);

const gc = (globalThis as { gc?: () => void }).gc;
if (!gc) throw new Error("run with --expose-gc (npm run bench:proof does)");

const SERVER_ID = "spiffe://cluster.local/ns/shop/id/payments-api";
const REQUEST_URL = "https://payments.shop.svc:8443/v1/charges";
const CB = randomBytes(32);

const { ca } = await createRootCa({
  commonName: "Signet Bench Root",
  trustDomain: "cluster.local",
  validity: 86_400_000,
  now: new Date(),
});
const svid = await mintSvid({
  ca,
  spiffeId: "spiffe://cluster.local/ns/shop/id/checkout",
  ttlMs: 3_600_000,
  keyAlgorithm: { algorithm: "ECDSA", size: 256 },
  now: new Date(),
});
const key = createPrivateKey(svid.keyPem);
const certificate = new X509Certificate(svid.certPem);

const sign = (now?: Date) =>
  signProof({
    key,
    certificate,
    method: "POST",
    url: REQUEST_URL,
    audience: SERVER_ID,
    channelBinding: CB,
    lifetimeSeconds: 60,
    now,
  });
const request = (proof: string) => ({
  proof,
  method: "POST",
  url: REQUEST_URL,
  peerCertificate: certificate,
  channelBinding: CB,
});

const cpuMicros = () => {
  const { user, system } = process.cpuUsage();
  return user + system;
};

interface Rate {
  perSecond: number;
  cpuMicrosPer: number;
}

/** `count` calls of `fn` after `count / 10` unmeasured ones; `inFlight` at a time. */
async function rate(
  count: number,
  inFlight: number,
  fn: (i: number) => Promise<unknown> | unknown,
): Promise<Rate> {
  const run = async (n: number, offset: number) => {
    for (let i = 0; i < n; i += inFlight) {
      const batch: (Promise<unknown> | unknown)[] = [];
      for (let j = i; j < Math.min(n, i + inFlight); j++) batch.push(fn(offset + j));
      await Promise.all(batch);
    }
  };
  const warmup = Math.ceil(count / 10);
  await run(warmup, 0);
  const cpu = cpuMicros();
  const start = performance.now();
  await run(count, warmup);
  const seconds = (performance.now() - start) / 1000;
  return { perSecond: count / seconds, cpuMicrosPer: (cpuMicros() - cpu) / count };
}

const format = (n: number, digits = 0) =>
  n.toLocaleString("en-US", { maximumFractionDigits: digits, minimumFractionDigits: digits });
const mb = (bytes: number) => `${format(bytes / 1_048_576, 1)} MiB`;

function heapAfterGc(): number {
  gc?.();
  gc?.();
  return process.memoryUsage().heapUsed;
}

const allowed = /Cpus_allowed_list:\s*(\S+)/.exec(readFileSync("/proc/self/status", "utf8"))?.[1] ?? "?";
console.log(
  `Node ${process.version}, ${cpus().length} CPUs (${cpuModel()}), this process allowed on CPU ${allowed}, load average ${load()} (before)`,
);

// --- Throughput ---------------------------------------------------------------------------
const total = COUNT + Math.ceil(COUNT / 10);
const proofs: string[] = [];
const signing = await rate(COUNT, 1, async () => {
  proofs.push(await sign());
});
// Each figure below verifies fresh proofs (distinct jti), with a fresh verifier per figure.
while (proofs.length < 2 * total) proofs.push(await sign());
const sequential = createVerifier({ audience: SERVER_ID });
const verifySequential = await rate(COUNT, 1, async (i) => {
  const verdict = await sequential.verify(request(proofs[i] as string));
  if (!verdict.ok) throw new Error(`proof refused: ${verdict.reason}`);
});
const concurrent = createVerifier({ audience: SERVER_ID });
const verifyConcurrent = await rate(COUNT, 64, async (i) => {
  const verdict = await concurrent.verify(request(proofs[total + i] as string));
  if (!verdict.ok) throw new Error(`proof refused: ${verdict.reason}`);
});
// Where a verification's time goes: the parts alone, over the same proofs.
const parse = await rate(COUNT, 1, (i) => parseProof(proofs[i] as string));
const signature = await rate(COUNT, 1, (i) =>
  compactVerify(proofs[i] as string, certificate.publicKey, { algorithms: ["ES256"] }),
);
const replayed = createVerifier({ audience: SERVER_ID });
await replayed.verify(request(proofs[0] as string));
const replay = await rate(COUNT, 1, () => replayed.verify(request(proofs[0] as string)));

console.log("\nThroughput, ECDSA P-256, one verifier:");
console.log(
  table(
    [
      ["signProof, one at a time", format(signing.perSecond), format(signing.cpuMicrosPer, 1)],
      ["verify, one at a time", format(verifySequential.perSecond), format(verifySequential.cpuMicrosPer, 1)],
      ["verify, 64 in flight", format(verifyConcurrent.perSecond), format(verifyConcurrent.cpuMicrosPer, 1)],
      ["  of which: parse and syntax checks", format(parse.perSecond), format(parse.cpuMicrosPer, 1)],
      [
        "  of which: jose compactVerify (ES256)",
        format(signature.perSecond),
        format(signature.cpuMicrosPer, 1),
      ],
      [
        "verify of a replay (all checks, refused last)",
        format(replay.perSecond),
        format(replay.cpuMicrosPer, 1),
      ],
    ],
    ["", "per second (wall)", "CPU µs each"],
  ),
);
proofs.length = 0;

// --- Replay cache in steady state -----------------------------------------------------------
// A simulated clock: proofs arrive evenly at `perMinute`, each made at its arrival with the
// default lifetime (30 s), so each jti is held until iat + 30 + 5 s of skew.
console.log(
  `\nReplay cache in steady state (default lifetime 30 s, skew 5 s, ${SIMULATED_SECONDS} s simulated):`,
);
const memoryRows: string[][] = [];
for (const perMinute of RATES) {
  let now = Date.parse("2026-12-01T00:00:00Z");
  const verifier = createVerifier({ audience: SERVER_ID, now: () => now });
  const first = await signProof({
    key,
    certificate,
    method: "POST",
    url: REQUEST_URL,
    audience: SERVER_ID,
    channelBinding: CB,
    now: new Date(now),
  });
  await verifier.verify(request(first));
  const baseline = heapAfterGc();
  const baseEntries = verifier.stats().entries;
  const intervalMs = 60_000 / perMinute;
  const arrivals = Math.round((SIMULATED_SECONDS * perMinute) / 60);
  const samples: number[] = [];
  const start = now;
  for (let i = 1; i <= arrivals; i++) {
    now = start + i * intervalMs;
    const proof = await signProof({
      key,
      certificate,
      method: "POST",
      url: REQUEST_URL,
      audience: SERVER_ID,
      channelBinding: CB,
      now: new Date(now),
    });
    const verdict = await verifier.verify(request(proof));
    if (!verdict.ok) throw new Error(`proof refused: ${verdict.reason}`);
    if (i % Math.round(perMinute / 6) === 0) samples.push(verifier.stats().entries);
  }
  const heap = heapAfterGc();
  const { entries } = verifier.stats();
  const perEntry = (heap - baseline) / (entries - baseEntries);
  memoryRows.push([
    format(perMinute),
    format(entries),
    mb(heap - baseline),
    format(perEntry),
    samples.map((s) => format(s)).join(" "),
  ]);
}
console.log(
  table(memoryRows, ["proofs/min", "entries held", "heap used by them", "bytes/entry", "entries every 10 s"]),
);

// --- The bound --------------------------------------------------------------------------------
// The default maximum, filled: the heap it takes is the cache's bound in bytes, and operations on
// the full cache cost what they cost on an empty one.
const MAX = 1_000_000;
const nowMs = Date.parse("2026-12-01T00:00:00Z");
const nowS = nowMs / 1000;
const keys = Array.from({ length: MAX + 1 }, () => replayKeyOf(randomBytes(16).toString("base64url")));
const before = heapAfterGc();
const cache = new ReplayCache({ maxEntries: MAX, horizonSeconds: 71 });
const fillStart = performance.now();
for (let i = 0; i < MAX; i++) cache.admit(keys[i] as string, nowS + 1 + (i % 70), nowMs);
const fillNs = ((performance.now() - fillStart) * 1e6) / MAX;
const full = heapAfterGc();
const refused = cache.admit(keys[MAX] as string, nowS + 10, nowMs);
// The keys themselves are in the heap either way (the verifier makes each from a proof); what the
// cache adds is the heap growth on top of the keys, plus the keys, since it keeps them alive.
const keyBytes = (() => {
  const probe = Array.from({ length: 100_000 }, () => replayKeyOf(randomBytes(16).toString("base64url")));
  const withProbe = heapAfterGc();
  probe.length = 0;
  return (withProbe - heapAfterGc()) / 100_000 - 8; // less the array slot
})();
const sweepStart = performance.now();
cache.sweep(nowMs + 36_000); // 35 of the 70 buckets expire
const sweepMs = performance.now() - sweepStart;
const perEntryAtMax = (full - before) / MAX + keyBytes;
console.log(
  `\nAt the default bound: ${format(MAX)} entries add ${mb(full - before)} of heap over their keys (${format((full - before) / MAX)} bytes/entry), keys about ${format(keyBytes)} bytes each: about ${format(perEntryAtMax)} bytes/entry, ${mb(perEntryAtMax * MAX)} in all. Next admit: "${refused}". Admit ${format(fillNs)} ns each while filling; sweeping 35 s of expiries (${format(MAX - cache.size)} entries) took ${format(sweepMs, 1)} ms.`,
);
console.log(`\nload average ${load()} (after)`);
