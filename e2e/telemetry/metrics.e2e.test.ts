// The operator's metrics that the chart's alerts and dashboard read, scraped from two replicas on a
// real control plane: which replica leads, the identities by Ready condition, and the soonest expiry.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createIdentity, readIdentity, waitReady, waitReadyReason } from "../identity/support.ts";
import { createNamespace, kubeConfig, kubeconfigPath } from "../support/cluster.ts";
import { installCrds } from "../support/crds.ts";
import { type OperatorProcess, scrapeMetrics, startOperatorProcess } from "../support/operator.ts";
import { waitFor } from "../support/wait.ts";

const LEASE = { duration: 4_000, renew: 3_000, retry: 500 };

/** The value of the series `name` whose labels include `labels`, from a /metrics text; undefined when absent. */
function sample(text: string, name: string, labels: Record<string, string> = {}): number | undefined {
  for (const line of text.split("\n")) {
    const match = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})? (\S+)$/.exec(line);
    if (!match || match[1] !== name) continue;
    const found = Object.fromEntries(
      [...(match[2] ?? "").matchAll(/([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"/g)].map((m) => [
        m[1],
        m[2],
      ]),
    );
    if (!Object.entries(labels).every(([k, v]) => found[k] === v)) continue;
    const value = match[3] ?? "";
    return value === "+Inf"
      ? Number.POSITIVE_INFINITY
      : value === "-Inf"
        ? Number.NEGATIVE_INFINITY
        : Number(value);
  }
  return undefined;
}

describe("the operator's metrics for alerts", () => {
  const kc = kubeConfig();
  let ns: string;
  let flags: string[];
  const operators: OperatorProcess[] = [];
  let first: OperatorProcess;
  let second: OperatorProcess;

  const leaderOf = async (op: OperatorProcess) =>
    sample(await scrapeMetrics(op.metricsPort), "signet_leader");

  beforeAll(async () => {
    await installCrds(kc);
    ns = await createNamespace(kc, "metrics");
    const opNs = await createNamespace(kc, "signet-op");
    flags = [
      `--namespace=${opNs}`,
      `--watch-namespaces=${ns}`,
      "--trust-domain=cluster.local",
      `--lease-duration=${LEASE.duration}ms`,
      `--renew-deadline=${LEASE.renew}ms`,
      `--retry-period=${LEASE.retry}ms`,
    ];
    first = await startOperatorProcess(kubeconfigPath(), flags);
    operators.push(first);
    await waitFor("the first replica to lead", async () =>
      (await leaderOf(first)) === 1 ? true : undefined,
    );
    second = await startOperatorProcess(kubeconfigPath(), flags);
    operators.push(second);
    await waitFor("the second replica to serve its metrics", () => leaderOf(second));
  });

  afterAll(async () => {
    await Promise.all(operators.map((o) => o.stop()));
  });

  it("count the identities by Ready condition on every replica, and give the soonest expiry on the leader only", async () => {
    await createIdentity(kc, ns, "payments-api", { ttl: "1h" });
    await createIdentity(kc, ns, "paused", { suspend: true });
    await waitReady(kc, ns, "payments-api");
    await waitReadyReason(kc, ns, "paused", "Suspended");
    for (const op of [first, second]) {
      const text = await waitFor("both identities in the replica's counts", async () => {
        const t = await scrapeMetrics(op.metricsPort);
        return sample(t, "signet_machineidentities", { namespace: ns, reason: "Suspended" }) === 1
          ? t
          : undefined;
      });
      expect(sample(text, "signet_machineidentities", { namespace: ns, ready: "True" })).toBe(1);
      expect(
        sample(text, "signet_machineidentities", { namespace: ns, ready: "False", reason: "Suspended" }),
      ).toBe(1);
    }
    const notAfter = new Date((await readIdentity(kc, ns, "payments-api")).status?.notAfter ?? 0).getTime();
    const leading = await scrapeMetrics(first.metricsPort);
    const seconds = sample(leading, "signet_svid_soonest_expiry_seconds") ?? Number.NaN;
    const expected = (notAfter - Date.now()) / 1000;
    console.log(
      `soonest expiry on the leader: ${seconds} s; status.notAfter is ${expected.toFixed(1)} s away`,
    );
    expect(Number.isFinite(seconds)).toBe(true);
    expect(Math.abs(seconds - expected)).toBeLessThan(60);
    expect(sample(await scrapeMetrics(second.metricsPort), "signet_svid_soonest_expiry_seconds")).toBe(
      Number.POSITIVE_INFINITY,
    );
  });

  it("report 1 for signet_leader on the replica that leads only, and move it with the Lease", async () => {
    expect([await leaderOf(first), await leaderOf(second)]).toEqual([1, 0]);
    await first.kill();
    operators.splice(operators.indexOf(first), 1);
    await waitFor(
      "the second replica to lead",
      async () => ((await leaderOf(second)) === 1 ? true : undefined),
      {
        timeoutMs: 20_000,
      },
    );
    const text = await waitFor("the new leader's soonest expiry", async () => {
      const t = await scrapeMetrics(second.metricsPort);
      return Number.isFinite(sample(t, "signet_svid_soonest_expiry_seconds")) ? t : undefined;
    });
    expect(sample(text, "signet_svid_soonest_expiry_seconds")).toBeGreaterThan(0);
  });
});
