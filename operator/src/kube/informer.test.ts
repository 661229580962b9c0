import type { KubernetesListObject, V1Secret } from "@kubernetes/client-node";
import { describe, expect, it } from "vitest";
import { FakeClock, settle } from "../../../testing/fake-clock.ts";
import { ApiError, type WatchEvent } from "./client.ts";
import { statusCodeOf } from "./errors.ts";
import {
  createInformer,
  type InformerOptions,
  keyOf,
  RETRY_AFTER_CAP_MS,
  retryAfterMs,
  SHORT_WATCH_MS,
  splitKey,
  type WatchLike,
  withoutManagedFields,
} from "./informer.ts";

/** A fake clock that also records the delay of every timer set on it: the informer's waits. */
class RecordingClock extends FakeClock {
  readonly delays: number[] = [];

  override setTimeout(callback: () => void, delayMs: number): unknown {
    this.delays.push(delayMs);
    return super.setTimeout(callback, delayMs);
  }
}

/** What undici's fetch throws when nothing listens on the API server's port. */
const refused = () =>
  Object.assign(new TypeError("fetch failed"), {
    cause: Object.assign(new Error("connect ECONNREFUSED 127.0.0.1:6443"), { code: "ECONNREFUSED" }),
  });
/** What KubeClient.watch passes to `done` when the watch request is answered 429. */
const watchTooManyRequests = () =>
  new ApiError("GET", "/api/v1/secrets", 429, { kind: "Status", code: 429 }, {});
/** What KubeClient throws for a list answered with `code`. */
const listAnswered = (code: number, headers: Record<string, string> = {}) =>
  new ApiError("GET", "/api/v1/secrets", code, { kind: "Status", code }, headers);

type Params = Record<string, string | number | boolean | undefined>;

interface WatchCall {
  path: string;
  params: Params;
  /** When the watch was requested. */
  at: number;
  /** Whether the server answered 200 (and not an error). */
  opened: boolean;
  send(type: string, obj: unknown): void;
  close(error?: unknown): void;
}

/**
 * A watch whose streams the test writes. Like client-node's Watch, it calls `done` once per stream:
 * when the test closes it, when it fails to open, or when ListWatch aborts it.
 */
class ScriptedWatch implements WatchLike {
  readonly calls: WatchCall[] = [];
  /** Errors with which the next openings fail, one per opening. */
  readonly openErrors: unknown[] = [];
  /** While set, every opening fails with what it returns: the API server is down. */
  refuse: (() => unknown) | undefined;

  readonly #now: () => number;

  constructor(now: () => number = Date.now) {
    this.#now = now;
  }

  async watch(
    path: string,
    params: Params,
    callback: (phase: string, obj: unknown, raw: WatchEvent) => void,
    done: (error: unknown) => void,
  ): Promise<AbortController> {
    const controller = new AbortController();
    let finished = false;
    const finish = (error: unknown) => {
      if (finished) return;
      finished = true;
      done(error);
    };
    controller.signal.addEventListener("abort", () => finish(new DOMException("aborted", "AbortError")));
    const call: WatchCall = {
      path,
      params,
      at: this.#now(),
      opened: false,
      send: (type, obj) => {
        if (!finished) callback(type, obj, { type, object: obj });
      },
      close: (error = null) => finish(error),
    };
    this.calls.push(call);
    const openError = this.refuse?.() ?? this.openErrors.shift();
    if (openError !== undefined) finish(openError);
    else call.opened = true;
    return controller;
  }

  get last(): WatchCall {
    const call = this.calls.at(-1);
    if (!call) throw new Error("no watch was opened");
    return call;
  }
}

function secret(name: string, resourceVersion: string, data = "v"): V1Secret {
  return {
    apiVersion: "v1",
    kind: "Secret",
    metadata: { name, namespace: "ns", resourceVersion, labels: { "signet.dev/managed": "true" } },
    stringData: { data },
  };
}

/** The collection as the server would list it. */
class Collection {
  items: V1Secret[] = [];
  resourceVersion = "100";
  lists = 0;
  failures: unknown[] = [];

  list = async (): Promise<KubernetesListObject<V1Secret>> => {
    this.lists++;
    const failure = this.failures.shift();
    if (failure !== undefined) throw failure;
    return { items: [...this.items], metadata: { resourceVersion: this.resourceVersion } };
  };
}

function setUp(
  options: Pick<
    InformerOptions<V1Secret>,
    "transform" | "random" | "restartBaseDelayMs" | "restartMaxDelayMs"
  > = {},
) {
  const clock = new RecordingClock();
  const watch = new ScriptedWatch(() => clock.now());
  const server = new Collection();
  const events: string[] = [];
  const errors: unknown[] = [];
  const informer = createInformer<V1Secret>(watch, {
    path: "/api/v1/namespaces/ns/secrets",
    list: () => server.list(),
    labelSelector: "signet.dev/managed=true",
    watchTimeoutSeconds: 60,
    clock,
    // The middle of every jitter range unless a test says otherwise: waits of 150, 300, 600, 750 ms.
    random: () => 0.5,
    ...options,
  });
  for (const event of ["add", "update", "delete"] as const) {
    informer.on(event, (s) => events.push(`${event} ${s.metadata?.name}@${s.metadata?.resourceVersion}`));
  }
  informer.on("error", (e) => errors.push(e));
  return { clock, watch, server, events, errors, informer };
}

const names = (secrets: V1Secret[]) => secrets.map((s) => s.metadata?.name).sort();

describe("createInformer", () => {
  it("should resolve start after the first list and watch from that list's resourceVersion", async () => {
    const { watch, server, events, informer } = setUp();
    server.items = [secret("a", "90"), secret("b", "95")];
    expect(informer.hasSynced()).toBe(false);
    await informer.start();
    expect(informer.hasSynced()).toBe(true);
    expect(names(informer.list("ns"))).toEqual(["a", "b"]);
    expect(informer.get("ns", "a")?.metadata?.resourceVersion).toBe("90");
    expect(informer.get("other", "a")).toBeUndefined();
    expect(events.sort()).toEqual(["add a@90", "add b@95"]);
    expect(watch.calls).toHaveLength(1);
    expect(watch.last.path).toBe("/api/v1/namespaces/ns/secrets");
    expect(watch.last.params).toMatchObject({
      resourceVersion: "100",
      labelSelector: "signet.dev/managed=true",
      allowWatchBookmarks: true,
      timeoutSeconds: 60,
    });
    informer.stop();
  });

  it("should apply watch events to the cache and tell the listeners of each change", async () => {
    const { watch, events, informer } = setUp();
    await informer.start();
    watch.last.send("ADDED", secret("a", "101"));
    watch.last.send("MODIFIED", secret("a", "102", "changed"));
    watch.last.send("MODIFIED", secret("a", "102", "changed"));
    watch.last.send("BOOKMARK", { metadata: { resourceVersion: "103" } });
    watch.last.send("ADDED", secret("b", "104"));
    watch.last.send("DELETED", secret("b", "105"));
    expect(events).toEqual(["add a@101", "update a@102", "add b@104", "delete b@105"]);
    expect(names(informer.list())).toEqual(["a"]);
    informer.stop();
  });

  it("should stop telling a listener once it unsubscribed, and keep telling the others", async () => {
    const { watch, informer } = setUp();
    const seen: string[] = [];
    const errors: unknown[] = [];
    const off = informer.on("add", (s) => seen.push(`first ${s.metadata?.name}`));
    informer.on("add", (s) => seen.push(`second ${s.metadata?.name}`));
    const offError = informer.on("error", (e) => errors.push(e));
    await informer.start();
    watch.last.send("ADDED", secret("a", "101"));
    off();
    off();
    offError();
    watch.last.send("ADDED", secret("b", "102"));
    watch.last.close(new Error("broken"));
    expect(seen).toEqual(["first a", "second a", "second b"]);
    expect(errors).toEqual([]);
    informer.stop();
  });

  it("should restart a broken watch after a backoff, resuming from the last resourceVersion without a relist", async () => {
    const { clock, watch, server, errors, informer } = setUp();
    await informer.start();
    watch.last.send("ADDED", secret("a", "107"));
    watch.last.close(Object.assign(new Error("connection reset"), { code: "ECONNRESET" }));
    await settle();
    expect(errors).toHaveLength(1);
    await clock.advance(149);
    expect(watch.calls).toHaveLength(1);
    await clock.advance(1);
    expect(watch.calls).toHaveLength(2);
    expect(watch.last.params.resourceVersion).toBe("107");
    expect(server.lists).toBe(1);
    watch.last.send("MODIFIED", secret("a", "108"));
    expect(informer.get("ns", "a")?.metadata?.resourceVersion).toBe("108");
    informer.stop();
  });

  it("should wait longer after each consecutive failure up to 1 s, and start over once events flow again", async () => {
    const { clock, watch, informer } = setUp();
    await informer.start();
    const waits: number[] = [];
    const failAndMeasure = async () => {
      const opened = watch.calls.length;
      const before = clock.now();
      // Dropped as soon as it opened, without an event: not a watch reestablished.
      watch.last.close(new Error("boom"));
      while (watch.calls.length === opened) await clock.advance(10);
      waits.push(clock.now() - before);
    };
    for (let i = 0; i < 5; i++) await failAndMeasure();
    watch.last.send("ADDED", secret("a", "120"));
    await failAndMeasure();
    expect(waits).toEqual([150, 300, 600, 750, 750, 150]);
    informer.stop();
  });

  it("should start the backoff over once a watch reopens, without waiting for an event", async () => {
    const { clock, watch, informer } = setUp();
    await informer.start();
    watch.openErrors.push(refused(), refused(), refused(), refused());
    watch.last.close(refused());
    await clock.advance(5_000);
    expect(clock.delays).toEqual([150, 300, 600, 750, 750]);
    expect(watch.last.opened).toBe(true);
    // Open on a quiet collection: no event, not even a bookmark, then the connection breaks.
    await clock.advance(SHORT_WATCH_MS);
    watch.last.close(refused());
    await settle();
    expect(clock.delays.at(-1)).toBe(150);
    informer.stop();
  });

  it("should start the backoff over once a list succeeds", async () => {
    const { clock, watch, server, informer } = setUp();
    server.failures = [refused(), refused(), refused(), refused()];
    const started = informer.start();
    await clock.advance(5_000);
    await started;
    expect(clock.delays).toEqual([150, 300, 600, 750]);
    watch.last.close(refused());
    await settle();
    expect(clock.delays.at(-1)).toBe(150);
    informer.stop();
  });

  it.each([
    { downMs: 3_000, random: 0 },
    { downMs: 3_000, random: 0.999_999 },
    { downMs: 60_000, random: 0 },
    { downMs: 60_000, random: 0.999_999 },
    { downMs: 600_000, random: 0.999_999 },
  ])(
    "should rewatch within 1 s of the API server coming back after $downMs ms down (random $random)",
    async ({ downMs, random }) => {
      const { clock, watch, server, informer } = setUp({ random: () => random });
      await informer.start();
      watch.last.send("ADDED", secret("a", "170"));
      const downAt = clock.now();
      watch.refuse = refused;
      watch.last.close(Object.assign(new Error("other side closed"), { code: "UND_ERR_SOCKET" }));
      await clock.advance(downMs);
      watch.refuse = undefined;
      const upAt = clock.now();
      while (!watch.last.opened && clock.now() - upAt < 5_000) await clock.advance(1);
      expect(watch.last.opened).toBe(true);
      expect(watch.last.at - upAt).toBeLessThanOrEqual(1_000);
      // Probing the down server costs it at most one refused connection every 500 ms.
      const probes = watch.calls.filter((c) => c.at > downAt && c.at < upAt).length;
      expect(probes).toBeLessThanOrEqual(downMs / 500 + 3);
      expect(watch.last.params.resourceVersion).toBe("170");
      expect(server.lists).toBe(1);
      informer.stop();
    },
  );

  it("should retry a watch refused with 429 promptly, however long the outage before it", async () => {
    const { clock, watch, informer } = setUp();
    await informer.start();
    watch.refuse = refused;
    watch.last.close(refused());
    await clock.advance(60_000);
    expect(clock.delays.at(-1)).toBe(750);
    // Back, with its watch cache still filling: two 429s (a watch's carry no Retry-After), then 200.
    watch.refuse = undefined;
    watch.openErrors.push(watchTooManyRequests(), watchTooManyRequests());
    const upAt = clock.now();
    const refusedBefore = clock.delays.length;
    while (!watch.last.opened) await clock.advance(1);
    // The wait already pending when it came back, then two short ones.
    expect(clock.delays.slice(refusedBefore)).toEqual([150, 300]);
    expect(watch.last.at - upAt).toBeLessThanOrEqual(750 + 150 + 300);
    informer.stop();
  });

  it.each([
    { case: "429 with Retry-After: 1", error: () => listAnswered(429, { "retry-after": "1" }), wait: 1_050 },
    { case: "429 with Retry-After: 0", error: () => listAnswered(429, { "retry-after": "0" }), wait: 50 },
    {
      case: "429 with a Retry-After of 2 minutes, cut to the cap",
      error: () => listAnswered(429, { "retry-after": "120" }),
      wait: RETRY_AFTER_CAP_MS + 50,
    },
    {
      case: "429 with Retry-After as an HTTP date 30 s on, cut to the cap",
      error: () =>
        listAnswered(429, { "retry-after": new Date(Date.parse("2026-01-01T00:00:30Z")).toUTCString() }),
      wait: RETRY_AFTER_CAP_MS + 50,
    },
    { case: "503 with Retry-After: 1", error: () => listAnswered(503, { "retry-after": "1" }), wait: 1_050 },
    { case: "429 without Retry-After", error: () => listAnswered(429), wait: 150 },
  ])(
    "should retry a list answered $case after $wait ms, not after the outage's backoff",
    async ({ error, wait }) => {
      const { clock, server, informer } = setUp();
      // Six refused connections first: the next ordinary wait would be 750 ms.
      server.failures = [refused(), refused(), refused(), refused(), refused(), refused(), error()];
      const started = informer.start();
      while (server.lists < 7) await clock.advance(1);
      const answeredAt = clock.now();
      expect(clock.delays.at(-1)).toBe(wait);
      while (server.lists < 8) await clock.advance(1);
      expect(clock.now() - answeredAt).toBe(wait);
      await started;
      informer.stop();
    },
  );

  it("should back off a 503 without Retry-After as any other failure", async () => {
    const { clock, server, informer } = setUp();
    server.failures = [refused(), refused(), listAnswered(503)];
    const started = informer.start();
    await clock.advance(2_000);
    await started;
    expect(clock.delays).toEqual([150, 300, 600]);
    informer.stop();
  });

  it("should keep backing off repeated 429s without Retry-After, up to the same 1 s", async () => {
    const { clock, server, informer } = setUp();
    server.failures = Array.from({ length: 6 }, () => listAnswered(429));
    const started = informer.start();
    await clock.advance(5_000);
    await started;
    expect(clock.delays).toEqual([150, 300, 600, 750, 750, 750]);
    informer.stop();
  });

  it("should draw each wait between half its ceiling and its ceiling", async () => {
    const draws = [0, 0.25, 0.5, 0.75, 0.999_999, 0];
    const { clock, server, informer } = setUp({ random: () => draws.shift() ?? 0.5 });
    server.failures = Array.from({ length: 6 }, refused);
    const started = informer.start();
    await clock.advance(10_000);
    await started;
    expect(clock.delays.map(Math.round)).toEqual([100, 250, 600, 875, 1_000, 500]);
    informer.stop();
  });

  it("should spread the waits of informers that fail together", async () => {
    const { clock, server, informer } = setUp({ random: Math.random });
    server.failures = Array.from({ length: 200 }, refused);
    const started = informer.start();
    await clock.advance(300_000);
    await started;
    const ceilings = clock.delays.map((_, n) => Math.min(200 * 2 ** n, 1_000));
    clock.delays.forEach((delay, n) => {
      expect(delay).toBeGreaterThanOrEqual((ceilings[n] ?? 0) / 2);
      expect(delay).toBeLessThanOrEqual(ceilings[n] ?? 0);
    });
    expect(new Set(clock.delays.slice(3).map(Math.round)).size).toBeGreaterThan(100);
    informer.stop();
  });

  it("should reopen a watch that the server closes without events on the same schedule, not ListWatch's 1-30 s", async () => {
    const { clock, watch, informer } = setUp();
    await informer.start();
    for (let i = 0; i < 6; i++) {
      watch.last.close();
      await clock.advance(1_000);
    }
    expect(watch.calls).toHaveLength(7);
    // The first reopening is at once; then 150, 300, 600 and 750 ms, however often it happens.
    expect(clock.delays).toEqual([150, 300, 600, 750, 750]);
    watch.last.send("BOOKMARK", { metadata: { resourceVersion: "180" } });
    watch.last.close();
    await settle();
    watch.last.close();
    await clock.advance(1_000);
    expect(clock.delays.slice(5)).toEqual([150]);
    expect(watch.last.params.resourceVersion).toBe("180");
    informer.stop();
  });

  it("should cancel a pending restart on stop, and open nothing after", async () => {
    const { clock, watch, errors, informer } = setUp();
    await informer.start();
    watch.refuse = refused;
    watch.last.close(refused());
    await clock.advance(2_000);
    const calls = watch.calls.length;
    const reported = errors.length;
    expect(clock.pending()).toBe(1);
    informer.stop();
    expect(clock.pending()).toBe(0);
    watch.refuse = undefined;
    await clock.advance(60_000);
    expect(watch.calls).toHaveLength(calls);
    expect(errors).toHaveLength(reported);
  });

  it("should cut short ListWatch's pause before reopening on stop, and open nothing after", async () => {
    const { clock, watch, errors, informer } = setUp();
    await informer.start();
    watch.last.close();
    await settle();
    watch.last.close();
    await settle();
    expect(clock.pending()).toBe(1);
    informer.stop();
    expect(clock.pending()).toBe(0);
    await clock.advance(60_000);
    expect(watch.calls).toHaveLength(2);
    expect(errors).toEqual([]);
  });

  it("should relist after a 410 Gone in the stream and report objects deleted meanwhile", async () => {
    const { watch, server, events, informer } = setUp();
    server.items = [secret("a", "90"), secret("b", "95")];
    await informer.start();
    events.length = 0;
    server.items = [secret("a", "130", "changed"), secret("c", "131")];
    server.resourceVersion = "140";
    watch.last.send("ERROR", { kind: "Status", code: 410, reason: "Expired", message: "too old" });
    watch.last.close();
    await settle();
    expect(server.lists).toBe(2);
    expect(events.sort()).toEqual(["add c@131", "delete b@95", "update a@130"]);
    expect(names(informer.list())).toEqual(["a", "c"]);
    expect(watch.last.params.resourceVersion).toBe("140");
    informer.stop();
  });

  it("should relist when opening the watch fails with 410 Gone", async () => {
    const { clock, watch, server, informer } = setUp();
    await informer.start();
    server.items = [secret("z", "150")];
    server.resourceVersion = "151";
    watch.openErrors.push(Object.assign(new Error("Gone"), { statusCode: 410 }));
    watch.last.close();
    await settle();
    expect(server.lists).toBe(2);
    expect(names(informer.list())).toEqual(["z"]);
    // ListWatch pauses before reconnecting a second time in a row without events.
    await clock.advance(1000);
    expect(watch.last.params.resourceVersion).toBe("151");
    informer.stop();
  });

  it("should retry a failing first list with backoff and resolve start only once a list succeeds", async () => {
    const { clock, server, errors, informer } = setUp();
    server.failures = [new Error("forbidden"), new Error("forbidden")];
    server.items = [secret("a", "1")];
    let resolved = false;
    const started = informer.start().then(() => {
      resolved = true;
    });
    await clock.advance(150);
    expect(resolved).toBe(false);
    expect(errors).toHaveLength(2);
    await clock.advance(300);
    await started;
    expect(server.lists).toBe(3);
    expect(names(informer.list())).toEqual(["a"]);
    informer.stop();
  });

  it("should open no watch after stop, and reject a start that never synced", async () => {
    const { clock, watch, server, errors, informer } = setUp();
    server.failures = [new Error("unavailable")];
    const started = informer.start();
    await settle();
    informer.stop();
    await expect(started).rejects.toThrow(/stopped before its first list/);
    await clock.advance(60_000);
    expect(watch.calls).toHaveLength(0);
    expect(errors).toHaveLength(1);
    expect(clock.pending()).toBe(0);
  });

  it("should open no watch when stopped while its list is in flight", async () => {
    const { watch, server, informer } = setUp();
    let release!: () => void;
    const gate = new Promise<void>((resolve) => {
      release = resolve;
    });
    const list = server.list;
    server.list = async () => {
      await gate;
      return list();
    };
    const started = informer.start();
    await settle();
    informer.stop();
    release();
    await expect(started).rejects.toThrow(/stopped before its first list/);
    await settle();
    expect(watch.calls).toHaveLength(0);
  });

  it("should stop the watch it holds and ignore the abort that follows", async () => {
    const { clock, watch, errors, informer } = setUp();
    await informer.start();
    informer.stop();
    await clock.advance(60_000);
    expect(watch.calls).toHaveLength(1);
    expect(errors).toEqual([]);
    watch.last.send("ADDED", secret("late", "999"));
    expect(informer.list()).toEqual([]);
  });

  it("should report a throwing listener as an error and keep the watch's resourceVersion", async () => {
    const { clock, watch, errors, informer } = setUp();
    informer.on("add", (s) => {
      if (s.metadata?.name === "bad") throw new Error("listener failed");
    });
    await informer.start();
    watch.last.send("ADDED", secret("bad", "160"));
    expect(errors.map((e) => (e as Error).message)).toEqual(["listener failed"]);
    watch.last.close(new Error("boom"));
    await clock.advance(200);
    expect(watch.last.params.resourceVersion).toBe("160");
    informer.stop();
  });
});

describe("createInformer with a transform", () => {
  const managed = (s: V1Secret): V1Secret => ({
    ...s,
    metadata: {
      ...s.metadata,
      managedFields: [{ manager: "signet", operation: "Update", fieldsType: "FieldsV1", fieldsV1: {} }],
    },
  });

  it("should cache listed and watched objects, and hand them to listeners, only as transformed", async () => {
    const seen: V1Secret[] = [];
    const { watch, server, informer } = setUp({ transform: withoutManagedFields });
    informer.on("add", (s) => seen.push(s));
    informer.on("update", (s) => seen.push(s));
    informer.on("delete", (s) => seen.push(s));
    server.items = [managed(secret("a", "90"))];
    await informer.start();
    watch.last.send("ADDED", managed(secret("b", "101")));
    watch.last.send("MODIFIED", managed(secret("a", "102", "changed")));
    watch.last.send("ADDED", managed(secret("c", "103")));
    watch.last.send("DELETED", managed(secret("c", "104")));
    expect(seen.map((s) => `${s.metadata?.name}@${s.metadata?.resourceVersion}`)).toEqual([
      "a@90",
      "b@101",
      "a@102",
      "c@103",
      "c@104",
    ]);
    for (const s of [...seen, ...informer.list()]) expect(s.metadata).not.toHaveProperty("managedFields");
    expect(informer.get("ns", "a")?.metadata?.labels).toEqual({ "signet.dev/managed": "true" });
    informer.stop();
  });

  it("should transform the objects of a relist after 410 Gone too", async () => {
    const { watch, server, informer } = setUp({ transform: withoutManagedFields });
    await informer.start();
    server.items = [managed(secret("z", "150"))];
    server.resourceVersion = "151";
    watch.last.send("ERROR", { kind: "Status", code: 410, reason: "Expired", message: "too old" });
    watch.last.close();
    await settle();
    expect(server.lists).toBe(2);
    expect(informer.get("ns", "z")?.metadata).not.toHaveProperty("managedFields");
    informer.stop();
  });

  it("should not pass bookmarks or error statuses through the transform", async () => {
    const transformed: string[] = [];
    const { watch, informer } = setUp({
      transform: (s) => {
        transformed.push(s.metadata?.name ?? "?");
        return s;
      },
    });
    await informer.start();
    watch.last.send("BOOKMARK", { metadata: { resourceVersion: "103" } });
    watch.last.send("ERROR", { kind: "Status", code: 500, message: "internal" });
    watch.last.send("ADDED", secret("a", "104"));
    expect(transformed).toEqual(["a"]);
    informer.stop();
  });
});

describe("withoutManagedFields", () => {
  it.each([
    {
      case: "should drop managedFields and keep every other metadata field",
      obj: {
        metadata: {
          name: "a",
          namespace: "ns",
          resourceVersion: "7",
          labels: { app: "x" },
          managedFields: [{ manager: "kubectl", operation: "Apply" }],
        },
        data: { k: "v" },
      },
      expected: {
        metadata: { name: "a", namespace: "ns", resourceVersion: "7", labels: { app: "x" } },
        data: { k: "v" },
      },
    },
    {
      case: "should leave an object without managedFields as it is",
      obj: { metadata: { name: "a", resourceVersion: "7" } },
      expected: { metadata: { name: "a", resourceVersion: "7" } },
    },
    {
      case: "should leave an object without metadata as it is",
      obj: { kind: "Secret" },
      expected: { kind: "Secret" },
    },
  ])("$case", ({ obj, expected }) => {
    const result = withoutManagedFields(obj);
    expect(result).toBe(obj);
    expect(result).toStrictEqual(expected);
  });
});

describe("keyOf and splitKey", () => {
  it.each([
    { obj: { metadata: { namespace: "shop", name: "payments" } }, key: "shop/payments" },
    { obj: { metadata: { name: "cluster-wide" } }, key: "cluster-wide" },
  ])("should key $key and split it back", ({ obj, key }) => {
    expect(keyOf(obj)).toBe(key);
    expect(splitKey(key)).toEqual({ namespace: obj.metadata.namespace ?? "", name: obj.metadata.name });
  });
});

describe("statusCodeOf and retryAfterMs", () => {
  const now = Date.parse("2026-01-01T00:00:00Z");

  it.each([
    { case: "a refused watch", error: watchTooManyRequests(), status: 429 },
    { case: "a refused list", error: listAnswered(503), status: 503 },
    { case: "a refused connection", error: refused(), status: undefined },
    {
      case: "a Node error code",
      error: Object.assign(new Error("x"), { code: "ECONNRESET" }),
      status: undefined,
    },
    { case: "nothing", error: undefined, status: undefined },
  ])("should read the status of $case", ({ error, status }) => {
    expect(statusCodeOf(error)).toBe(status);
  });

  it.each([
    { header: "1", ms: 1_000 },
    { header: " 3 ", ms: 3_000 },
    { header: "0", ms: 0 },
    { header: "Thu, 01 Jan 2026 00:00:02 GMT", ms: 2_000 },
    { header: "Wed, 31 Dec 2025 23:59:00 GMT", ms: 0 },
    { header: "soon", ms: undefined },
    { header: "-1", ms: undefined },
    { header: "", ms: undefined },
  ])("should read Retry-After '$header' as $ms ms", ({ header, ms }) => {
    expect(retryAfterMs(listAnswered(429, { "retry-after": header }), now)).toBe(ms);
  });

  it("should find no Retry-After on an error without headers", () => {
    expect(retryAfterMs(watchTooManyRequests(), now)).toBeUndefined();
    expect(retryAfterMs(listAnswered(429), now)).toBeUndefined();
    expect(retryAfterMs(undefined, now)).toBeUndefined();
  });
});
