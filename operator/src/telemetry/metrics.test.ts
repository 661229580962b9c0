import { describe, expect, it } from "vitest";
import { FakeClock } from "../../../testing/fake-clock.ts";
import { admissionMetrics } from "../../../webhooks/src/metrics.ts";
import { WorkQueue } from "../kube/queue.ts";
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

  it("should record a work queue's depth, adds, waits, work, retries and work in progress, by queue name", async () => {
    const metrics = new SignetMetrics();
    const clock = new FakeClock();
    const queue = new WorkQueue({ clock, name: "things", metrics });
    new WorkQueue({ clock, name: "others", metrics }).add("ns/x");
    const things = { name: "things" };
    const sample = async (metricName: string, labels: Record<string, string> = things) => {
      for (const metric of await metrics.registry.getMetricsAsJSON()) {
        const found = metric.values.find(
          (v) =>
            ((v as { metricName?: string }).metricName ?? metric.name) === metricName &&
            Object.entries(labels).every(([k, l]) => String(v.labels[k]) === l),
        );
        if (found !== undefined) return found.value;
      }
      return undefined;
    };
    expect(await sample("signet_workqueue_adds_total")).toBe(0);
    expect(await sample("signet_workqueue_retries_total")).toBe(0);
    expect(await sample("signet_workqueue_queue_duration_seconds_count")).toBe(0);

    queue.add("ns/a");
    queue.add("ns/a"); // a duplicate
    queue.add("ns/b");
    expect(await sample("signet_workqueue_depth")).toBe(2);
    expect(await sample("signet_workqueue_adds_total")).toBe(2);

    await clock.advance(2000);
    await queue.get(); // ns/a, after 2 s
    expect(await sample("signet_workqueue_depth")).toBe(1);
    await clock.advance(500);
    expect(await sample("signet_workqueue_longest_running_processor_seconds")).toBe(0.5);
    expect(await sample("signet_workqueue_unfinished_work_seconds")).toBe(0.5);
    await queue.get(); // ns/b, after 2.5 s
    await clock.advance(1000);
    expect(await sample("signet_workqueue_longest_running_processor_seconds")).toBe(1.5);
    expect(await sample("signet_workqueue_unfinished_work_seconds")).toBe(2.5);

    queue.done("ns/a"); // after 1.5 s
    queue.addRateLimited("ns/b"); // its reconcile failed: back in 100 ms
    queue.done("ns/b"); // after 1 s
    queue.addAfter("ns/c", 3000);
    expect(await sample("signet_workqueue_retries_total")).toBe(1);
    expect(await sample("signet_workqueue_depth")).toBe(0);
    expect(await sample("signet_workqueue_adds_total")).toBe(2);
    await clock.advance(100);
    expect(await sample("signet_workqueue_depth")).toBe(1);
    await clock.advance(2900);
    expect(await sample("signet_workqueue_depth")).toBe(2);
    expect(await sample("signet_workqueue_adds_total")).toBe(4);

    expect(await sample("signet_workqueue_queue_duration_seconds_count")).toBe(2);
    expect(await sample("signet_workqueue_queue_duration_seconds_sum")).toBe(4.5);
    expect(await sample("signet_workqueue_queue_duration_seconds_bucket", { ...things, le: "1" })).toBe(0);
    expect(await sample("signet_workqueue_queue_duration_seconds_bucket", { ...things, le: "2.5" })).toBe(2);
    expect(await sample("signet_workqueue_work_duration_seconds_count")).toBe(2);
    expect(await sample("signet_workqueue_work_duration_seconds_sum")).toBe(2.5);
    expect(await sample("signet_workqueue_longest_running_processor_seconds")).toBe(0);
    expect(await sample("signet_workqueue_unfinished_work_seconds")).toBe(0);

    expect(await sample("signet_workqueue_depth", { name: "others" })).toBe(1);
    expect(await sample("signet_workqueue_adds_total", { name: "others" })).toBe(1);
    expect(await sample("signet_workqueue_retries_total", { name: "others" })).toBe(0);

    queue.shutDown();
    expect(await sample("signet_workqueue_depth")).toBe(0);
  });

  it("should report 1 for leader only while the replica leads, read at each scrape", async () => {
    const metrics = new SignetMetrics();
    expect(await value(metrics, "signet_leader", {})).toBe(0);
    let leading = true;
    metrics.leadershipFrom(() => leading);
    expect(await value(metrics, "signet_leader", {})).toBe(1);
    leading = false;
    expect(await value(metrics, "signet_leader", {})).toBe(0);
  });

  it("should report the seconds until the soonest expiry while the controller runs, and +Inf otherwise", async () => {
    const metrics = new SignetMetrics();
    const expiry = () => value(metrics, "signet_svid_soonest_expiry_seconds", {});
    expect(await expiry()).toBe(Number.POSITIVE_INFINITY);
    let soonest: number | undefined = 42.5;
    metrics.soonestExpiryFrom(() => soonest);
    expect(await expiry()).toBe(42.5);
    soonest = -3;
    expect(await expiry()).toBe(-3);
    soonest = undefined;
    expect(await expiry()).toBe(Number.POSITIVE_INFINITY);
    soonest = 10;
    metrics.soonestExpiryFrom(undefined);
    expect(await expiry()).toBe(Number.POSITIVE_INFINITY);
    expect(await metrics.registry.metrics()).toMatch(/^signet_svid_soonest_expiry_seconds \+Inf$/m);
  });

  it("should count the cached identities by namespace and Ready condition, dropping counts that went away", async () => {
    const metrics = new SignetMetrics();
    const ready = (namespace: string, status: string, reason: string) => ({
      metadata: { namespace },
      status: { conditions: [{ type: "Ready", status, reason }] },
    });
    let cached = [
      ready("shop", "True", "Issued"),
      ready("shop", "True", "Issued"),
      ready("shop", "False", "IssuanceFailed"),
    ];
    metrics.identitiesFrom(() => cached);
    const series = async () =>
      (await metrics.registry.getMetricsAsJSON())
        .find((m) => m.name === "signet_machineidentities")
        ?.values.map((v) => ({ ...v.labels, count: v.value }));
    expect(await series()).toEqual([
      { namespace: "shop", ready: "False", reason: "IssuanceFailed", count: 1 },
      { namespace: "shop", ready: "True", reason: "Issued", count: 2 },
    ]);
    cached = [ready("shop", "True", "Rotated")];
    expect(await series()).toEqual([{ namespace: "shop", ready: "True", reason: "Rotated", count: 1 }]);
  });

  it("should export the admission metrics from the start, on the registry the webhook server counts on", async () => {
    const metrics = new SignetMetrics();
    const names = (await metrics.registry.getMetricsAsJSON()).map((m) => m.name);
    expect(names).toEqual(
      expect.arrayContaining([
        "signet_admission_requests_total",
        "signet_admission_denials_total",
        "signet_admission_duration_seconds",
      ]),
    );
    expect(admissionMetrics(metrics.registry)).toBe(metrics.admission);
    admissionMetrics(metrics.registry).requests.inc({
      webhook: "mutate-pods",
      operation: "CREATE",
      result: "allowed",
    });
    expect(
      await value(metrics, "signet_admission_requests_total", { webhook: "mutate-pods", result: "allowed" }),
    ).toBe(1);
  });

  it("should export tamper detections of Secrets at zero before the first, so that increase() sees it", async () => {
    const metrics = new SignetMetrics();
    expect(await value(metrics, "signet_tamper_detected_total", { kind: "Secret" })).toBe(0);
    metrics.tamperDetected.inc({ kind: "Secret" });
    expect(await value(metrics, "signet_tamper_detected_total", { kind: "Secret" })).toBe(1);
  });

  it("should hand out one sink per queue name", () => {
    const metrics = new SignetMetrics();
    expect(metrics.workQueue("things")).toBe(metrics.workQueue("things"));
    expect(metrics.workQueue("things")).not.toBe(metrics.workQueue("others"));
  });
});
