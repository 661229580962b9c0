import { randomBytes } from "node:crypto";
import * as k8s from "@kubernetes/client-node";
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
 * Kubernetes Events for the objects Signet manages, shown by `kubectl describe`. Recording never
 * blocks or fails a reconcile: an event that cannot be written is logged and dropped. Identical
 * events for one object within `dedupeMs` are written once.
 */
export class EventRecorder implements EventSink {
  readonly #core: k8s.CoreV1Api;
  readonly #log: Logger;
  readonly #component: string;
  readonly #recent = new Map<string, number>();
  readonly #dedupeMs: number;
  readonly #now: () => number;

  constructor(
    kc: k8s.KubeConfig,
    log: Logger,
    options: { component?: string; dedupeMs?: number; now?: () => number } = {},
  ) {
    this.#core = kc.makeApiClient(k8s.CoreV1Api);
    this.#log = log;
    this.#component = options.component ?? "signet";
    this.#dedupeMs = options.dedupeMs ?? 60_000;
    this.#now = options.now ?? Date.now;
  }

  record(target: EventTarget, type: EventType, reason: string, message: string): void {
    const namespace = target.metadata?.namespace ?? "default";
    const name = target.metadata?.name ?? "unknown";
    const key = `${target.kind}/${namespace}/${name}/${reason}/${message}`;
    const now = this.#now();
    const last = this.#recent.get(key);
    if (last !== undefined && now - last < this.#dedupeMs) return;
    this.#recent.set(key, now);
    if (this.#recent.size > 10_000) this.#prune(now);
    const time = new Date(now);
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
      reportingComponent: `signet.dev/${this.#component}`,
      reportingInstance: process.env.HOSTNAME ?? "local",
      firstTimestamp: time,
      lastTimestamp: time,
      count: 1,
    };
    this.#core.createNamespacedEvent({ namespace, body }).catch((err: unknown) => {
      this.#log.warn(
        { err: (err as Error).message, reason, object: `${namespace}/${name}` },
        "event not recorded",
      );
    });
  }

  #prune(now: number): void {
    for (const [key, at] of this.#recent) if (now - at >= this.#dedupeMs) this.#recent.delete(key);
  }
}
