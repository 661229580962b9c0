import type { X509Certificate } from "node:crypto";
import fc from "fast-check";
import { beforeAll, describe, expect, it } from "vitest";
import { DEFAULT_SKEW_SECONDS } from "./format.ts";
import { ProofReason } from "./reasons.ts";
import { signProof } from "./sign.ts";
import { CB, NOW_MS, OTHER_CB, REQUEST_URL, SERVER_ID, testSvid } from "./test-fixtures.ts";
import { createVerifier, type ProofVerdict, type VerifyInput } from "./verify.ts";

// Whatever the interleaving of verifications (the same proof many times at once, different
// proofs, the clock moving forward and stepping back between them), the verifier accepts no jti
// twice, and accepts every fresh valid proof exactly once unless its cache is full; a model of
// the cache predicts each outcome exactly.

interface PoolProof {
  proof: string;
  jti: string;
  iat: number;
  exp: number;
  /** Made for another connection: always ProofChannelMismatch. */
  foreign: boolean;
}

const SKEW = DEFAULT_SKEW_SECONDS;
let pool: PoolProof[];
let certificate: X509Certificate;

beforeAll(async () => {
  const svid = await testSvid();
  certificate = svid.certificate;
  // Issued from 60 s before the start to 150 s after it, with lifetimes from 1 to 60 s.
  const shapes = [
    [-60, 30],
    [-40, 60],
    [-20, 10],
    [-5, 1],
    [0, 30],
    [0, 30],
    [3, 5],
    [10, 60],
    [25, 20],
    [40, 30],
    [60, 2],
    [80, 45],
    [100, 30],
    [150, 60],
    [0, 30, 1],
    [30, 30, 1],
  ] as const;
  pool = await Promise.all(
    shapes.map(async ([offset, lifetimeSeconds, foreign]) => {
      const proof = await signProof({
        key: svid.key,
        certificate: svid.certificate,
        method: "POST",
        url: REQUEST_URL,
        audience: SERVER_ID,
        channelBinding: foreign ? OTHER_CB : CB,
        now: new Date(NOW_MS + offset * 1000),
        lifetimeSeconds,
      });
      const claims = JSON.parse(Buffer.from(proof.split(".")[1] as string, "base64url").toString());
      return { proof, jti: claims.jti, iat: claims.iat, exp: claims.exp, foreign: foreign === 1 };
    }),
  );
});

type Step = { kind: "verify"; picks: number[]; statsInBetween: boolean } | { kind: "clock"; deltaMs: number };

const step: fc.Arbitrary<Step> = fc.oneof(
  fc.record({
    kind: fc.constant("verify" as const),
    // Indices into the pool, repeats included: the same proof verified several times at once.
    picks: fc.array(fc.nat({ max: 15 }), { minLength: 1, maxLength: 8 }),
    statsInBetween: fc.boolean(),
  }),
  fc.record({ kind: fc.constant("clock" as const), deltaMs: fc.integer({ min: -30_000, max: 45_000 }) }),
);

describe("createVerifier under any interleaving", () => {
  it("should accept no jti twice and every fresh valid proof once unless the cache is full", async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.array(step, { maxLength: 30 }),
        fc.integer({ min: 1, max: 8 }),
        async (steps, maxEntries) => {
          let wall = NOW_MS;
          const verifier = createVerifier({ audience: SERVER_ID, maxEntries, now: () => wall });
          /**
           * The model: the verifier's time is the latest it has read (it reads the clock on each
           * verification and each stats call), and it remembers each accepted jti until exp + skew.
           */
          let time = Number.NEGATIVE_INFINITY;
          const acceptedExpiry = new Map<string, number>();
          const everAccepted = new Set<string>();
          const acceptances: string[] = [];
          const live = () => [...acceptedExpiry.values()].filter((expiry) => time <= expiry * 1000).length;

          for (const s of steps) {
            if (s.kind === "clock") {
              wall += s.deltaMs;
              time = Math.max(time, wall);
              // Reading the stats reads the clock, as a verification would.
              expect(verifier.stats().entries).toBe(live());
              continue;
            }
            time = Math.max(time, wall);
            const liveBefore = live();
            const pending = s.picks.map((i) => verifier.verify(request(pool[i] as PoolProof)));
            if (s.statsInBetween) verifier.stats();
            const verdicts = await Promise.all(pending);
            for (const v of verdicts) if (v.ok) acceptances.push(v.jti);

            const byProof = new Map<number, ProofVerdict[]>();
            for (const [k, i] of s.picks.entries()) {
              byProof.set(i, [...(byProof.get(i) ?? []), verdicts[k] as ProofVerdict]);
            }
            let freshValid = 0;
            let freshAccepted = 0;
            for (const [i, results] of byProof) {
              const p = pool[i] as PoolProof;
              const reasons = results.map((v) => (v.ok ? "ok" : v.reason));
              const accepted = reasons.filter((r) => r === "ok").length;
              if (p.foreign) {
                expect(reasons.every((r) => r === ProofReason.ProofChannelMismatch)).toBe(true);
              } else if (time > (p.exp + SKEW) * 1000) {
                expect(reasons.every((r) => r === ProofReason.ProofExpired)).toBe(true);
              } else if (p.iat * 1000 > time + SKEW * 1000) {
                expect(reasons.every((r) => r === ProofReason.ProofNotYetValid)).toBe(true);
              } else if (everAccepted.has(p.jti)) {
                expect(reasons.every((r) => r === ProofReason.ProofReplayed)).toBe(true);
              } else {
                freshValid++;
                if (accepted === 1) {
                  freshAccepted++;
                  expect(reasons.filter((r) => r === ProofReason.ProofReplayed)).toHaveLength(
                    results.length - 1,
                  );
                  everAccepted.add(p.jti);
                  acceptedExpiry.set(p.jti, p.exp + SKEW);
                } else {
                  expect(reasons.every((r) => r === ProofReason.ReplayCacheFull)).toBe(true);
                }
              }
              expect(accepted).toBeLessThanOrEqual(1);
            }
            // The cache takes fresh proofs while it has room, in whatever order they arrive.
            expect(freshAccepted).toBe(Math.min(freshValid, Math.max(0, maxEntries - liveBefore)));
            expect(verifier.stats().entries).toBe(live());
          }
          // Over the whole run: one acceptance per jti at most.
          expect(new Set(acceptances).size).toBe(acceptances.length);
          expect(verifier.stats().accepted).toBe(acceptances.length);
        },
      ),
      { numRuns: 150 },
    );
  });
});

function request(p: PoolProof): VerifyInput {
  return {
    proof: p.proof,
    method: "POST",
    url: REQUEST_URL,
    peerCertificate: certificate,
    channelBinding: CB,
  };
}
