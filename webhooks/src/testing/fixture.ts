import { Agent, request } from "node:https";
import { Writable } from "node:stream";
import { pino } from "pino";
import { Registry } from "prom-client";
import { IDENTITY_ANNOTATION, INJECT_LABEL, INJECT_LABEL_VALUE } from "../../../operator/src/api/names.ts";
import { createTestCa, issueServingCert, type PemPair, type TestCa } from "../../../testing/certs.ts";
import type { MachineIdentityLike } from "../identity.ts";
import { startWebhookServer, type WebhookServer, type WebhookServerOptions } from "../server.ts";

export interface Fixture {
  server: WebhookServer;
  ca: TestCa;
  serving: PemPair;
  registry: Registry;
  /** Every log line the server wrote, as text. */
  logs: string[];
  /** MachineIdentities by "namespace/name", as an informer cache would hold them. */
  identities: Map<string, MachineIdentityLike>;
  synced: { value: boolean };
  send(path: string, init?: SendInit): Promise<Reply>;
  close(): Promise<void>;
}

export interface SendInit {
  method?: string;
  body?: string | Buffer;
  headers?: Record<string, string | number>;
  /** Send the body in chunks, without a Content-Length. */
  chunked?: boolean;
}

export interface Reply {
  status: number;
  body: string;
}

/** A CA and a serving certificate for 127.0.0.1, minted for the test. */
export async function loopbackCertificates(): Promise<{ ca: TestCa; serving: PemPair }> {
  const ca = await createTestCa("signet-webhook-test-ca");
  return { ca, serving: await issueServingCert(ca, ["localhost"], ["127.0.0.1"]) };
}

/** Starts the real HTTPS server on loopback with an in-memory identity cache. */
export async function startFixture(overrides: Partial<WebhookServerOptions> = {}): Promise<Fixture> {
  const { ca, serving } = await loopbackCertificates();
  const logs: string[] = [];
  const sink = new Writable({
    write(chunk, _encoding, done) {
      logs.push(String(chunk));
      done();
    },
  });
  const identities = new Map<string, MachineIdentityLike>();
  const synced = { value: true };
  const registry = new Registry();
  const server = await startWebhookServer({
    trustDomain: "cluster.local",
    lookupIdentity: (namespace, name) => identities.get(`${namespace}/${name}`),
    listIdentities: (namespace) =>
      [...identities]
        .filter(([key]) => key.startsWith(`${namespace}/`))
        .map(([key, identity]) => ({ ...identity, metadata: { name: key.slice(namespace.length + 1) } })),
    identitiesSynced: () => synced.value,
    logger: pino({ level: "debug" }, sink),
    registry,
    port: 0,
    host: "127.0.0.1",
    servingCertificate: serving,
    ...overrides,
  });
  const agent = new Agent({ keepAlive: true, ca: ca.certPem, maxSockets: 16 });
  const send = (path: string, init: SendInit = {}): Promise<Reply> =>
    new Promise((resolve, reject) => {
      const body = init.body ?? "";
      const req = request(
        {
          host: "127.0.0.1",
          port: server.port,
          path,
          method: init.method ?? "POST",
          agent,
          headers: {
            "content-type": "application/json",
            ...(init.chunked ? {} : { "content-length": Buffer.byteLength(body) }),
            ...init.headers,
          },
        },
        (res) => {
          const chunks: Buffer[] = [];
          res.on("data", (c: Buffer) => chunks.push(c));
          res.on("end", () =>
            resolve({ status: res.statusCode ?? 0, body: Buffer.concat(chunks).toString("utf8") }),
          );
          res.on("error", reject);
        },
      );
      req.on("error", reject);
      if (init.chunked) {
        const buffer = Buffer.from(body);
        for (let at = 0; at < buffer.length; at += 64 * 1024) req.write(buffer.subarray(at, at + 64 * 1024));
        req.end();
      } else req.end(body);
    });
  return {
    server,
    ca,
    serving,
    registry,
    logs,
    identities,
    synced,
    send,
    close: async () => {
      agent.destroy();
      await server.close();
    },
  };
}

export function review(object: unknown, request: Record<string, unknown> = {}): Record<string, unknown> {
  return {
    apiVersion: "admission.k8s.io/v1",
    kind: "AdmissionReview",
    request: {
      uid: "705ab4f5-6393-11e8-b7cc-42010a800002",
      kind: { group: "", version: "v1", kind: "Pod" },
      resource: { group: "", version: "v1", resource: "pods" },
      operation: "CREATE",
      namespace: "shop",
      object,
      ...request,
    },
  };
}

export function optedInPod(
  identity = "payments-api",
  serviceAccountName = "payments",
): Record<string, unknown> {
  return {
    apiVersion: "v1",
    kind: "Pod",
    metadata: {
      generateName: "payments-",
      labels: { [INJECT_LABEL]: INJECT_LABEL_VALUE },
      annotations: { [IDENTITY_ANNOTATION]: identity },
    },
    spec: { serviceAccountName, containers: [{ name: "app", image: "pause" }] },
  };
}
