import { describe, expect, it } from "vitest";
import { PROOF_REASONS, ProofReason } from "../proof/reasons.ts";
import { ProxyMetrics } from "./metrics.ts";

describe("ProxyMetrics", () => {
  it("should export every proof refusal at zero before the first, so that increase() sees a first replay", async () => {
    const metrics = new ProxyMetrics();
    const refused = async () =>
      Object.fromEntries(
        ((await metrics.registry.getSingleMetric("signet_proofs_total")?.get())?.values ?? [])
          .filter((v) => v.labels.outcome === "refused")
          .map((v) => [String(v.labels.reason), v.value]),
      );
    expect(await refused()).toEqual(Object.fromEntries(PROOF_REASONS.map((reason) => [reason, 0])));
    metrics.proofs.inc({ outcome: "refused", reason: ProofReason.ProofReplayed });
    expect((await refused())[ProofReason.ProofReplayed]).toBe(1);
  });
});
