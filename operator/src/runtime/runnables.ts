import type { Logger } from "../telemetry/logger.ts";

/**
 * One capability of the operator (identities, the CA, the webhook, access policies, ...), started
 * and stopped as a unit. Leader-elected units run only while this replica holds the Lease; the
 * others run on every replica for as long as the process does.
 */
export interface Runnable {
  readonly name: string;
  readonly leaderElected: boolean;
  /**
   * Starts the unit and resolves once it runs. The returned function stops it completely (its
   * handlers, timers, queues and workers) and resolves once no work of it is in flight. `signal`
   * aborts when the unit must stop before its start has finished: a start that waits (for the CA,
   * for the API server) gives up then, by resolving with a stop or by rejecting.
   */
  start(signal: AbortSignal): Promise<Stop>;
}

export type Stop = () => Promise<void>;

/** What the manager needs of leader election; LeaderElector is one. */
export interface Elector {
  run(): Promise<void>;
  /** Stops competing; leadership ends first (onStoppedLeading is awaited), then the Lease is released. */
  stop(): Promise<void>;
  /** False as soon as the last renewal is older than the renew deadline, timers or not. */
  isLeader(): boolean;
}

export interface LeadershipCallbacks {
  /** Leadership began; `signal` aborts when it ends. */
  onStartedLeading(signal: AbortSignal): void;
  /** Leadership ended (lost, or the elector stops). The Lease is released only after this resolves. */
  onStoppedLeading(): Promise<void>;
}

export interface RunnableManagerOptions {
  log: Logger;
  /** Builds the elector with the manager's callbacks. Absent: this replica always leads. */
  elector?: (callbacks: LeadershipCallbacks) => Elector;
  /**
   * A leader-elected unit failed to start for a reason other than losing leadership. The units
   * already started are stopped; what then happens to the process is the caller's choice (the
   * operator exits, so that another replica, or a restart, takes over).
   */
  onFailure?: (unit: string, error: unknown) => void;
}

interface Term {
  abort: AbortController;
  /** Resolves with the stops of the units that started, in start order. */
  started: Promise<Stop[]>;
}

/**
 * Starts the always-on units on every replica and the leader-elected ones only while the Lease is
 * held, in the order they were added, and stops them in reverse. Leadership that ends while the
 * leader-elected units are still starting stops the ones that started and starts no more; the
 * Lease is released only once every unit of the term has stopped.
 */
export class RunnableManager {
  readonly #log: Logger;
  readonly #options: RunnableManagerOptions;
  readonly #units: Runnable[] = [];
  readonly #alwaysStops: Stop[] = [];
  #elector: Elector | undefined;
  #term: Term | undefined;
  #started = false;
  #stopped = false;
  #running: Promise<void> | undefined;

  constructor(options: RunnableManagerOptions) {
    this.#log = options.log;
    this.#options = options;
  }

  add(unit: Runnable): this {
    if (this.#started) throw new Error(`runnable ${unit.name} added after the manager started`);
    if (this.#units.some((u) => u.name === unit.name)) throw new Error(`runnable ${unit.name} added twice`);
    this.#units.push(unit);
    return this;
  }

  /** True while leader-elected units may run and write: the Lease is held and fresh. */
  isLeader(): boolean {
    if (this.#stopped || this.#term === undefined || this.#term.abort.signal.aborted) return false;
    return this.#elector ? this.#elector.isLeader() : true;
  }

  /** Names of the units running now, in start order (for tests and /debug). */
  running(): string[] {
    return [...this.#runningNames];
  }
  readonly #runningNames = new Set<string>();

  /** Starts the always-on units, then competes for leadership (or leads at once without an elector). */
  async start(): Promise<void> {
    if (this.#started) throw new Error("the manager was started already");
    this.#started = true;
    for (const unit of this.#units.filter((u) => !u.leaderElected)) {
      this.#alwaysStops.push(this.#named(unit.name, await unit.start(new AbortController().signal)));
    }
    if (!this.#units.some((u) => u.leaderElected)) return;
    if (!this.#options.elector) {
      this.#beginTerm(new AbortController().signal);
      return;
    }
    this.#elector = this.#options.elector({
      onStartedLeading: (signal) => this.#beginTerm(signal),
      onStoppedLeading: () => this.#endTerm(),
    });
    this.#running = this.#elector.run();
  }

  /** Stops leading (releasing the Lease once the leader-elected units stopped), then everything else. */
  async stop(): Promise<void> {
    if (this.#stopped) return;
    this.#stopped = true;
    if (this.#elector) {
      await this.#elector.stop();
      await this.#running?.catch(() => undefined);
    }
    await this.#endTerm();
    for (const stop of this.#alwaysStops.reverse()) await stop();
    this.#alwaysStops.length = 0;
  }

  #beginTerm(signal: AbortSignal): void {
    if (this.#stopped) return;
    if (this.#term) {
      this.#log.error("leadership began while a term was still open; ending that term first");
      void this.#endTerm();
    }
    const abort = new AbortController();
    if (signal.aborted) abort.abort();
    else signal.addEventListener("abort", () => abort.abort(), { once: true });
    const started = (async () => {
      const stops: Stop[] = [];
      for (const unit of this.#units.filter((u) => u.leaderElected)) {
        if (abort.signal.aborted) break;
        try {
          stops.push(this.#named(unit.name, await unit.start(abort.signal)));
        } catch (error) {
          if (!abort.signal.aborted) {
            this.#log.error({ unit: unit.name, err: (error as Error).message }, "unit failed to start");
            abort.abort();
            this.#options.onFailure?.(unit.name, error);
          }
          break;
        }
      }
      if (!abort.signal.aborted) this.#log.info({ units: stops.length }, "controllers started");
      return stops;
    })();
    this.#term = { abort, started };
  }

  /** Ends the current term: no unit starts any more, and every unit that started is stopped. */
  async #endTerm(): Promise<void> {
    const term = this.#term;
    if (!term) return;
    term.abort.abort();
    const stops = await term.started;
    for (const stop of [...stops].reverse()) await stop();
    if (stops.length > 0) this.#log.info({ units: stops.length }, "controllers stopped");
    if (this.#term === term) this.#term = undefined;
  }

  #named(name: string, stop: Stop): Stop {
    this.#runningNames.add(name);
    this.#log.info({ unit: name }, "unit started");
    let stopping: Promise<void> | undefined;
    return () => {
      stopping ??= stop().then(
        () => {
          this.#runningNames.delete(name);
          this.#log.info({ unit: name }, "unit stopped");
        },
        (error: unknown) => {
          this.#runningNames.delete(name);
          this.#log.error({ unit: name, err: (error as Error).message }, "unit failed to stop cleanly");
        },
      );
      return stopping;
    };
  }
}
