import pino from "pino";
import { describe, expect, it } from "vitest";
import { type Elector, type LeadershipCallbacks, type Runnable, RunnableManager } from "./runnables.ts";

const log = pino({ level: "silent" });

/** An elector the test drives: it leads when told, and loses leadership when told. */
class ScriptedElector implements Elector {
  leading = false;
  released = 0;
  #callbacks: LeadershipCallbacks;
  #abort: AbortController | undefined;
  constructor(callbacks: LeadershipCallbacks) {
    this.#callbacks = callbacks;
  }
  async run(): Promise<void> {}
  lead(): void {
    this.#abort = new AbortController();
    this.leading = true;
    this.#callbacks.onStartedLeading(this.#abort.signal);
  }
  async lose(): Promise<void> {
    this.leading = false;
    this.#abort?.abort();
    await this.#callbacks.onStoppedLeading();
    this.released++;
  }
  async stop(): Promise<void> {
    if (this.leading) await this.lose();
  }
  isLeader(): boolean {
    return this.leading;
  }
}

/** A unit that records its life in `events`; its start waits for `gate` when one is given. */
function unit(name: string, leaderElected: boolean, events: string[], gate?: Promise<void>): Runnable {
  return {
    name,
    leaderElected,
    async start(signal) {
      events.push(`start ${name}`);
      if (gate) {
        await Promise.race([gate, new Promise((r) => signal.addEventListener("abort", r, { once: true }))]);
      }
      events.push(`running ${name}`);
      return async () => {
        events.push(`stop ${name}`);
      };
    },
  };
}

const settle = () => new Promise((r) => setTimeout(r, 0));

function managerWith(units: Runnable[]) {
  let elector: ScriptedElector | undefined;
  const failures: string[] = [];
  const manager = new RunnableManager({
    log,
    elector: (callbacks) => {
      elector = new ScriptedElector(callbacks);
      return elector;
    },
    onFailure: (name, err) => failures.push(`${name}: ${(err as Error).message}`),
  });
  for (const u of units) manager.add(u);
  return {
    manager,
    failures,
    elector: () => {
      if (!elector) throw new Error("no elector yet");
      return elector;
    },
  };
}

describe("RunnableManager", () => {
  it("should run the always-on units on every replica and the leader-elected ones only while leading", async () => {
    const events: string[] = [];
    const { manager, elector } = managerWith([
      unit("webhook", false, events),
      unit("ca", true, events),
      unit("identities", true, events),
    ]);
    await manager.start();
    expect(manager.running()).toEqual(["webhook"]);
    expect(manager.isLeader()).toBe(false);
    elector().lead();
    await settle();
    expect(manager.running()).toEqual(["webhook", "ca", "identities"]);
    expect(manager.isLeader()).toBe(true);
    await elector().lose();
    expect(manager.running()).toEqual(["webhook"]);
    expect(manager.isLeader()).toBe(false);
    // Stopped in reverse order, before the Lease was released.
    expect(events.slice(-2)).toEqual(["stop identities", "stop ca"]);
    expect(elector().released).toBe(1);
    await manager.stop();
    expect(manager.running()).toEqual([]);
  });

  it("should stop what started, and start nothing more, when leadership ends during start-up", async () => {
    const events: string[] = [];
    let open: () => void = () => {};
    const gate = new Promise<void>((r) => {
      open = r;
    });
    const { manager, elector } = managerWith([
      unit("ca", true, events),
      unit("identities", true, events, gate),
      unit("access", true, events),
    ]);
    await manager.start();
    elector().lead();
    await settle();
    expect(events).toEqual(["start ca", "running ca", "start identities"]);
    const lost = elector().lose();
    await lost;
    open();
    await settle();
    expect(events).toEqual([
      "start ca",
      "running ca",
      "start identities",
      "running identities",
      "stop identities",
      "stop ca",
    ]);
    expect(manager.running()).toEqual([]);
    expect(elector().released).toBe(1);
  });

  it("should start a fresh set of units on each term, with the previous set fully stopped", async () => {
    const events: string[] = [];
    const { manager, elector } = managerWith([unit("identities", true, events)]);
    await manager.start();
    for (let term = 0; term < 3; term++) {
      elector().lead();
      await settle();
      await elector().lose();
    }
    expect(events).toEqual(
      Array(3).fill(["start identities", "running identities", "stop identities"]).flat(),
    );
  });

  it("should report a unit that fails to start, stop the units before it, and not lead on", async () => {
    const events: string[] = [];
    const failing: Runnable = {
      name: "ca",
      leaderElected: true,
      async start() {
        throw new Error("CA Secret unreadable");
      },
    };
    const { manager, elector, failures } = managerWith([
      unit("pki", true, events),
      failing,
      unit("access", true, events),
    ]);
    await manager.start();
    elector().lead();
    await settle();
    expect(failures).toEqual(["ca: CA Secret unreadable"]);
    expect(manager.isLeader()).toBe(false);
    await elector().lose();
    expect(events).toEqual(["start pki", "running pki", "stop pki"]);
  });

  it("should lead at once without an elector, and stop everything on stop", async () => {
    const events: string[] = [];
    const manager = new RunnableManager({ log });
    manager.add(unit("webhook", false, events)).add(unit("identities", true, events));
    await manager.start();
    await settle();
    expect(manager.isLeader()).toBe(true);
    await manager.stop();
    expect(events).toEqual([
      "start webhook",
      "running webhook",
      "start identities",
      "running identities",
      "stop identities",
      "stop webhook",
    ]);
    expect(manager.isLeader()).toBe(false);
  });

  it("should refuse a unit added twice or after start", async () => {
    const manager = new RunnableManager({ log });
    manager.add(unit("a", false, []));
    expect(() => manager.add(unit("a", false, []))).toThrow(/added twice/);
    await manager.start();
    expect(() => manager.add(unit("b", false, []))).toThrow(/after the manager started/);
    await manager.stop();
  });

  it("should stop leading when the elector says the Lease is no longer fresh, before any callback", async () => {
    const { manager, elector } = managerWith([unit("identities", true, [])]);
    await manager.start();
    elector().lead();
    await settle();
    expect(manager.isLeader()).toBe(true);
    elector().leading = false; // the renew deadline passed; the elector's timer has not run yet
    expect(manager.isLeader()).toBe(false);
  });
});
