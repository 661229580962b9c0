import {
  type KubeConfig,
  type KubernetesListObject,
  type KubernetesObject,
  ListWatch,
  Watch,
} from "@kubernetes/client-node";
import { type Clock, systemClock, unref } from "./clock.ts";

export type InformerEvent = "add" | "update" | "delete";

/** The one method of client-node's Watch that ListWatch uses; tests put a scripted stream behind it. */
export type WatchLike = Pick<Watch, "watch">;

export interface InformerOptions<T extends KubernetesObject> {
  /** Collection path, e.g. "/api/v1/namespaces/x/secrets" or "/apis/signet.dev/v1alpha1/machineidentities". */
  path: string;
  /** Lists the same collection with the same selectors; its resourceVersion is where the watch starts. */
  list: () => Promise<KubernetesListObject<T>>;
  labelSelector?: string;
  fieldSelector?: string;
  /** First delay before restarting after a watch or list error; doubles up to the max. Default 200 ms. */
  restartBaseDelayMs?: number;
  /** Default 30 s. */
  restartMaxDelayMs?: number;
  /**
   * How long the server keeps one watch open before closing it (it is then resumed from the last
   * resourceVersion). Default: random between 5 and 10 minutes, as client-go does, so that watches of
   * many replicas do not all reconnect at once.
   */
  watchTimeoutSeconds?: number;
  /**
   * Applied to every object from a list or a watch event before it enters the cache or reaches a
   * handler; returns what is kept. The object is a fresh copy that nothing else holds, so the
   * transform may change it in place. Default: the object as the server sent it.
   */
  transform?: (obj: T) => T;
  clock?: Clock;
  watch?: WatchLike;
}

export interface Informer<T extends KubernetesObject> {
  /**
   * Lists, then watches. Resolves once the first list is in the cache; keeps retrying a failing list
   * with backoff until then (each failure is reported to the "error" listeners). Rejects if `stop` is
   * called first.
   */
  start(): Promise<void>;
  /** Ends the watch for good; the cache keeps its last content. */
  stop(): void;
  hasSynced(): boolean;
  /** Cached objects, of one namespace or of all. Treat them as read-only: they are the cache itself. */
  list(namespace?: string): T[];
  /** A cached object; cluster-scoped objects have namespace "". */
  get(namespace: string, name: string): T | undefined;
  /** Registers a handler; the returned function removes it (a stopped controller leaves none behind). */
  on(event: InformerEvent, callback: (obj: T) => void): Unsubscribe;
  /** Watch and list failures; the informer restarts itself after each. */
  on(event: "error", callback: (error: unknown) => void): Unsubscribe;
}

/** Removes a handler registered with `on`; calling it again does nothing. */
export type Unsubscribe = () => void;

/** Watch event types that carry an object of the collection (BOOKMARK and ERROR do not). */
const OBJECT_PHASES = new Set(["ADDED", "MODIFIED", "DELETED"]);

/** The work-queue key of an object: "namespace/name", or "name" for a cluster-scoped object. */
export function keyOf(obj: KubernetesObject): string {
  const namespace = obj.metadata?.namespace;
  const name = obj.metadata?.name ?? "";
  return namespace ? `${namespace}/${name}` : name;
}

/** The inverse of `keyOf`. */
export function splitKey(key: string): { namespace: string; name: string } {
  const slash = key.indexOf("/");
  return slash < 0
    ? { namespace: "", name: key }
    : { namespace: key.slice(0, slash), name: key.slice(slash + 1) };
}

/**
 * An informer transform that drops metadata.managedFields, the server-side apply bookkeeping that
 * nothing in Signet reads: it is often the larger half of a cached object (every field path of every
 * manager, with an ownerReference uid key per Secret). Writes built from a cached object stay correct
 * without it: the API server keeps an object's managedFields when an update omits them.
 */
export function withoutManagedFields<T extends KubernetesObject>(obj: T): T {
  if (obj.metadata?.managedFields === undefined) return obj;
  // A new metadata object rather than `delete`, which would turn every cached metadata object
  // into a slower and larger dictionary-mode object.
  const { managedFields, ...metadata } = obj.metadata;
  obj.metadata = metadata;
  return obj;
}

/**
 * A level-based cache of one collection, built on client-node's ListWatch. ListWatch handles 410 Gone
 * itself (it relists, and emits deletes for objects that vanished meanwhile) but stops for good on any
 * other error; this informer restarts it with backoff, resuming from the last resourceVersion, so the
 * cache is never left stale without an error having been reported.
 */
export function createInformer<T extends KubernetesObject>(
  kc: KubeConfig,
  options: InformerOptions<T>,
): Informer<T> {
  const clock = options.clock ?? systemClock;
  const baseDelayMs = options.restartBaseDelayMs ?? 200;
  const maxDelayMs = options.restartMaxDelayMs ?? 30_000;
  const inner = options.watch ?? new Watch(kc);
  const transform = options.transform;
  const errorListeners: ((error: unknown) => void)[] = [];

  let started = false;
  let stopped = false;
  let synced = false;
  let listedOnce = false;
  let failures = 0;
  let restartTimer: unknown;
  const pendingDelays = new Set<() => void>();
  let resolveSynced!: () => void;
  let rejectSynced!: (error: Error) => void;
  const syncedPromise = new Promise<void>((resolve, reject) => {
    resolveSynced = resolve;
    rejectSynced = reject;
  });
  // A caller that never awaits start() must not see an unhandled rejection when it stops early.
  syncedPromise.catch(() => {});

  const watch: WatchLike = {
    async watch(path, queryParams, callback, done) {
      // ListWatch does not check whether it was stopped while it listed or waited to reconnect.
      if (stopped) {
        const aborted = new AbortController();
        aborted.abort();
        return aborted;
      }
      const params = {
        ...queryParams,
        allowWatchBookmarks: true,
        timeoutSeconds: options.watchTimeoutSeconds ?? Math.floor(300 + Math.random() * 300),
      };
      return inner.watch(
        path,
        params,
        (phase, obj, raw) => {
          // Anything the server sends proves the watch healthy again.
          failures = 0;
          const kept = transform && OBJECT_PHASES.has(phase) ? transform(obj as T) : obj;
          callback(phase, kept, raw);
        },
        done,
      );
    },
  };

  const list = async () => {
    const result = await options.list();
    listedOnce = true;
    if (transform) result.items = result.items.map(transform);
    return result;
  };

  // ListWatch's own reconnect pause: on the injected clock, and cut short by stop().
  const delayFn = (ms: number) =>
    new Promise<void>((resolve) => {
      const finish = () => {
        pendingDelays.delete(finish);
        clock.clearTimeout(handle);
        resolve();
      };
      const handle = clock.setTimeout(finish, ms);
      unref(handle);
      pendingDelays.add(finish);
    });

  const listWatch = new ListWatch<T>(
    options.path,
    watch as Watch,
    list,
    false,
    options.labelSelector,
    options.fieldSelector,
    { delayFn },
  );

  const attempt = async () => {
    restartTimer = undefined;
    if (stopped) return;
    try {
      await listWatch.start();
    } catch (error) {
      onError(error);
      return;
    }
    if (listedOnce && !synced) {
      synced = true;
      resolveSynced();
    }
  };

  const onError = (error: unknown) => {
    if (stopped) return;
    for (const listener of errorListeners) listener(error);
    if (restartTimer !== undefined) return;
    const delay = Math.min(baseDelayMs * 2 ** Math.min(failures, 30), maxDelayMs);
    failures++;
    restartTimer = clock.setTimeout(() => void attempt(), delay);
    unref(restartTimer);
  };
  listWatch.on("error", onError);

  return {
    start() {
      if (!started && !stopped) {
        started = true;
        void attempt();
      }
      return syncedPromise;
    },
    stop() {
      if (stopped) return;
      stopped = true;
      if (restartTimer !== undefined) clock.clearTimeout(restartTimer);
      restartTimer = undefined;
      for (const finish of [...pendingDelays]) finish();
      void listWatch.stop();
      if (!synced) rejectSynced(new Error(`informer for ${options.path} stopped before its first list`));
    },
    hasSynced: () => synced,
    list: (namespace) => [...listWatch.list(namespace)],
    get: (namespace, name) => listWatch.get(name, namespace),
    on(event: InformerEvent | "error", callback: (arg: never) => void): Unsubscribe {
      if (event === "error") {
        const listener = callback as (error: unknown) => void;
        errorListeners.push(listener);
        return () => {
          const at = errorListeners.indexOf(listener);
          if (at >= 0) errorListeners.splice(at, 1);
        };
      }
      // ListWatch runs handlers inside its stream parser, which swallows what they throw.
      const handler = (obj: T) => {
        try {
          (callback as (obj: T) => void)(obj);
        } catch (error) {
          for (const listener of errorListeners) listener(error);
        }
      };
      listWatch.on(event, handler);
      return () => listWatch.off(event, handler);
    },
  };
}
