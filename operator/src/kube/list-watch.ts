import type { KubernetesListObject, KubernetesObject } from "@kubernetes/client-node";
import type { Query, Watcher } from "./client.ts";
import { statusCodeOf } from "./errors.ts";

type Verb = "add" | "update" | "delete" | "error";

export interface ListWatchOptions {
  /** The pause before reopening a watch the server closed without an event; `attempt` counts from 0. */
  delay: () => Promise<void>;
  labelSelector?: string | undefined;
  fieldSelector?: string | undefined;
  /** Extra watch parameters (timeoutSeconds, allowWatchBookmarks). */
  watchQuery?: () => Query;
  /** The Accept header of the watch, e.g. for metadata-only watches. */
  accept?: string | undefined;
}

/**
 * The cache of one collection kept by a list and a watch from the list's resourceVersion, the
 * reflector of client-go in its plainest form:
 * - the watch resumes from the last resourceVersion seen (an event's or a bookmark's) when it ends
 *   well, after `delay`, without listing again;
 * - 410 Gone (the resourceVersion is too old), as an answer or as an ERROR event, lists again and
 *   reports the objects that vanished meanwhile as deleted;
 * - any other failure is reported to the "error" listeners and the cache stops; the caller
 *   decides when to `start` again, which resumes from the last resourceVersion.
 * An update is reported only when the resourceVersion changed.
 */
export class ListWatchCache<T extends KubernetesObject> {
  readonly #path: string;
  readonly #watcher: Watcher;
  readonly #list: () => Promise<KubernetesListObject<T>>;
  readonly #options: ListWatchOptions;
  readonly #listeners: Record<Verb, ((arg: never) => void)[]> = {
    add: [],
    update: [],
    delete: [],
    error: [],
  };
  #objects = new Map<string, Map<string, T>>();
  #resourceVersion = "";
  #stopped = false;
  #request: AbortController | undefined;
  /** Counts the watches opened and given up: only the current watch's end is acted on. */
  #generation = 0;
  /** A watch was opened in this run. */
  #watchedBefore = false;
  /**
   * Set at each reopening and cleared by any event: a reopening while it is still set (the watch
   * before ended without an event, and so did the one before that) waits for `delay` first, so a
   * server that closes watches at once is not asked again in a tight loop.
   */
  #quiet = false;

  constructor(
    path: string,
    watcher: Watcher,
    list: () => Promise<KubernetesListObject<T>>,
    options: ListWatchOptions,
  ) {
    this.#path = path;
    this.#watcher = watcher;
    this.#list = list;
    this.#options = options;
  }

  async start(): Promise<void> {
    this.#stopped = false;
    this.#watchedBefore = false;
    this.#quiet = false;
    await this.#done(null);
  }

  stop(): void {
    this.#stopped = true;
    this.#abort();
  }

  on(verb: Verb, callback: (arg: never) => void): void {
    this.#listeners[verb].push(callback);
  }

  off(verb: Verb, callback: (arg: never) => void): void {
    const at = this.#listeners[verb].indexOf(callback);
    if (at >= 0) this.#listeners[verb].splice(at, 1);
  }

  get(name: string, namespace?: string): T | undefined {
    return this.#objects.get(namespace ?? "")?.get(name);
  }

  list(namespace?: string): T[] {
    if (namespace) return [...(this.#objects.get(namespace)?.values() ?? [])];
    const all: T[] = [];
    for (const objects of this.#objects.values()) all.push(...objects.values());
    return all;
  }

  #emit(verb: Verb, arg: unknown): void {
    // A copy: a listener may unsubscribe (itself or another) while being told.
    for (const listener of [...this.#listeners[verb]]) (listener as (arg: unknown) => void)(arg);
  }

  #abort(): void {
    this.#generation++;
    const request = this.#request;
    this.#request = undefined;
    request?.abort();
  }

  async #done(error: unknown): Promise<void> {
    this.#abort();
    if (error && statusCodeOf(error) === 410) {
      this.#resourceVersion = "";
    } else if (error && (error as { name?: unknown }).name === "TimeoutError") {
      // A silent stream given up: reopen from where it was.
    } else if (error) {
      this.#emit("error", error);
      return;
    }
    if (this.#stopped) return;
    if (!this.#resourceVersion) {
      let list: KubernetesListObject<T>;
      try {
        list = await this.#list();
      } catch (listError) {
        this.#emit("error", listError);
        return;
      }
      if (this.#stopped) return;
      this.#replace(list.items ?? []);
      this.#resourceVersion = list.metadata?.resourceVersion ?? "";
    }
    if (this.#watchedBefore && this.#quiet) {
      await this.#options.delay();
      if (this.#stopped) return;
    }
    if (this.#watchedBefore) this.#quiet = true;
    this.#watchedBefore = true;
    const query: Query = {
      ...this.#options.watchQuery?.(),
      resourceVersion: this.#resourceVersion,
      labelSelector: this.#options.labelSelector,
      fieldSelector: this.#options.fieldSelector,
    };
    const generation = ++this.#generation;
    const request = await this.#watcher.watch(
      this.#path,
      query,
      (type, obj) => {
        if (generation === this.#generation) this.#event(type, obj as T);
      },
      (watchError) => {
        // The end of a watch this cache already gave up (stopped, or replaced) is not news.
        if (generation !== this.#generation) return;
        void this.#done(watchError);
      },
      this.#options.accept ? { accept: this.#options.accept } : {},
    );
    if (this.#stopped || generation !== this.#generation) request.abort();
    else this.#request = request;
  }

  #event(type: string, obj: T): void {
    switch (type) {
      case "ERROR":
        if ((obj as { code?: unknown }).code === 410) this.#resourceVersion = "";
        return;
      case "ADDED":
      case "MODIFIED":
        this.#put(obj);
        break;
      case "DELETED":
        this.#remove(obj);
        break;
      case "BOOKMARK":
        break;
      default:
        return;
    }
    this.#quiet = false;
    this.#resourceVersion = obj.metadata?.resourceVersion ?? this.#resourceVersion;
  }

  #put(obj: T): void {
    const namespace = obj.metadata?.namespace ?? "";
    const name = obj.metadata?.name ?? "";
    let objects = this.#objects.get(namespace);
    if (!objects) {
      objects = new Map();
      this.#objects.set(namespace, objects);
    }
    const found = objects.get(name);
    if (!found) {
      objects.set(name, obj);
      this.#emit("add", obj);
      return;
    }
    const version = found.metadata?.resourceVersion;
    if (version !== undefined && version === obj.metadata?.resourceVersion) return;
    objects.set(name, obj);
    this.#emit("update", obj);
  }

  #remove(obj: T): void {
    const namespace = obj.metadata?.namespace ?? "";
    const objects = this.#objects.get(namespace);
    if (!objects?.delete(obj.metadata?.name ?? "")) return;
    if (objects.size === 0) this.#objects.delete(namespace);
    this.#emit("delete", obj);
  }

  /** A fresh list: what vanished is deleted, the rest added or updated. */
  #replace(items: T[]): void {
    const listed = new Map<string, Set<string>>();
    for (const item of items) {
      const namespace = item.metadata?.namespace ?? "";
      let names = listed.get(namespace);
      if (!names) {
        names = new Set();
        listed.set(namespace, names);
      }
      names.add(item.metadata?.name ?? "");
    }
    for (const [namespace, objects] of [...this.#objects]) {
      const names = listed.get(namespace);
      for (const [name, old] of [...objects]) {
        if (names?.has(name)) continue;
        objects.delete(name);
        this.#emit("delete", old);
      }
      if (objects.size === 0) this.#objects.delete(namespace);
    }
    for (const item of items) this.#put(item);
  }
}
