import { randomBytes } from "node:crypto";
import type * as k8s from "@kubernetes/client-node";
import { GROUP } from "../api/constants.ts";
import type { KubeClient } from "../kube/client.ts";
import { EVENTS, type ResourceClient, resourceClient, timeField } from "../kube/resources.ts";
import type { Logger } from "./logger.ts";

export interface EventTarget {
  apiVersion: string;
  kind: string;
  metadata?: { name?: string; namespace?: string; uid?: string; resourceVersion?: string } | undefined;
}

export type EventType = "Normal" | "Warning";

export interface EventSink {
  record(target: EventTarget, type: EventType, reason: string, message: string): void;
}

/**
 * Which events were written recently, to write identical ones only once per window. Keys are
 * inserted once and never updated, so the Map's insertion order is their time order: expired keys
 * are dropped from the front on every call, which costs O(1) amortised, and the oldest key gives
 * way once `maxKeys` are held, so memory stays bounded even when more than `maxKeys` distinct events
 * fall into one window (such an evicted event can then be written a second time within it).
 */
export class RecentEvents {
  readonly #seen = new Map<string, number>();
  readonly #windowMs: number;
  readonly #maxKeys: number;

  constructor(options: { windowMs: number; maxKeys: number }) {
    if (!(options.windowMs >= 0) || !(options.maxKeys >= 1)) {
      throw new Error(
        `RecentEvents needs windowMs >= 0 and maxKeys >= 1, got ${options.windowMs} and ${options.maxKeys}`,
      );
    }
    this.#windowMs = options.windowMs;
    this.#maxKeys = options.maxKeys;
  }

  /** True, and remembered from `now`, when `key` was not seen in the window before `now`. */
  firstWithinWindow(key: string, now: number): boolean {
    for (const [oldest, at] of this.#seen) {
      if (now - at < this.#windowMs) break;
      this.#seen.delete(oldest);
    }
    if (this.#seen.has(key)) return false;
    if (this.#seen.size >= this.#maxKeys) this.#seen.delete(this.#seen.keys().next().value as string);
    this.#seen.set(key, now);
    return true;
  }

  get size(): number {
    return this.#seen.size;
  }
}

/**
 * Kubernetes Events for the objects Signet manages, shown by `kubectl describe`. Recording never
 * blocks or fails a reconcile: an event that cannot be written is logged and dropped. Identical
 * events for one object within `dedupeMs` are written once.
 */
export class EventRecorder implements EventSink {
  readonly #events: ResourceClient<k8s.CoreV1Event>;
  readonly #log: Logger;
  readonly #component: string;
  readonly #recent: RecentEvents;
  readonly #now: () => number;

  constructor(
    kube: KubeClient,
    log: Logger,
    options: { component?: string; dedupeMs?: number; now?: () => number } = {},
  ) {
    this.#events = resourceClient(kube, EVENTS);
    this.#log = log;
    this.#component = options.component ?? "signet";
    this.#recent = new RecentEvents({ windowMs: options.dedupeMs ?? 60_000, maxKeys: 10_000 });
    this.#now = options.now ?? Date.now;
  }

  record(target: EventTarget, type: EventType, reason: string, message: string): void {
    const namespace = target.metadata?.namespace ?? "default";
    const name = target.metadata?.name ?? "unknown";
    const key = `${target.kind}/${namespace}/${name}/${reason}/${message}`;
    const now = this.#now();
    if (!this.#recent.firstWithinWindow(key, now)) return;
    const time = timeField(now);
    const body: k8s.CoreV1Event = {
      metadata: { name: `${name}.${randomBytes(8).toString("hex")}`, namespace },
      involvedObject: {
        apiVersion: target.apiVersion,
        kind: target.kind,
        name,
        namespace,
        ...(target.metadata?.uid ? { uid: target.metadata.uid } : {}),
      },
      type,
      reason,
      message: message.slice(0, 1024),
      source: { component: this.#component },
      reportingComponent: `${GROUP}/${this.#component}`,
      reportingInstance: process.env.HOSTNAME ?? "local",
      firstTimestamp: time,
      lastTimestamp: time,
      count: 1,
    };
    this.#events.create(body).catch((err: unknown) => {
      this.#log.warn(
        { err: (err as Error).message, reason, object: `${namespace}/${name}` },
        "event not recorded",
      );
    });
  }
}
