import { monitorEventLoopDelay, PerformanceObserver } from "node:perf_hooks";
import type { AccessPolicyInput } from "../../operator/src/policy/networkpolicies.ts";
import { startProxy, stdoutAudit } from "../../operator/src/proxy/index.ts";

/**
 * signet proxy for bench/proxy/run.ts, in a process of its own so that its CPU time and RSS are
 * its own: startProxy as the command starts it, with the AccessPolicies from the parent instead of
 * the API, and its audit lines on stdout as in production (the parent points stdout at /dev/null).
 */

export interface ProxyTask {
  certFile: string;
  keyFile: string;
  caFile: string;
  upstream: string;
  policies: AccessPolicyInput[];
}

export interface ProxyUsage {
  cpuMicros: number;
  maxRssKiB: number;
  rssBytes: number;
  /** Since the last "reset": the event loop's longest delay and its p99, ms. */
  loopMaxMs: number;
  loopP99Ms: number;
  /** Since the last "reset": garbage collection pauses, their sum and the longest, ms. */
  gcMs: number;
  gcMaxMs: number;
}

export type ProxyMessage = { ready: number } | { usage: ProxyUsage };

// A stall in the proxy's loop that the client's loop does not share is the proxy's; one in both is
// the machine. GC pauses say how much of it is the collector.
const loop = monitorEventLoopDelay({ resolution: 1 });
loop.enable();
let gcMs = 0;
let gcMaxMs = 0;
new PerformanceObserver((list) => {
  for (const entry of list.getEntries()) {
    gcMs += entry.duration;
    gcMaxMs = Math.max(gcMaxMs, entry.duration);
  }
}).observe({ entryTypes: ["gc"] });

process.once("message", async (task: ProxyTask) => {
  const proxy = await startProxy({
    certFile: task.certFile,
    keyFile: task.keyFile,
    caFile: task.caFile,
    listenPort: 0,
    listenHost: "127.0.0.1",
    upstream: task.upstream,
    policies: () => task.policies,
    audit: stdoutAudit,
  });
  process.on("message", (message: string) => {
    if (message === "reset") {
      loop.reset();
      gcMs = 0;
      gcMaxMs = 0;
    } else if (message === "usage") {
      const { user, system } = process.cpuUsage();
      process.send?.({
        usage: {
          cpuMicros: user + system,
          maxRssKiB: process.resourceUsage().maxRSS,
          rssBytes: process.memoryUsage.rss(),
          loopMaxMs: loop.max / 1e6,
          loopP99Ms: loop.percentile(99) / 1e6,
          gcMs,
          gcMaxMs,
        },
      } satisfies ProxyMessage);
    } else if (message === "stop") {
      proxy.stop().then(() => process.exit(0));
    }
  });
  process.send?.({ ready: proxy.port } satisfies ProxyMessage);
});
