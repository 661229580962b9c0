import { describe, expect, it } from "vitest";
import { SignetMetrics } from "./metrics.ts";

async function value(
  metrics: SignetMetrics,
  name: string,
  labels: Record<string, string>,
): Promise<number | undefined> {
  const metric = (await metrics.registry.getMetricsAsJSON()).find((m) => m.name === name);
  return metric?.values.find((v) => Object.entries(labels).every(([k, l]) => v.labels[k] === l))?.value;
}

describe("SignetMetrics", () => {
  it("should count reconciles in flight while they run, and none after, even when they fail", async () => {
    const metrics = new SignetMetrics();
    let release: () => void = () => {};
    const running = new Promise<void>((r) => {
      release = r;
    });
    const reconcile = metrics.tracked("machineidentity", async (key: string) => {
      await running;
      if (key === "bad") throw new Error("boom");
      return key;
    });
    const ok = reconcile("ns/a");
    const bad = reconcile("bad");
    expect(await value(metrics, "signet_reconcile_active_workers", { controller: "machineidentity" })).toBe(
      2,
    );
    release();
    await expect(ok).resolves.toBe("ns/a");
    await expect(bad).rejects.toThrow("boom");
    expect(await value(metrics, "signet_reconcile_active_workers", { controller: "machineidentity" })).toBe(
      0,
    );
  });

  it("should record outcomes by controller and count errors apart", async () => {
    const metrics = new SignetMetrics();
    metrics.observeReconcile("accesspolicy", "success", 5);
    metrics.observeReconcile("accesspolicy", "error", 7);
    metrics.observeReconcile("accesspolicy", "error", 9);
    expect(
      await value(metrics, "signet_reconcile_total", { controller: "accesspolicy", result: "error" }),
    ).toBe(2);
    expect(
      await value(metrics, "signet_reconcile_total", { controller: "accesspolicy", result: "success" }),
    ).toBe(1);
    expect(await value(metrics, "signet_reconcile_errors_total", { controller: "accesspolicy" })).toBe(2);
  });
});
