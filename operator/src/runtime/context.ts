import type * as k8s from "@kubernetes/client-node";
import type { AccessPolicy, AccessSchedule, MachineIdentity } from "../api/index.ts";
import type { KubeClient } from "../kube/client.ts";
import type { Clock } from "../kube/clock.ts";
import type { EventSink } from "../telemetry/events.ts";
import type { Logger } from "../telemetry/logger.ts";
import type { SignetMetrics } from "../telemetry/metrics.ts";
import type { OperatorConfig } from "./config.ts";
import type { MultiInformer } from "./informers.ts";

/** What the manager hands each group of controllers when this replica becomes the leader. */
export interface ControllerContext {
  kube: KubeClient;
  config: OperatorConfig;
  log: Logger;
  metrics: SignetMetrics;
  events: EventSink;
  now: () => Date;
  /** Timers of the controllers' waits; the system clock when absent. */
  clock?: Clock;
  /** Aborted when leadership is lost. */
  signal: AbortSignal;
  /** Started and synced caches, shared with the webhook. */
  identities: MultiInformer<MachineIdentity>;
  schedules: MultiInformer<AccessSchedule>;
  policies: MultiInformer<AccessPolicy>;
  /** Only NetworkPolicies labelled app.kubernetes.io/managed-by=signet. */
  networkPolicies: MultiInformer<k8s.V1NetworkPolicy>;
}

/** Starts a group of controllers; the returned function stops them and resolves when they are idle. */
export type StartControllers = (ctx: ControllerContext) => Promise<() => Promise<void>>;
