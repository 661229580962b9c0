import { KubeConfig, type KubernetesListObject, type V1Secret } from "@kubernetes/client-node";
import { describe, expect, it } from "vitest";
import { FakeClock, settle } from "./fake-clock.ts";
import {
  createInformer,
  type InformerOptions,
  keyOf,
  splitKey,
  type WatchLike,
  withoutManagedFields,
} from "./informer.ts";

type Params = Record<string, string | number | boolean | undefined>;

interface WatchCall {
  path: string;
  params: Params;
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

  async watch(
    path: string,
    params: Params,
    callback: (phase: string, obj: unknown, raw?: unknown) => void,
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
    this.calls.push({
      path,
      params,
      send: (type, obj) => {
        if (!finished) callback(type, obj, { type, object: obj });
      },
      close: (error = null) => finish(error),
    });
    const openError = this.openErrors.shift();
    if (openError !== undefined) finish(openError);
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

function setUp(options: Pick<InformerOptions<V1Secret>, "transform"> = {}) {
  const clock = new FakeClock();
  const watch = new ScriptedWatch();
  const server = new Collection();
  const events: string[] = [];
  const errors: unknown[] = [];
  const informer = createInformer<V1Secret>(new KubeConfig(), {
    path: "/api/v1/namespaces/ns/secrets",
    list: () => server.list(),
    labelSelector: "signet.dev/managed=true",
    watchTimeoutSeconds: 60,
    clock,
    watch,
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
    await clock.advance(199);
    expect(watch.calls).toHaveLength(1);
    await clock.advance(1);
    expect(watch.calls).toHaveLength(2);
    expect(watch.last.params.resourceVersion).toBe("107");
    expect(server.lists).toBe(1);
    watch.last.send("MODIFIED", secret("a", "108"));
    expect(informer.get("ns", "a")?.metadata?.resourceVersion).toBe("108");
    informer.stop();
  });

  it("should wait longer after each consecutive failure, and start over once events flow again", async () => {
    const { clock, watch, informer } = setUp();
    await informer.start();
    const waits: number[] = [];
    const failAndMeasure = async () => {
      const opened = watch.calls.length;
      const before = clock.now();
      watch.last.close(new Error("boom"));
      while (watch.calls.length === opened) await clock.advance(50);
      waits.push(clock.now() - before);
    };
    await failAndMeasure();
    await failAndMeasure();
    await failAndMeasure();
    watch.last.send("ADDED", secret("a", "120"));
    await failAndMeasure();
    expect(waits).toEqual([200, 400, 800, 200]);
    informer.stop();
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
    await clock.advance(200);
    expect(resolved).toBe(false);
    expect(errors).toHaveLength(2);
    await clock.advance(400);
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
