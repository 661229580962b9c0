// SVIDs per second on one core: key generation, certificate assembly, signing and PEM encoding,
// measured over a fixed count after a warm-up. `node bench/mint/run.ts` (Node 24).
import { readFileSync } from "node:fs";
import { cpus } from "node:os";
import { createRootCa } from "../../operator/src/pki/ca.ts";
import type { PrivateKeySpec } from "../../operator/src/pki/keys.ts";
import { type MintSvidInput, mintSvid } from "../../operator/src/pki/mint.ts";
import { mintSvidReference } from "../../testing/pki-reference.ts";

const now = new Date();
const { ca } = await createRootCa({
  commonName: "Signet Bench Root",
  trustDomain: "cluster.local",
  validity: 86_400_000,
  now,
});

function cpuModel(): string {
  try {
    const line = readFileSync("/proc/cpuinfo", "utf8")
      .split("\n")
      .find((l) => l.startsWith("model name"));
    return line?.split(":")[1]?.trim() ?? cpus()[0]?.model ?? "unknown";
  } catch {
    return cpus()[0]?.model ?? "unknown";
  }
}

async function measure(
  name: string,
  mint: (input: MintSvidInput) => Promise<unknown>,
  keyAlgorithm: PrivateKeySpec,
  warmup: number,
  count: number,
): Promise<void> {
  const input: MintSvidInput = {
    ca,
    spiffeId: "spiffe://cluster.local/ns/shop/id/payments-api",
    dnsNames: ["payments.shop.svc"],
    ttlMs: 3_600_000,
    keyAlgorithm,
    now,
  };
  for (let i = 0; i < warmup; i++) await mint(input);
  const start = process.hrtime.bigint();
  for (let i = 0; i < count; i++) await mint(input);
  const seconds = Number(process.hrtime.bigint() - start) / 1e9;
  const rate = count / seconds;
  console.log(
    `${name.padEnd(34)} ${String(count).padStart(6)} SVIDs  ${seconds.toFixed(2).padStart(6)} s  ${rate.toFixed(0).padStart(7)} SVIDs/s  ${((seconds / count) * 1e6).toFixed(0).padStart(7)} µs/SVID`,
  );
}

console.log(
  `node ${process.version}, ${cpus().length} CPUs (${cpuModel()}), CA: ECDSA P-256, one core (single thread)`,
);
await measure("P-256 (template, node:crypto)", mintSvid, { algorithm: "ECDSA", size: 256 }, 2_000, 20_000);
await measure("P-384 (template, node:crypto)", mintSvid, { algorithm: "ECDSA", size: 384 }, 500, 5_000);
await measure("Ed25519 (template, node:crypto)", mintSvid, { algorithm: "Ed25519" }, 2_000, 20_000);
await measure("RSA 2048 (template, node:crypto)", mintSvid, { algorithm: "RSA", size: 2048 }, 5, 100);
await measure(
  "P-256 (naive @peculiar/x509)",
  mintSvidReference,
  { algorithm: "ECDSA", size: 256 },
  200,
  2_000,
);
