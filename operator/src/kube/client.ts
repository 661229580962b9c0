import { readFileSync } from "node:fs";
import * as http from "node:http";
import * as https from "node:https";
import type { Connection } from "./kubeconfig.ts";

/**
 * A client for the calls Signet makes to the API server, over node:https with one keep-alive
 * connection pool: JSON requests and watch streams, typed by the caller with client-node's types.
 *
 * Why not client-node's runtime: importing @kubernetes/client-node takes a Node 24 process from
 * 43 to 135 MB RSS (its generated layer is about 870 modules, kept as source strings and bytecode
 * whether used or not), and its deserializer copies every object it returns. Signet needs a few
 * dozen calls on nine resources; this is those calls, with client-node's types kept (imported as
 * types only, so they cost nothing at run time).
 */

export type Query = Record<string, string | number | boolean | undefined>;

export interface RequestOptions {
  query?: Query;
  /** Sent as JSON unless it is a string. */
  body?: unknown;
  /** Default application/json when there is a body. */
  contentType?: string;
  /** Default application/json. */
  accept?: string;
  signal?: AbortSignal;
  /** The whole request, answer included. Default 30 s. */
  timeoutMs?: number;
}

/**
 * An answer other than 2xx. `code` is the HTTP status, `body` the Status object the API server sent
 * (or its text), `headers` the response headers under lower-case names.
 */
export class ApiError extends Error {
  readonly code: number;
  readonly body: unknown;
  readonly headers: Record<string, string>;
  constructor(method: string, path: string, code: number, body: unknown, headers: Record<string, string>) {
    const status =
      typeof body === "object" && body !== null ? (body as { message?: unknown; reason?: unknown }) : {};
    const detail =
      typeof status.message === "string"
        ? status.message
        : typeof body === "string" && body.length > 0 && body.length < 300
          ? body
          : (http.STATUS_CODES[code] ?? "error");
    super(`${method} ${path.split("?")[0]}: ${code} ${detail}`);
    this.name = "ApiError";
    this.code = code;
    this.body = body;
    this.headers = headers;
  }
}

/** A write refused because this replica may no longer write (it is not, or no longer surely, the leader). */
export class FencedWriteError extends Error {
  readonly code = "FencedWrite";
  constructor(method: string, path: string) {
    super(`refused ${method} ${path.split("?")[0]}: this replica is not the leader`);
    this.name = "FencedWriteError";
  }
}

/** One event of a watch stream, as the API server sends it. */
export interface WatchEvent {
  type: string;
  object: unknown;
}

/** The watch contract of the informers: `done` is called exactly once, with null when the stream ended well. */
export interface Watcher {
  watch(
    path: string,
    query: Query,
    callback: (type: string, object: unknown, event: WatchEvent) => void,
    done: (error: unknown) => void,
    options?: { accept?: string },
  ): Promise<AbortController>;
}

const TOKEN_REREAD_MS = 60_000;

export class KubeClient implements Watcher {
  readonly #connection: Connection;
  readonly #agent: http.Agent;
  readonly #mayWrite: () => boolean;
  readonly #token: { value: string | undefined; readAt: number };

  constructor(
    connection: Connection,
    shared?: { agent: http.Agent; mayWrite: () => boolean; token: KubeClient },
  ) {
    this.#connection = connection;
    this.#mayWrite = shared?.mayWrite ?? (() => true);
    this.#token = shared ? shared.token.#token : { value: undefined, readAt: Number.NEGATIVE_INFINITY };
    this.#agent =
      shared?.agent ??
      (connection.server.startsWith("https:")
        ? new https.Agent({
            keepAlive: true,
            ...(connection.ca ? { ca: connection.ca } : {}),
            ...(connection.cert ? { cert: connection.cert } : {}),
            ...(connection.key ? { key: connection.key } : {}),
            rejectUnauthorized: !connection.insecureSkipTlsVerify,
            ...(connection.tlsServerName ? { servername: connection.tlsServerName } : {}),
          })
        : new http.Agent({ keepAlive: true }));
  }

  /** Where this client connects, for messages. */
  get server(): string {
    return this.#connection.server;
  }

  /**
   * The same client (connections, credentials) whose writes are refused unless `mayWrite()` holds at
   * the moment each is sent; reads and watches always go. Leader-elected controllers get one built
   * on the elector's isLeader(), which turns false once the last renewal is older than the renew
   * deadline, itself below the lease duration.
   */
  fenced(mayWrite: () => boolean): KubeClient {
    const outer = this.#mayWrite;
    return new KubeClient(this.#connection, {
      agent: this.#agent,
      mayWrite: () => outer() && mayWrite(),
      token: this,
    });
  }

  /** Closes idle connections; open watches end as their requests are aborted. */
  close(): void {
    this.#agent.destroy();
  }

  async request<T>(method: string, path: string, options: RequestOptions = {}): Promise<T> {
    const response = await this.#send(method, path, options, options.accept ?? "application/json");
    const text = await readBody(response, options.signal);
    const headers = headersOf(response);
    const code = response.statusCode ?? 0;
    const parsed = text.length === 0 ? undefined : parseJson(text);
    if (code < 200 || code >= 300) throw new ApiError(method, path, code, parsed ?? text, headers);
    if (text.length > 0 && parsed === undefined) {
      throw new ApiError(method, path, code, `the answer is not JSON: ${text.slice(0, 100)}`, headers);
    }
    return parsed as T;
  }

  async watch(
    path: string,
    query: Query,
    callback: (type: string, object: unknown, event: WatchEvent) => void,
    done: (error: unknown) => void,
    options: { accept?: string } = {},
  ): Promise<AbortController> {
    const controller = new AbortController();
    let finished = false;
    let idle: NodeJS.Timeout | undefined;
    const finish = (error: unknown) => {
      if (finished) return;
      finished = true;
      if (idle) clearTimeout(idle);
      controller.abort();
      done(error);
    };
    // The server ends each watch after its timeoutSeconds; a stream silent well past that is dead.
    const idleMs = (Number(query.timeoutSeconds) || 600) * 1000 + 30_000;
    const touch = () => {
      if (idle) clearTimeout(idle);
      idle = setTimeout(
        () =>
          finish(
            Object.assign(new Error(`watch ${path}: no data for ${idleMs} ms`), { name: "TimeoutError" }),
          ),
        idleMs,
      );
      idle.unref();
    };
    try {
      touch();
      const response = await this.#send(
        "GET",
        path,
        { query: { ...query, watch: true }, signal: controller.signal, timeoutMs: 0 },
        options.accept ?? "application/json",
      );
      const code = response.statusCode ?? 0;
      if (code !== 200) {
        const text = await readBody(response, controller.signal).catch(() => "");
        throw new ApiError("GET", path, code, parseJson(text) ?? text, headersOf(response));
      }
      response.setEncoding("utf8");
      let buffered = "";
      response.on("data", (chunk: string) => {
        touch();
        buffered += chunk;
        let newline = buffered.indexOf("\n");
        while (newline >= 0) {
          const line = buffered.slice(0, newline);
          buffered = buffered.slice(newline + 1);
          newline = buffered.indexOf("\n");
          if (line.trim() === "") continue;
          const event = parseJson(line) as WatchEvent | undefined;
          if (event === undefined || typeof event.type !== "string") {
            finish(new Error(`watch ${path}: the server sent a line that is not a watch event`));
            return;
          }
          if (finished) return;
          callback(event.type, event.object, event);
        }
      });
      response.on("end", () => finish(null));
      response.on("error", (error) => finish(controller.signal.aborted ? null : error));
      response.on("close", () => finish(null));
    } catch (error) {
      finish(error);
    }
    return controller;
  }

  #bearer(): string | undefined {
    const { token, tokenFile } = this.#connection;
    if (token) return token;
    if (!tokenFile) return undefined;
    const now = Date.now();
    if (now - this.#token.readAt >= TOKEN_REREAD_MS) {
      this.#token.value = readFileSync(tokenFile, "utf8").trim();
      this.#token.readAt = now;
    }
    return this.#token.value;
  }

  #send(
    method: string,
    path: string,
    options: RequestOptions,
    accept: string,
  ): Promise<http.IncomingMessage> {
    if (method !== "GET" && method !== "HEAD" && !this.#mayWrite()) {
      return Promise.reject(new FencedWriteError(method, path));
    }
    const url = new URL(this.#connection.server + path);
    for (const [key, value] of Object.entries(options.query ?? {})) {
      if (value !== undefined) url.searchParams.set(key, String(value));
    }
    const body =
      options.body === undefined
        ? undefined
        : typeof options.body === "string"
          ? options.body
          : JSON.stringify(options.body);
    const headers: http.OutgoingHttpHeaders = { accept, "user-agent": "signet" };
    if (body !== undefined) {
      headers["content-type"] = options.contentType ?? "application/json";
      headers["content-length"] = Buffer.byteLength(body);
    }
    const bearer = this.#bearer();
    if (bearer) headers.authorization = `Bearer ${bearer}`;
    const transport = url.protocol === "https:" ? https : http;
    return new Promise((resolve, reject) => {
      const req = transport.request(
        url,
        { method, headers, agent: this.#agent, signal: options.signal },
        resolve,
      );
      req.on("error", reject);
      const timeoutMs = options.timeoutMs ?? 30_000;
      if (timeoutMs > 0) {
        req.setTimeout(timeoutMs, () =>
          req.destroy(
            Object.assign(new Error(`${method} ${url.pathname}: no answer within ${timeoutMs} ms`), {
              name: "TimeoutError",
            }),
          ),
        );
      }
      req.end(body);
    });
  }
}

function parseJson(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    return undefined;
  }
}

function headersOf(response: http.IncomingMessage): Record<string, string> {
  const headers: Record<string, string> = {};
  for (const [name, value] of Object.entries(response.headers)) {
    if (value !== undefined) headers[name] = Array.isArray(value) ? value.join(", ") : value;
  }
  return headers;
}

function readBody(response: http.IncomingMessage, signal?: AbortSignal): Promise<string> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    response.on("data", (chunk: Buffer) => chunks.push(chunk));
    response.on("end", () => resolve(Buffer.concat(chunks).toString("utf8")));
    response.on("error", reject);
    response.on("aborted", () => reject(new Error("the answer was cut off")));
    signal?.addEventListener("abort", () => reject(signal.reason), { once: true });
  });
}
