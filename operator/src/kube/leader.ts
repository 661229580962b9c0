import type { V1Lease, V1LeaseSpec, V1OwnerReference } from "@kubernetes/client-node";
import type { KubeClient } from "./client.ts";
import { type Clock, systemClock, unref } from "./clock.ts";
import { isConflict } from "./errors.ts";
import { microTime as formatMicroTime, LEASES, microTimeField, resourceClient } from "./resources.ts";

/** The three calls the elector makes on its Lease; tests put an in-memory Lease behind them. */
export interface LeaseClient {
  /** The Lease, or undefined when it does not exist. */
  get(): Promise<V1Lease | undefined>;
  create(lease: V1Lease): Promise<V1Lease>;
  /** A write guarded by metadata.resourceVersion: fails with 409 when the Lease changed meanwhile. */
  replace(lease: V1Lease): Promise<V1Lease>;
}

export function kubeLeaseClient(kube: KubeClient, namespace: string, name: string): LeaseClient {
  const leases = resourceClient(kube, LEASES);
  return {
    get: () => leases.find(namespace, name),
    create: (body) => leases.create({ ...body, metadata: { ...body.metadata, namespace, name } }),
    replace: (body) => leases.replace({ ...body, metadata: { ...body.metadata, namespace, name } }),
  };
}

export interface LeaderElectorOptions {
  /** The client of the Lease; not needed with `leaseClient`. */
  kube?: KubeClient;
  namespace: string;
  name: string;
  /** Unique per replica, e.g. the pod name plus a random suffix. */
  identity: string;
  /** How long others wait, after they last saw the Lease change, before they take it over. */
  leaseDurationMs?: number;
  /** The leader gives up when it has not renewed for this long; must be below leaseDurationMs. */
  renewDeadlineMs?: number;
  /** Pause between attempts to acquire or renew. */
  retryPeriodMs?: number;
  /** Start the controllers; stop them when `signal` aborts. */
  onStartedLeading: (signal: AbortSignal) => void | Promise<void>;
  /**
   * Stop the controllers. When it returns a promise, `stop()` waits for it before releasing the Lease, so
   * that a successor never overlaps controllers that are still finishing.
   */
  onStoppedLeading: () => void | Promise<void>;
  /** Failed attempts (network, API errors) and errors of the callbacks, for logs. */
  onError?: (error: unknown) => void;
  clock?: Clock;
  /** In [0, 1); spreads the acquire attempts of candidates. */
  random?: () => number;
  /** Replaces the API calls, for tests. */
  leaseClient?: LeaseClient;
  /** Owners of the Lease when this replica creates it (the operator's Deployment). */
  ownerReferences?: V1OwnerReference[] | undefined;
}

/** A Lease's spec as compared between two reads; a change of any field restarts the expiry clock. */
function recordKey(spec: V1LeaseSpec | undefined): string {
  return JSON.stringify([
    spec?.holderIdentity ?? "",
    spec?.leaseDurationSeconds ?? 0,
    spec?.acquireTime === undefined ? "" : microTime(spec.acquireTime),
    spec?.renewTime === undefined ? "" : microTime(spec.renewTime),
    spec?.leaseTransitions ?? 0,
  ]);
}

/**
 * A MicroTime as the API server writes it (RFC 3339 with six fractional digits). client-node types these
 * fields as Date; on the wire, and so in what the client hands back, they are strings.
 */
export function microTime(value: Date | string): string {
  if (typeof value === "string") return value;
  return formatMicroTime(value.getTime());
}

/**
 * Whether a Lease whose record this candidate first saw unchanged at `observedAt` has expired at `now`.
 * Judged only by the local clock, as client-go does: the holder's clock and its renewTime are never compared
 * with ours, so clock skew between replicas cannot hand the Lease to two holders.
 */
export function leaseExpired(observedAt: number, leaseDurationSeconds: number, now: number): boolean {
  return observedAt + leaseDurationSeconds * 1000 <= now;
}

/**
 * Leader election on a coordination.k8s.io/v1 Lease, with client-go's rules: take the Lease when it is
 * absent, released, expired, or already ours; renew it every retry period; give up leadership when a
 * renewal has not succeeded within the renew deadline or someone else holds the Lease. Every write is
 * guarded by the resourceVersion that was read, so two candidates can never both win.
 */
export class LeaderElector {
  readonly #identity: string;
  readonly #leaseName: string;
  readonly #namespace: string;
  readonly #leaseDurationMs: number;
  readonly #renewDeadlineMs: number;
  readonly #retryPeriodMs: number;
  readonly #onStartedLeading: (signal: AbortSignal) => void | Promise<void>;
  readonly #onStoppedLeading: () => void | Promise<void>;
  readonly #onError: (error: unknown) => void;
  readonly #clock: Clock;
  readonly #random: () => number;
  readonly #client: LeaseClient;
  readonly #ownerReferences: V1OwnerReference[] | undefined;

  #lease: V1Lease | undefined;
  #observedKey = "";
  #observedAt = 0;

  #running = false;
  #stopped = false;
  /** Bumped whenever leadership ends or the elector stops, so that late results of attempts are ignored. */
  #generation = 0;
  #timer: unknown;
  #deadlineTimer: unknown;
  #inflight: Promise<void> | undefined;
  #stoppedLeading: Promise<void> = Promise.resolve();
  #endRun: (() => void) | undefined;

  #leading = false;
  #lastRenewSentAt = 0;
  #abort: AbortController | undefined;

  constructor(options: LeaderElectorOptions) {
    this.#identity = options.identity;
    this.#leaseName = options.name;
    this.#ownerReferences = options.ownerReferences;
    this.#namespace = options.namespace;
    this.#leaseDurationMs = options.leaseDurationMs ?? 15_000;
    this.#renewDeadlineMs = options.renewDeadlineMs ?? 10_000;
    this.#retryPeriodMs = options.retryPeriodMs ?? 2_000;
    this.#onStartedLeading = options.onStartedLeading;
    this.#onStoppedLeading = options.onStoppedLeading;
    this.#onError = options.onError ?? (() => {});
    this.#clock = options.clock ?? systemClock;
    this.#random = options.random ?? Math.random;
    const { leaseClient, kube } = options;
    if (!leaseClient && !kube) throw new Error("leader election needs a client (kube) or a leaseClient");
    this.#client = leaseClient ?? kubeLeaseClient(kube as KubeClient, options.namespace, options.name);
    if (!this.#identity) throw new Error("leader election needs a non-empty identity");
    if (
      !(this.#retryPeriodMs > 0) ||
      !(this.#renewDeadlineMs > this.#retryPeriodMs) ||
      !(this.#leaseDurationMs > this.#renewDeadlineMs)
    ) {
      throw new Error(
        "leader election needs 0 < retryPeriodMs < renewDeadlineMs < leaseDurationMs, got " +
          `${this.#retryPeriodMs}, ${this.#renewDeadlineMs} and ${this.#leaseDurationMs}`,
      );
    }
  }

  get identity(): string {
    return this.#identity;
  }

  /**
   * True while this replica holds the Lease and its last successful renewal was sent less than the renew
   * deadline ago; it turns false at that instant even if the timer that ends leadership has not run yet.
   */
  isLeader(): boolean {
    return this.#leading && this.#clock.now() < this.#lastRenewSentAt + this.#renewDeadlineMs;
  }

  /**
   * Competes for the Lease and leads while it holds it; after losing it, competes again. Resolves when
   * `stop` has finished.
   */
  run(): Promise<void> {
    if (this.#stopped) return Promise.reject(new Error("leader elector was stopped"));
    if (this.#running) return Promise.reject(new Error("leader elector is already running"));
    this.#running = true;
    const ended = new Promise<void>((resolve) => {
      this.#endRun = resolve;
    });
    this.#schedule(0);
    return ended;
  }

  /**
   * Stops competing and leading: aborts the leading signal, calls onStoppedLeading, then (unless
   * `release` is false) releases the Lease so that a successor takes over at once instead of waiting
   * for it to expire. Shut the controllers down before calling this, so they never overlap a successor.
   */
  async stop(options: { release?: boolean } = {}): Promise<void> {
    if (this.#stopped) return;
    this.#stopped = true;
    const wasLeading = this.#leading;
    this.#endLeadership();
    if (this.#inflight) {
      // A renewal in flight would change the resourceVersion the release is guarded by.
      let timer: unknown;
      const cap = new Promise<void>((resolve) => {
        timer = this.#clock.setTimeout(resolve, this.#renewDeadlineMs);
        unref(timer);
      });
      await Promise.race([this.#inflight, cap]);
      this.#clock.clearTimeout(timer);
    }
    await this.#stoppedLeading;
    if (wasLeading && options.release !== false) {
      try {
        await this.#release();
      } catch (error) {
        this.#onError(error);
      }
    }
    this.#running = false;
    const endRun = this.#endRun;
    this.#endRun = undefined;
    endRun?.();
  }

  #schedule(delayMs: number): void {
    const generation = this.#generation;
    this.#timer = this.#clock.setTimeout(() => {
      this.#timer = undefined;
      if (generation !== this.#generation) return;
      this.#inflight = this.#attempt(generation).finally(() => {
        this.#inflight = undefined;
      });
    }, delayMs);
    unref(this.#timer);
  }

  async #attempt(generation: number): Promise<void> {
    const sentAt = this.#clock.now();
    let acquired = false;
    try {
      acquired = await this.#tryAcquireOrRenew();
    } catch (error) {
      this.#onError(error);
    }
    if (generation !== this.#generation) return;
    if (acquired) {
      this.#lastRenewSentAt = sentAt;
      this.#armDeadline();
      if (!this.#leading) this.#startLeading();
      this.#schedule(this.#retryPeriodMs);
      return;
    }
    if (this.#leading && this.#heldByOther()) {
      this.#endLeadership();
      return;
    }
    // A leader retries until its deadline timer ends the run; a candidate keeps trying, a little spread out.
    this.#schedule(this.#leading ? this.#retryPeriodMs : this.#retryPeriodMs * (1 + 0.2 * this.#random()));
  }

  async #tryAcquireOrRenew(): Promise<boolean> {
    const current = await this.#client.get();
    const now = this.#clock.now();
    if (current === undefined) {
      try {
        const created = this.#leaseWith({}, now);
        if (this.#ownerReferences && created.metadata)
          created.metadata.ownerReferences = this.#ownerReferences;
        this.#observe(await this.#client.create(created));
        return true;
      } catch (error) {
        if (isConflict(error)) return false;
        throw error;
      }
    }
    this.#observe(current);
    const spec = current.spec ?? {};
    const holder = spec.holderIdentity ?? "";
    if (
      holder !== "" &&
      holder !== this.#identity &&
      !leaseExpired(this.#observedAt, spec.leaseDurationSeconds ?? 0, now)
    ) {
      return false;
    }
    try {
      this.#observe(await this.#client.replace(this.#leaseWith(current, now)));
      return true;
    } catch (error) {
      if (isConflict(error)) return false;
      throw error;
    }
  }

  /** The Lease that makes this replica the holder as of `now`, keeping what a renewal keeps. */
  #leaseWith(current: V1Lease, now: number): V1Lease {
    const previous = current.spec ?? {};
    const renewing = previous.holderIdentity === this.#identity;
    const stamp = microTimeField(now);
    return {
      apiVersion: "coordination.k8s.io/v1",
      kind: "Lease",
      metadata: { ...current.metadata, name: this.#leaseName, namespace: this.#namespace },
      spec: {
        holderIdentity: this.#identity,
        leaseDurationSeconds: Math.ceil(this.#leaseDurationMs / 1000),
        acquireTime: renewing && previous.acquireTime ? previous.acquireTime : stamp,
        renewTime: stamp,
        leaseTransitions:
          current.spec === undefined ? 0 : (previous.leaseTransitions ?? 0) + (renewing ? 0 : 1),
      },
    };
  }

  #observe(lease: V1Lease): void {
    this.#lease = lease;
    const key = recordKey(lease.spec);
    if (key !== this.#observedKey) {
      this.#observedKey = key;
      this.#observedAt = this.#clock.now();
    }
  }

  #heldByOther(): boolean {
    const holder = this.#lease?.spec?.holderIdentity ?? "";
    return holder !== "" && holder !== this.#identity;
  }

  #startLeading(): void {
    this.#leading = true;
    this.#abort = new AbortController();
    try {
      const started = this.#onStartedLeading(this.#abort.signal);
      if (started instanceof Promise) started.catch((error: unknown) => this.#onError(error));
    } catch (error) {
      this.#onError(error);
    }
  }

  #armDeadline(): void {
    if (this.#deadlineTimer !== undefined) this.#clock.clearTimeout(this.#deadlineTimer);
    const generation = this.#generation;
    this.#deadlineTimer = this.#clock.setTimeout(
      () => {
        this.#deadlineTimer = undefined;
        if (generation === this.#generation) this.#endLeadership();
      },
      this.#lastRenewSentAt + this.#renewDeadlineMs - this.#clock.now(),
    );
    unref(this.#deadlineTimer);
  }

  /**
   * Ends leadership (if held) and every pending attempt; unless stopping, competes again a retry period
   * later: the Lease may still name this replica, and then it is safely taken back.
   */
  #endLeadership(): void {
    this.#generation++;
    if (this.#timer !== undefined) this.#clock.clearTimeout(this.#timer);
    if (this.#deadlineTimer !== undefined) this.#clock.clearTimeout(this.#deadlineTimer);
    this.#timer = undefined;
    this.#deadlineTimer = undefined;
    if (this.#leading) {
      this.#leading = false;
      this.#abort?.abort(new Error(`lost leadership of Lease ${this.#namespace}/${this.#leaseName}`));
      try {
        this.#stoppedLeading = Promise.resolve(this.#onStoppedLeading()).catch((error: unknown) =>
          this.#onError(error),
        );
      } catch (error) {
        this.#onError(error);
      }
    }
    if (!this.#stopped && this.#running) this.#schedule(this.#retryPeriodMs);
  }

  /** Hands the Lease back: no holder and a one-second duration, so a successor need not wait. */
  async #release(): Promise<void> {
    const lease = this.#lease;
    if (lease?.spec?.holderIdentity !== this.#identity) return;
    const stamp = microTimeField(this.#clock.now());
    try {
      await this.#client.replace({
        ...lease,
        spec: {
          leaseDurationSeconds: 1,
          acquireTime: stamp,
          renewTime: stamp,
          leaseTransitions: lease.spec.leaseTransitions ?? 0,
        },
      });
    } catch (error) {
      // Someone else already wrote the Lease: nothing of ours is left to release.
      if (!isConflict(error)) throw error;
    }
  }
}
