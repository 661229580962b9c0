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

export type ProxyMessage =
  | { ready: number }
  | { usage: { cpuMicros: number; maxRssKiB: number; rssBytes: number } };

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
    if (message === "usage") {
      const { user, system } = process.cpuUsage();
      process.send?.({
        usage: {
          cpuMicros: user + system,
          maxRssKiB: process.resourceUsage().maxRSS,
          rssBytes: process.memoryUsage.rss(),
        },
      } satisfies ProxyMessage);
    } else if (message === "stop") {
      proxy.stop().then(() => process.exit(0));
    }
  });
  process.send?.({ ready: proxy.port } satisfies ProxyMessage);
});
