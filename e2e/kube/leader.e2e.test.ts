import * as k8s from "@kubernetes/client-node";
import { afterEach, describe, expect, it } from "vitest";
import { LeaderElector } from "../../operator/src/kube/leader.ts";
import { createNamespace, kubeClient, kubeConfig } from "../support/cluster.ts";

const timings = { leaseDurationMs: 2_000, renewDeadlineMs: 1_500, retryPeriodMs: 300 };

async function waitFor(what: string, check: () => boolean, timeoutMs = 20_000): Promise<number> {
  const start = Date.now();
  while (Date.now() - start < timeoutMs) {
    if (check()) return Date.now() - start;
    await new Promise((r) => setTimeout(r, 20));
  }
  throw new Error(`timed out waiting for ${what}`);
}

describe("leader election on a real Lease", () => {
  const kc = kubeConfig();
  const kube = kubeClient();
  const electors: LeaderElector[] = [];
  afterEach(async () => {
    await Promise.all(electors.splice(0).map((e) => e.stop({ release: false })));
  });

  function elector(namespace: string, identity: string) {
    const log: string[] = [];
    const e = new LeaderElector({
      kube,
      namespace,
      name: "signet-controller",
      identity,
      ...timings,
      onStartedLeading: () => {
        log.push("started");
      },
      onStoppedLeading: () => {
        log.push("stopped");
      },
    });
    electors.push(e);
    void e.run();
    return { e, log };
  }

  /** Samples both electors every 50 ms and records any instant at which both claimed to lead. */
  function watchForOverlap(a: LeaderElector, b: LeaderElector) {
    let samples = 0;
    let overlaps = 0;
    const timer = setInterval(() => {
      samples++;
      if (a.isLeader() && b.isLeader()) overlaps++;
    }, 50);
    return {
      stop: () => {
        clearInterval(timer);
        return { samples, overlaps };
      },
    };
  }

  it("should let exactly one of two electors lead, and hand over at once on release", async () => {
    const namespace = await createNamespace(kc, "leader");
    const a = elector(namespace, "replica-a");
    await waitFor("replica-a to lead", () => a.e.isLeader());
    const b = elector(namespace, "replica-b");
    const overlap = watchForOverlap(a.e, b.e);
    await new Promise((r) => setTimeout(r, 3 * timings.leaseDurationMs));
    expect([a.e.isLeader(), b.e.isLeader()]).toEqual([true, false]);

    const lease = await kc.makeApiClient(k8s.CoordinationV1Api).readNamespacedLease({
      namespace,
      name: "signet-controller",
    });
    expect(lease.spec?.holderIdentity).toBe("replica-a");
    expect(lease.spec?.leaseDurationSeconds).toBe(2);
    expect(String(lease.spec?.renewTime)).toMatch(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z$/);

    await a.e.stop();
    expect(a.log).toEqual(["started", "stopped"]);
    const handover = await waitFor("replica-b to lead", () => b.e.isLeader());
    // A released Lease is taken at the next attempt: a retry period (plus jitter), not a lease duration.
    expect(handover).toBeLessThan(timings.leaseDurationMs);
    const { samples, overlaps } = overlap.stop();
    expect(samples).toBeGreaterThan(50);
    expect(overlaps).toBe(0);

    const after = await kc.makeApiClient(k8s.CoordinationV1Api).readNamespacedLease({
      namespace,
      name: "signet-controller",
    });
    expect(after.spec?.holderIdentity).toBe("replica-b");
    expect(after.spec?.leaseTransitions).toBe(1);
  });

  it("should replace a leader that vanished without releasing within lease duration plus retry period", async () => {
    const namespace = await createNamespace(kc, "leader-vanish");
    const a = elector(namespace, "replica-a");
    await waitFor("replica-a to lead", () => a.e.isLeader());
    const b = elector(namespace, "replica-b");
    const overlap = watchForOverlap(a.e, b.e);
    await new Promise((r) => setTimeout(r, timings.leaseDurationMs));
    expect(b.e.isLeader()).toBe(false);

    // Its timers stop and the Lease is left as it was, as if the process had been killed.
    await a.e.stop({ release: false });
    const takeover = await waitFor("replica-b to take over", () => b.e.isLeader());
    // b must wait until the Lease has gone unrenewed for a lease duration, and then needs at most one
    // retry period (with jitter) and a round trip to notice.
    expect(takeover).toBeGreaterThan(timings.leaseDurationMs - timings.retryPeriodMs * 1.2 - 100);
    expect(takeover).toBeLessThan(timings.leaseDurationMs + timings.retryPeriodMs * 1.2 + 1_000);
    await new Promise((r) => setTimeout(r, 1_000));
    const { overlaps } = overlap.stop();
    expect(overlaps).toBe(0);
    expect(b.log).toEqual(["started"]);
  });
});
