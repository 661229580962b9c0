import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";
import type { V1ConfigMap } from "@kubernetes/client-node";
import { afterAll, beforeAll, beforeEach, describe, expect, it } from "vitest";
import { ApiError, FencedWriteError, KubeClient, type WatchEvent } from "./client.ts";
import { CONFIG_MAPS, METADATA_ACCEPT, microTime, resourceClient, SECRETS } from "./resources.ts";

interface Seen {
  method: string;
  path: string;
  query: URLSearchParams;
  headers: IncomingMessage["headers"];
  body: string;
}

/** An HTTP server that records each request and answers with what `answer` says (default: 200 {}). */
let server: Server;
let seen: Seen[] = [];
let answer: (req: Seen, res: ServerResponse) => void;
let kube: KubeClient;

const json = (res: ServerResponse, code: number, body: unknown, headers: Record<string, string> = {}) => {
  res.writeHead(code, { "content-type": "application/json", ...headers });
  res.end(JSON.stringify(body));
};

beforeAll(async () => {
  server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on("data", (c: Buffer) => chunks.push(c));
    req.on("end", () => {
      const url = new URL(req.url ?? "/", "http://x");
      const request = {
        method: req.method ?? "",
        path: url.pathname,
        query: url.searchParams,
        headers: req.headers,
        body: Buffer.concat(chunks).toString("utf8"),
      };
      seen.push(request);
      answer(request, res);
    });
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  kube = new KubeClient({
    server: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    token: "t0ken",
    source: "test",
  });
});
afterAll(() => {
  kube.close();
  return new Promise<void>((resolve) => server.close(() => resolve()));
});
beforeEach(() => {
  seen = [];
  answer = (_req, res) => json(res, 200, { metadata: { name: "x", namespace: "ns" } });
});

const cm = (name: string): V1ConfigMap => ({ metadata: { name, namespace: "ns" }, data: { a: "1" } });

describe("KubeClient requests", () => {
  it("should send each call to its path with its query, content type and bearer token", async () => {
    const configMaps = resourceClient(kube, CONFIG_MAPS);
    await configMaps.get("ns", "a");
    await configMaps.list("ns", { labelSelector: "x=y", limit: 500, continue: "c1" });
    await configMaps.create(cm("b"));
    await configMaps.replace(cm("c"));
    await configMaps.patch("ns", "d", { data: { a: "2" } }, "merge");
    await configMaps.apply(cm("e"), { fieldManager: "me" });
    await configMaps.delete("ns", "f", { preconditions: { resourceVersion: "7" } });
    expect(seen.map((s) => `${s.method} ${s.path}`)).toEqual([
      "GET /api/v1/namespaces/ns/configmaps/a",
      "GET /api/v1/namespaces/ns/configmaps",
      "POST /api/v1/namespaces/ns/configmaps",
      "PUT /api/v1/namespaces/ns/configmaps/c",
      "PATCH /api/v1/namespaces/ns/configmaps/d",
      "PATCH /api/v1/namespaces/ns/configmaps/e",
      "DELETE /api/v1/namespaces/ns/configmaps/f",
    ]);
    expect(Object.fromEntries(seen[1]?.query ?? [])).toEqual({
      labelSelector: "x=y",
      limit: "500",
      continue: "c1",
    });
    expect(seen.every((s) => s.headers.authorization === "Bearer t0ken")).toBe(true);
    expect(seen[2]?.headers["content-type"]).toBe("application/json");
    expect(JSON.parse(seen[2]?.body ?? "")).toMatchObject({ apiVersion: "v1", kind: "ConfigMap" });
    expect(seen[4]?.headers["content-type"]).toBe("application/merge-patch+json");
    expect(seen[5]?.headers["content-type"]).toBe("application/apply-patch+yaml");
    expect(Object.fromEntries(seen[5]?.query ?? [])).toEqual({ fieldManager: "me", force: "true" });
    expect(JSON.parse(seen[6]?.body ?? "")).toMatchObject({ preconditions: { resourceVersion: "7" } });
  });

  it("should write to the status subresource and to cluster-scoped paths", async () => {
    const secrets = resourceClient(kube, SECRETS);
    await secrets.replaceStatus({ metadata: { name: "s", namespace: "ns" } });
    await resourceClient(kube, { ...CONFIG_MAPS, namespaced: false }).get("ignored", "n");
    expect(seen.map((s) => `${s.method} ${s.path}`)).toEqual([
      "PUT /api/v1/namespaces/ns/secrets/s/status",
      "GET /api/v1/configmaps/n",
    ]);
  });

  it("should refuse to write an object without a name or a namespaced object without a namespace", async () => {
    const configMaps = resourceClient(kube, CONFIG_MAPS);
    await expect(configMaps.replace({ metadata: { namespace: "ns" } })).rejects.toThrow(
      /without metadata.name/,
    );
    await expect(configMaps.replace({ metadata: { name: "x" } })).rejects.toThrow(
      /ConfigMap x has no metadata.namespace/,
    );
    expect(seen).toEqual([]);
  });

  it("should reject an answer other than 2xx with its code, the Status message and the headers", async () => {
    answer = (_req, res) =>
      json(
        res,
        409,
        { kind: "Status", code: 409, reason: "Conflict", message: 'configmaps "a" already exists' },
        { "retry-after": "2" },
      );
    const error = await resourceClient(kube, CONFIG_MAPS)
      .create(cm("a"))
      .catch((e: unknown) => e);
    expect(error).toBeInstanceOf(ApiError);
    expect(error).toMatchObject({ code: 409, headers: { "retry-after": "2" } });
    expect((error as Error).message).toBe(
      'POST /api/v1/namespaces/ns/configmaps: 409 configmaps "a" already exists',
    );
  });

  it("should find nothing for a 404 and rethrow any other error", async () => {
    answer = (req, res) =>
      req.path.endsWith("/gone") ? json(res, 404, { kind: "Status", code: 404 }) : json(res, 500, "boom");
    const configMaps = resourceClient(kube, CONFIG_MAPS);
    expect(await configMaps.find("ns", "gone")).toBeUndefined();
    await expect(configMaps.find("ns", "other")).rejects.toMatchObject({ code: 500 });
  });

  it("should reject a 2xx answer that is not JSON instead of returning text", async () => {
    answer = (_req, res) => {
      res.writeHead(200, { "content-type": "text/html" });
      res.end("<html>proxy</html>");
    };
    await expect(resourceClient(kube, CONFIG_MAPS).get("ns", "a")).rejects.toThrow(/not JSON/);
  });

  it("should ask for metadata only when listing metadata", async () => {
    await resourceClient(kube, SECRETS).listMetadata(undefined);
    expect(seen[0]?.path).toBe("/api/v1/secrets");
    expect(seen[0]?.headers.accept).toMatch(
      /^application\/json;as=PartialObjectMetadataList;g=meta.k8s.io;v=v1,/,
    );
  });
});

describe("KubeClient.fenced", () => {
  it("should send reads whatever the fence says, and writes only while it allows them", async () => {
    let leading = true;
    const fenced = resourceClient(
      kube.fenced(() => leading),
      CONFIG_MAPS,
    );
    await fenced.create(cm("a"));
    leading = false;
    await fenced.get("ns", "a");
    await fenced.list("ns");
    for (const write of [
      () => fenced.create(cm("b")),
      () => fenced.replace(cm("b")),
      () => fenced.patch("ns", "b", {}, "merge"),
      () => fenced.apply(cm("b")),
      () => fenced.delete("ns", "b"),
    ]) {
      await expect(write()).rejects.toBeInstanceOf(FencedWriteError);
    }
    expect(seen.map((s) => s.method)).toEqual(["POST", "GET", "GET"]);
  });

  it("should ask the fence at the moment each write is sent, and leave the client it wraps unfenced", async () => {
    const answers = [true, false, true];
    const fenced = resourceClient(
      kube.fenced(() => answers.shift() ?? false),
      CONFIG_MAPS,
    );
    const results = await Promise.allSettled([
      fenced.create(cm("1")),
      fenced.create(cm("2")),
      fenced.create(cm("3")),
    ]);
    expect(results.map((r) => r.status)).toEqual(["fulfilled", "rejected", "fulfilled"]);
    await resourceClient(kube, CONFIG_MAPS).create(cm("4"));
    expect(seen).toHaveLength(3);
  });

  it("should name the method and the path it refused, never a query or a body", async () => {
    const fenced = resourceClient(
      kube.fenced(() => false),
      SECRETS,
    );
    const error = await fenced
      .create(
        { metadata: { name: "s", namespace: "ns" }, data: { "tls.key": "c2VjcmV0" } },
        { fieldManager: "x" },
      )
      .catch((e: unknown) => e);
    expect((error as Error).message).toBe(
      "refused POST /api/v1/namespaces/ns/secrets: this replica is not the leader",
    );
  });
});

describe("KubeClient.watch", () => {
  /** Answers a watch with the given lines, then ends the stream (or keeps it open). */
  const stream = (lines: string[], end = true) => {
    answer = (_req, res) => {
      res.writeHead(200, { "content-type": "application/json" });
      // Split mid-line, as a network would.
      const text = lines.join("\n") + (lines.length ? "\n" : "");
      res.write(text.slice(0, 7));
      setTimeout(() => {
        res.write(text.slice(7));
        if (end) res.end();
      }, 10);
    };
  };
  const watchAll = (query = {}, accept?: string) =>
    new Promise<{ events: WatchEvent[]; error: unknown }>((resolve, reject) => {
      const events: WatchEvent[] = [];
      kube
        .watch(
          "/api/v1/namespaces/ns/configmaps",
          query,
          (_type, _obj, event) => events.push(event),
          (error) => resolve({ events, error }),
          accept ? { accept } : {},
        )
        .catch(reject);
    });

  it("should deliver every event of the stream in order, lines split across chunks, then end with null", async () => {
    const events = [
      { type: "ADDED", object: { metadata: { name: "a", resourceVersion: "1" } } },
      { type: "MODIFIED", object: { metadata: { name: "a", resourceVersion: "2" } } },
      { type: "BOOKMARK", object: { metadata: { resourceVersion: "3" } } },
    ];
    stream(events.map((e) => JSON.stringify(e)));
    const result = await watchAll({ resourceVersion: "0", timeoutSeconds: 5 }, METADATA_ACCEPT);
    expect(result).toEqual({ events, error: null });
    expect(Object.fromEntries(seen[0]?.query ?? [])).toEqual({
      resourceVersion: "0",
      timeoutSeconds: "5",
      watch: "true",
    });
    expect(seen[0]?.headers.accept).toBe(METADATA_ACCEPT);
  });

  it("should end with an error carrying the code when the watch is refused", async () => {
    answer = (_req, res) =>
      json(res, 410, { kind: "Status", code: 410, reason: "Expired" }, { "retry-after": "1" });
    const { events, error } = await watchAll();
    expect(events).toEqual([]);
    expect(error).toMatchObject({ code: 410, headers: { "retry-after": "1" } });
  });

  it("should end with an error, not a crash, when the server sends a line that is not a watch event", async () => {
    stream(['{"type":"ADDED","object":{}}', "<html>", '{"type":"ADDED","object":{}}']);
    const { events, error } = await watchAll();
    expect(events).toHaveLength(1);
    expect((error as Error).message).toMatch(/not a watch event/);
  });

  it("should call done once, with null, when the caller aborts an open watch", async () => {
    stream([JSON.stringify({ type: "ADDED", object: {} })], false);
    const dones: unknown[] = [];
    const controller = await kube.watch(
      "/api/v1/namespaces/ns/configmaps",
      {},
      () => controller.abort(),
      (error) => dones.push(error),
    );
    await new Promise((resolve) => setTimeout(resolve, 100));
    expect(dones).toEqual([null]);
  });

  it("should end with the connection error when nothing listens", async () => {
    const closed = new KubeClient({ server: "http://127.0.0.1:1", source: "test" });
    const error = await new Promise((resolve) => void closed.watch("/api/v1/pods", {}, () => {}, resolve));
    expect((error as { code?: string }).code).toBe("ECONNREFUSED");
  });
});

describe("microTime", () => {
  it("should write six fractional digits, as the API server's MicroTime needs", () => {
    expect(microTime(Date.UTC(2026, 11, 2, 3, 4, 5, 67))).toBe("2026-12-02T03:04:05.067000Z");
  });
});
