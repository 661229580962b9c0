import { EventRecorder } from "../../telemetry/events.ts";
import { startAccessControllers } from "../access-controllers.ts";
import type { Runnable } from "../runnables.ts";
import type { OperatorContext } from "./context.ts";

/** Leader-elected: the AccessSchedule and AccessPolicy controllers (runtime/access-controllers.ts). */
export function accessUnit(ctx: OperatorContext): Runnable {
  return {
    name: "access",
    leaderElected: true,
    start(signal) {
      return startAccessControllers({
        kube: ctx.kube,
        config: ctx.config,
        log: ctx.log,
        metrics: ctx.metrics,
        events: new EventRecorder(ctx.kube, ctx.log, { component: "signet-controller" }),
        now: ctx.now,
        signal,
        identities: ctx.caches.identities,
        schedules: ctx.caches.schedules,
        policies: ctx.caches.policies,
        networkPolicies: ctx.caches.networkPolicies,
      });
    },
  };
}
