import type { KubernetesListObject, KubernetesObject } from "@kubernetes/client-node";
import type { Watcher } from "./client.ts";
import { type Clock, systemClock, unref } from "./clock.ts";
import { statusCodeOf } from "./errors.ts";
import { ListWatchCache } from "./list-watch.ts";

export type InformerEvent = "add" | "update" | "delete";

/** What the informer watches through (KubeClient); tests put a scripted stream behind it. */
export type WatchLike = Watcher;

export interface InformerOptions<T extends KubernetesObject> {
  /** Collection path, e.g. "/api/v1/namespaces/x/secrets" or "/apis/signet.dev/v1alpha1/machineidentities". */
  path: string;
  /** Lists the same collection with the same selectors; its resourceVersion is where the watch starts. */
  list: () => Promise<KubernetesListObject<T>>;
  labelSelector?: string;
  fieldSelector?: string;
  /**
   * Ceiling of the first wait before restarting after a watch or list error; it doubles with each
   * further failure in a row, up to the max, and the wait is drawn between half the ceiling and
   * the ceiling. Default 200 ms.
   */
  restartBaseDelayMs?: number;
  /**
   * The highest ceiling. Default 1 s: after an outage of any length, the API server is asked again
   * within 1 s of being back. A failure costs the server one refused connection or one short error
   * answer, so the probing of a down server stays cheap.
   */
  restartMaxDelayMs?: number;
  /** Random numbers in [0, 1) for the jitter of the waits. Default Math.random. */
  random?: () => number;
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
  /** The Accept header of the watch: METADATA_ACCEPT for a cache of metadata only. */
  accept?: string;
  clock?: Clock;
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

/** The longest a server's Retry-After holds a restart back; a longer one is cut to this. */
export const RETRY_AFTER_CAP_MS = 1_000;

/**
 * A watch that ends with an error sooner than this after it opened, without having delivered an
 * event, does not count as reestablished: the failures before it keep counting, so a server that
 * accepts watches and drops them at once is not asked again at the first wait every time.
 */
export const SHORT_WATCH_MS = 1_000;

/**
 * The Retry-After of a failed list, in milliseconds from `now`: delta-seconds or an HTTP date.
 * ApiException keeps the response's headers under lower-case names; client-node's Watch keeps
 * none, so a refused watch has no Retry-After.
 */
export function retryAfterMs(error: unknown, now: number): number | undefined {
  const headers = ((error ?? {}) as { headers?: unknown }).headers;
  if (typeof headers !== "object" || headers === null) return undefined;
  const value = (headers as Record<string, unknown>)["retry-after"];
  if (typeof value !== "string" || value.trim() === "") return undefined;
  const text = value.trim();
  if (/^\d+$/.test(text)) return Number(text) * 1000;
  // An HTTP date names its day and month; Date.parse would take "-1" for a year.
  const date = /[a-z]/i.test(text) ? Date.parse(text) : Number.NaN;
  return Number.isNaN(date) ? undefined : Math.max(0, date - now);
}

/**
 * A 429, or a 503 that says when to come back: the server is up and asks for a moment (its watch
 * cache is still filling after a restart, or priority and fairness turned the request away).
 */
function isThrottled(error: unknown, retryAfter: number | undefined): boolean {
  const status = statusCodeOf(error);
  return status === 429 || (status === 503 && retryAfter !== undefined);
}

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
 *
 * The backoff: the n-th failure in a row waits between half and all of min(base * 2^(n-1), max),
 * drawn at random so that the informers of many replicas spread out (200 ms base and 1 s max by
 * default: 100-200 ms, 200-400, 400-800, then 500-1000 ms for as long as the server stays down).
 * The count starts over as soon as the server is back: a list succeeded or a watch opened (its
 * request was answered 200), not only once an event arrives, which may take minutes on a quiet
 * collection. A throttled answer (429, or 503 with Retry-After) shows the server up and busy; it
 * is asked again after its Retry-After, capped at RETRY_AFTER_CAP_MS, or, without one, at waits
 * that start from the base again whatever the failures before, never at the outage's backoff.
 * ListWatch's own pause before reopening a watch that the server closed without an event (which
 * would double from 1 s to 30 s) follows the same jittered schedule.
 */
export function createInformer<T extends KubernetesObject>(
  inner: Watcher,
  options: InformerOptions<T>,
): Informer<T> {
  const clock = options.clock ?? systemClock;
  const baseDelayMs = options.restartBaseDelayMs ?? 200;
  const maxDelayMs = options.restartMaxDelayMs ?? 1_000;
  const random = options.random ?? Math.random;
  const transform = options.transform;
  const errorListeners: ((error: unknown) => void)[] = [];

  let started = false;
  let stopped = false;
  let synced = false;
  let listedOnce = false;
  // Failures in a row since the server last answered well; throttled answers in a row, apart.
  let failures = 0;
  let throttles = 0;
  // Watches that ListWatch reopened in a row after the server closed them without an event.
  let quietCloses = 0;
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

  /** Equal jitter: half the ceiling for certain, so that retries never come back to back. */
  const backoff = (attempt: number) => {
    const ceiling = Math.min(baseDelayMs * 2 ** Math.min(attempt, 30), maxDelayMs);
    return ceiling / 2 + (random() * ceiling) / 2;
  };

  /** The server answered well: the next failure waits as the first one would. */
  const reestablished = () => {
    failures = 0;
    throttles = 0;
  };

  const watch: Watcher = {
    async watch(path, queryParams, callback, done, watchOptions) {
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
      // Watch calls `done` before it returns when the request fails (no answer, or not 200), and
      // only later, when the stream ends, once it has opened.
      let ended = false;
      let openedAt: number | undefined;
      let failuresBefore = 0;
      let sawEvent = false;
      const controller = await inner.watch(
        path,
        params,
        (phase, obj, raw) => {
          // Anything the server sends proves the watch healthy again.
          sawEvent = true;
          reestablished();
          if (phase !== "ERROR") quietCloses = 0;
          const kept = transform && OBJECT_PHASES.has(phase) ? transform(obj as T) : obj;
          callback(phase, kept, raw);
        },
        (error) => {
          ended = true;
          const short = openedAt !== undefined && clock.now() - openedAt < SHORT_WATCH_MS;
          if (error && short && !sawEvent) failures = failuresBefore;
          done(error);
        },
        watchOptions,
      );
      if (!ended) {
        openedAt = clock.now();
        failuresBefore = failures;
        reestablished();
      }
      return controller;
    },
  };

  const list = async () => {
    const result = await options.list();
    listedOnce = true;
    reestablished();
    if (transform) result.items = result.items.map(transform);
    return result;
  };

  // ListWatch's own pause before reopening a watch that ended without an event since it opened
  // (its `ms` doubles from 1 s to 30 s): on the jittered schedule instead, on the injected clock,
  // and cut short by stop().
  const delay = () =>
    new Promise<void>((resolve) => {
      const ms = backoff(quietCloses++);
      const finish = () => {
        pendingDelays.delete(finish);
        clock.clearTimeout(handle);
        resolve();
      };
      const handle = clock.setTimeout(finish, ms);
      unref(handle);
      pendingDelays.add(finish);
    });

  const listWatch = new ListWatchCache<T>(options.path, watch, list, {
    delay,
    labelSelector: options.labelSelector,
    fieldSelector: options.fieldSelector,
    accept: options.accept,
  });

  const attempt = async () => {
    restartTimer = undefined;
    if (stopped) return;
    quietCloses = 0;
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
    const retryAfter = retryAfterMs(error, clock.now());
    let delay: number;
    if (isThrottled(error, retryAfter)) {
      // A little jitter on top, so that informers turned away together do not return together.
      delay =
        retryAfter === undefined
          ? backoff(throttles)
          : Math.min(retryAfter, RETRY_AFTER_CAP_MS) + (random() * baseDelayMs) / 2;
      throttles++;
    } else {
      delay = backoff(failures);
      failures++;
    }
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
      listWatch.stop();
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
