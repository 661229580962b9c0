import { once } from "node:events";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { createServer, type IncomingHttpHeaders, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import * as tls from "node:tls";
import fc from "fast-check";
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from "vitest";
import type { AccessPolicyInput } from "../policy/networkpolicies.ts";
import { base64url } from "../proof/format.ts";
import { channelBindingOf, signProof } from "../proof/index.ts";
import {
  CLIENT_ID,
  craftProof,
  SERVER_ID,
  type TestSvid,
  testRoot,
  testSvid,
} from "../proof/test-fixtures.ts";
import type { AuditLine } from "./audit.ts";
import { ProxyMetrics, startMetricsServer } from "./metrics.ts";
import { type ProxyOptions, type RunningProxy, startProxy } from "./server.ts";
import { ADDRESSED, connectMtls, type Response, readResponse, send } from "./test-support.ts";

// The proxy on real TLS 1.3 connections on loopback, in front of a tiny upstream that records what
// reaches it. Every refusal is made by a proof valid in every other respect.

const STRANGER_ID = "spiffe://cluster.local/ns/shop/id/stranger";
const CUSTOM_ID = "spiffe://cluster.local/team/checkout";

interface Received {
  method: string;
  url: string;
  headers: IncomingHttpHeaders;
  body: string;
}

let dir: string;
let bundle: string;
let serverSvid: TestSvid;
let client: TestSvid;
let upstream: Server;
let upstreamPort: number;
let received: Received[];
let clock: number;
let audit: AuditLine[];
let proxies: RunningProxy[];
let proofsSent: string[];
const sockets: tls.TLSSocket[] = [];

const POLICIES: AccessPolicyInput[] = [
  {
    metadata: { name: "checkout-to-payments", namespace: "shop" },
    spec: {
      target: { identity: "payments-api" },
      allowFrom: [
        { identity: "checkout", http: { methods: ["POST", "GET"], paths: ["/v1/charges", "/v1/refunds/*"] } },
      ],
    },
  },
  {
    metadata: { name: "stranger-to-orders", namespace: "shop" },
    spec: { target: { identity: "orders" }, allowFrom: [{ identity: "stranger" }] },
  },
];

function writeIdentity(svid: TestSvid, name = "identity"): ProxyOptions & { dir: string } {
  const at = join(dir, name);
  rmSync(at, { recursive: true, force: true });
  mkdtempSync(`${at}-`);
  const base = mkdtempSync(join(dir, `${name}-`));
  writeFileSync(join(base, "tls.crt"), svid.chainPem);
  writeFileSync(join(base, "tls.key"), svid.keyPem);
  writeFileSync(join(base, "ca.crt"), bundle);
  return {
    dir: base,
    certFile: join(base, "tls.crt"),
    keyFile: join(base, "tls.key"),
    caFile: join(base, "ca.crt"),
    listenPort: 0,
    listenHost: "127.0.0.1",
    upstream: `http://127.0.0.1:${upstreamPort}`,
    policies: () => POLICIES,
  };
}

async function proxyWith(overrides: Partial<ProxyOptions> = {}): Promise<RunningProxy> {
  const proxy = await startProxy({
    ...writeIdentity(serverSvid),
    now: () => clock,
    audit: (line) => audit.push(structuredClone(line)),
    ...overrides,
  });
  proxies.push(proxy);
  return proxy;
}

function connect(proxy: RunningProxy, svid: TestSvid = client): Promise<tls.TLSSocket> {
  return connectMtls(proxy.port, svid, bundle, SERVER_ID).then((socket) => {
    sockets.push(socket);
    return socket;
  });
}

async function proofFor(
  socket: tls.TLSSocket,
  over: { method?: string; url?: string; svid?: TestSvid; key?: TestSvid["key"]; now?: number } = {},
): Promise<string> {
  const svid = over.svid ?? client;
  const proof = await signProof({
    key: over.key ?? svid.key,
    certificate: svid.certificate,
    method: over.method ?? "POST",
    url: over.url ?? `https://${ADDRESSED}/v1/charges`,
    audience: SERVER_ID,
    channelBinding: channelBindingOf(socket),
    now: new Date(over.now ?? clock),
  });
  proofsSent.push(proof);
  return proof;
}

function reasonOf(response: Response): string {
  return (JSON.parse(response.body) as { reason: string }).reason;
}

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), "signet-proxy-"));
  bundle = (await testRoot()).certPem;
  serverSvid = await testSvid({ algorithm: "ECDSA", size: 256 }, SERVER_ID);
  client = await testSvid({ algorithm: "ECDSA", size: 256 }, CLIENT_ID);
  upstream = createServer((req, res) => {
    let body = "";
    req.setEncoding("utf8");
    req.on("data", (chunk: string) => {
      body += chunk;
    });
    req.on("end", () => {
      received.push({ method: req.method ?? "", url: req.url ?? "", headers: req.headers, body });
      const answer = JSON.stringify({ ok: true, echoed: body });
      res.writeHead(201, {
        "content-type": "application/json",
        "content-length": Buffer.byteLength(answer),
        "x-upstream": "yes",
        "keep-alive": "timeout=77",
      });
      res.end(answer);
    });
  });
  upstream.listen(0, "127.0.0.1");
  await once(upstream, "listening");
  upstreamPort = (upstream.address() as AddressInfo).port;
});

beforeEach(() => {
  received = [];
  audit = [];
  proxies = [];
  proofsSent = [];
  clock = Date.now();
});

afterEach(async () => {
  for (const socket of sockets.splice(0)) socket.destroy();
  await Promise.all(proxies.map((p) => p.stop()));
});

afterAll(async () => {
  await new Promise((resolve) => upstream.close(resolve));
  rmSync(dir, { recursive: true, force: true });
});

describe("signet proxy", () => {
  it("should forward a request with a fresh proof, streamed, with X-Signet-Caller and without the proof or hop-by-hop headers", async () => {
    const proxy = await proxyWith();
    const socket = await connect(proxy);
    const response = await send(socket, {
      path: "/v1/charges?amount=10",
      proof: await proofFor(socket),
      body: "amount=10&currency=EUR",
      headers: [
        "X-Signet-Caller: spiffe://cluster.local/ns/shop/id/admin",
        "Connection: keep-alive, X-Drop-Me",
        "X-Drop-Me: secret-hop",
        "Keep-Alive: timeout=77",
        "X-Request-Id: r-1",
      ],
    });
    expect(response.status).toBe(201);
    expect(JSON.parse(response.body)).toEqual({ ok: true, echoed: "amount=10&currency=EUR" });
    expect(response.headers["x-upstream"]).toBe("yes");
    expect(response.headers["keep-alive"]).not.toBe("timeout=77");
    expect(received).toHaveLength(1);
    const [got] = received as [Received];
    expect(got).toMatchObject({
      method: "POST",
      url: "/v1/charges?amount=10",
      body: "amount=10&currency=EUR",
    });
    expect(got.headers["x-signet-caller"]).toBe(CLIENT_ID);
    expect(got.headers["x-request-id"]).toBe("r-1");
    expect(got.headers.host).toBe(ADDRESSED);
    expect(got.headers["signet-proof"]).toBeUndefined();
    expect(got.headers["x-drop-me"]).toBeUndefined();
    expect(got.headers["keep-alive"]).toBeUndefined();
    expect(proxy.spiffeId).toBe(SERVER_ID);
  });

  it("should accept a fresh proof for every request on one connection", async () => {
    const proxy = await proxyWith();
    const socket = await connect(proxy);
    for (const path of ["/v1/charges", "/v1/refunds/r-1", "/v1/refunds/r-2"]) {
      const url = `https://${ADDRESSED}${path}`;
      expect((await send(socket, { path, proof: await proofFor(socket, { url }) })).status).toBe(201);
    }
    expect(received.map((r) => r.url)).toEqual(["/v1/charges", "/v1/refunds/r-1", "/v1/refunds/r-2"]);
  });

  it.each([
    {
      name: "the same proof a second time",
      status: 401,
      reason: "ProofReplayed",
      make: async (socket: tls.TLSSocket) => {
        const proof = await proofFor(socket);
        expect((await send(socket, { proof })).status).toBe(201);
        received = [];
        return { proof };
      },
    },
    {
      name: "a proof for another URL",
      status: 401,
      reason: "ProofUrlMismatch",
      make: async (socket: tls.TLSSocket) => ({
        proof: await proofFor(socket, { url: `https://${ADDRESSED}/v1/refunds/r-1` }),
      }),
    },
    {
      name: "a proof for the same path at another host",
      status: 401,
      reason: "ProofUrlMismatch",
      make: async (socket: tls.TLSSocket) => ({
        proof: await proofFor(socket, { url: "https://evil.example/v1/charges" }),
      }),
    },
    {
      name: "a proof for another method",
      status: 401,
      reason: "ProofMethodMismatch",
      make: async (socket: tls.TLSSocket) => ({ proof: await proofFor(socket, { method: "GET" }) }),
    },
    {
      name: "an expired proof",
      status: 401,
      reason: "ProofExpired",
      make: async (socket: tls.TLSSocket) => ({ proof: await proofFor(socket, { now: clock - 60_000 }) }),
    },
    {
      name: "a proof signed by another key than the presented SVID's",
      status: 401,
      reason: "ProofSignatureInvalid",
      make: async (socket: tls.TLSSocket) => {
        // signProof refuses a key that is not the certificate's: craft the proof instead.
        const other = await testSvid({ algorithm: "ECDSA", size: 256 }, CLIENT_ID, true);
        const iat = Math.floor(clock / 1000);
        const claims = {
          iat,
          exp: iat + 30,
          htu: `https://${ADDRESSED}/v1/charges`,
          cb: base64url(channelBindingOf(socket)),
        };
        const proof = await craftProof(client, "ES256", { claims, signWith: other.key });
        proofsSent.push(proof);
        return { proof };
      },
    },
    {
      name: "a proof made for another SVID of the same identity",
      status: 401,
      reason: "ProofBindingMismatch",
      make: async (socket: tls.TLSSocket) => {
        const other = await testSvid({ algorithm: "ECDSA", size: 256 }, CLIENT_ID, true);
        return { proof: await proofFor(socket, { svid: other }) };
      },
    },
    {
      name: "no proof",
      status: 401,
      reason: "ProofMissing",
      make: async () => ({ proof: undefined }),
    },
    {
      name: "two Signet-Proof fields",
      status: 401,
      reason: "ProofMalformed",
      make: async (socket: tls.TLSSocket) => {
        const proof = await proofFor(socket);
        return { proof, headers: [`Signet-Proof: ${proof}`] };
      },
    },
    {
      name: "a method the AccessPolicy does not list",
      status: 403,
      reason: "MethodNotAllowed",
      make: async (socket: tls.TLSSocket) => ({
        method: "DELETE",
        proof: await proofFor(socket, { method: "DELETE" }),
      }),
    },
    {
      name: "a path the AccessPolicy does not list",
      status: 403,
      reason: "PathNotAllowed",
      make: async (socket: tls.TLSSocket) => ({
        path: "/v1/admin",
        proof: await proofFor(socket, { url: `https://${ADDRESSED}/v1/admin` }),
      }),
    },
    {
      name: "a path outside the prefix through dot segments",
      status: 403,
      reason: "PathNotAllowed",
      make: async (socket: tls.TLSSocket) => ({
        path: "/v1/refunds/../admin",
        proof: await proofFor(socket, { url: `https://${ADDRESSED}/v1/admin` }),
      }),
    },
  ])("should refuse $name with $status $reason and call no upstream", async ({ status, reason, make }) => {
    const proxy = await proxyWith();
    const socket = await connect(proxy);
    const call = await make(socket);
    const response = await send(socket, call);
    expect({ status: response.status, reason: reasonOf(response) }).toEqual({ status, reason });
    expect(response.headers["content-type"]).toBe("application/json");
    expect(response.headers["www-authenticate"]).toBe(
      status === 401 ? `Signet-Proof error="${reason}"` : undefined,
    );
    expect((JSON.parse(response.body) as { message: string }).message.length).toBeGreaterThan(0);
    expect(received).toEqual([]);
  });

  it("should refuse a proof made for another TLS connection with 401 ProofChannelMismatch", async () => {
    const proxy = await proxyWith();
    const [own, other] = [await connect(proxy), await connect(proxy)];
    const proof = await proofFor(own);
    const response = await send(other, { proof });
    expect({ status: response.status, reason: reasonOf(response) }).toEqual({
      status: 401,
      reason: "ProofChannelMismatch",
    });
    expect(received).toEqual([]);
    // On its own connection the same proof is still good: the refusal took no replay-cache entry.
    expect((await send(own, { proof })).status).toBe(201);
  });

  it("should refuse an identity that no AccessPolicy allows with 403 CallerNotAllowed", async () => {
    const proxy = await proxyWith();
    const stranger = await testSvid({ algorithm: "ECDSA", size: 256 }, STRANGER_ID);
    const socket = await connect(proxy, stranger);
    const response = await send(socket, { proof: await proofFor(socket, { svid: stranger }) });
    expect({ status: response.status, reason: reasonOf(response) }).toEqual({
      status: 403,
      reason: "CallerNotAllowed",
    });
    expect(received).toEqual([]);
  });

  it("should refuse a caller whose SPIFFE ID names no identity with 403 CallerNotAnIdentity", async () => {
    const proxy = await proxyWith();
    const custom = await testSvid({ algorithm: "Ed25519" }, CUSTOM_ID);
    const socket = await connect(proxy, custom);
    const response = await send(socket, { proof: await proofFor(socket, { svid: custom }) });
    expect({ status: response.status, reason: reasonOf(response) }).toEqual({
      status: 403,
      reason: "CallerNotAnIdentity",
    });
    expect(received).toEqual([]);
  });

  it("should follow the policies it is given at every request", async () => {
    let policies = POLICIES;
    const proxy = await proxyWith({ policies: () => policies });
    const socket = await connect(proxy);
    expect((await send(socket, { proof: await proofFor(socket) })).status).toBe(201);
    policies = POLICIES.map((p) => ({ ...p, spec: { ...p.spec, suspend: true } }));
    const response = await send(socket, { proof: await proofFor(socket) });
    expect({ status: response.status, reason: reasonOf(response) }).toEqual({
      status: 403,
      reason: "CallerNotAllowed",
    });
    expect(received).toHaveLength(1);
  });

  it("should answer 503 ReplayCacheFull when the replay cache is full", async () => {
    const proxy = await proxyWith({ maxEntries: 1 });
    const socket = await connect(proxy);
    expect((await send(socket, { proof: await proofFor(socket) })).status).toBe(201);
    const response = await send(socket, { proof: await proofFor(socket) });
    expect({ status: response.status, reason: reasonOf(response) }).toEqual({
      status: 503,
      reason: "ReplayCacheFull",
    });
    expect(received).toHaveLength(1);
  });

  it("should answer 502 UpstreamUnavailable when the workload does not answer", async () => {
    const closed = createServer();
    closed.listen(0, "127.0.0.1");
    await once(closed, "listening");
    const port = (closed.address() as AddressInfo).port;
    await new Promise((resolve) => closed.close(resolve));
    const proxy = await proxyWith({ upstream: `http://127.0.0.1:${port}` });
    const socket = await connect(proxy);
    const response = await send(socket, { proof: await proofFor(socket) });
    expect({ status: response.status, reason: reasonOf(response) }).toEqual({
      status: 502,
      reason: "UpstreamUnavailable",
    });
    expect(audit.at(-1)).toMatchObject({ outcome: "accepted", reason: "UpstreamUnavailable", status: 502 });
  });

  it("should count every outcome by reason on its /metrics listener", async () => {
    const metrics = new ProxyMetrics();
    const proxy = await proxyWith({ metrics });
    const endpoint = await startMetricsServer(metrics.registry, 0, "127.0.0.1");
    try {
      const socket = await connect(proxy);
      const proof = await proofFor(socket);
      await send(socket, { proof });
      await send(socket, { proof });
      await send(socket, { proof: await proofFor(socket) });
      await send(socket, { proof: await proofFor(socket, { method: "GET" }) });
      await send(socket, { method: "DELETE", proof: await proofFor(socket, { method: "DELETE" }) });
      await send(socket, {});
      const text = await (await fetch(`http://127.0.0.1:${endpoint.port}/metrics`)).text();
      const count = (outcome: string, reason: string) =>
        Number(
          new RegExp(`^signet_proofs_total\\{outcome="${outcome}",reason="${reason}"\\} (\\d+)$`, "m").exec(
            text,
          )?.[1] ?? 0,
        );
      expect(count("accepted", "Allowed")).toBe(2);
      expect(count("refused", "ProofReplayed")).toBe(1);
      expect(count("refused", "ProofMethodMismatch")).toBe(1);
      expect(count("refused", "MethodNotAllowed")).toBe(1);
      expect(count("refused", "ProofMissing")).toBe(1);
      expect((await fetch(`http://127.0.0.1:${endpoint.port}/other`)).status).toBe(404);
    } finally {
      await endpoint.stop();
    }
  });

  it("should write one audit line per request, naming caller, target, policy and reason, and never a proof", async () => {
    const proxy = await proxyWith();
    const socket = await connect(proxy);
    const proof = await proofFor(socket);
    await send(socket, { path: "/v1/charges?card=4111111111111111", proof });
    await send(socket, { proof });
    await send(socket, {
      path: "/v1/admin",
      proof: await proofFor(socket, { url: `https://${ADDRESSED}/v1/admin` }),
    });
    expect(audit).toEqual([
      {
        time: new Date(clock).toISOString(),
        caller: CLIENT_ID,
        peer: CLIENT_ID,
        target: SERVER_ID,
        method: "POST",
        path: "/v1/charges",
        outcome: "accepted",
        reason: "Allowed",
        policy: "checkout-to-payments",
        status: 201,
      },
      expect.objectContaining({
        caller: null,
        peer: CLIENT_ID,
        outcome: "refused",
        reason: "ProofReplayed",
        policy: null,
        status: 401,
      }),
      expect.objectContaining({
        caller: CLIENT_ID,
        path: "/v1/admin",
        outcome: "refused",
        reason: "PathNotAllowed",
        policy: "checkout-to-payments",
        status: 403,
      }),
    ]);
    const text = JSON.stringify(audit);
    expect(proofsSent.length).toBe(2);
    for (const sent of proofsSent) {
      for (const part of sent.split(".")) expect(text).not.toContain(part);
    }
    expect(text).not.toContain("4111111111111111");
  });

  it("should answer malformed requests without crashing and go on serving", async () => {
    const proxy = await proxyWith();
    const garbage = [
      "GARBAGE\r\n\r\n",
      "GET /v1/charges HTTP/1.1\r\nHost: a\r\nContent-Length: x\r\n\r\n",
      "GET /v1/charges HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\nContent-Length: 3\r\n\r\n",
      "POST /v1/charges HTTP/1.1\r\nContent-Length: 0\r\nSignet-Proof: a.b.c\r\n\r\n",
      "OPTIONS * HTTP/1.1\r\nHost: payments.shop.svc:8443\r\nContent-Length: 0\r\n\r\n",
      "GET http://evil.example/v1/charges HTTP/1.1\r\nHost: payments.shop.svc:8443\r\nContent-Length: 0\r\n\r\n",
      "GET /v1/\xff\xfe HTTP/1.1\r\nHost: [::1\r\nContent-Length: 0\r\n\r\n",
      `GET /v1/charges HTTP/1.1\r\nHost: a\r\nSignet-Proof: ${"x".repeat(20_000)}\r\n\r\n`,
      "GET /v1/charges HTTP/1.1\r\nHost: a\r\nAuthorization: Bearer \x01\r\nContent-Length: 0\r\n\r\n",
    ];
    const oneShot = async (bytes: Buffer): Promise<number | undefined> => {
      const socket = await connect(proxy);
      const response = readResponse(socket).then(
        (r) => r.status,
        () => undefined,
      );
      socket.end(bytes);
      return response;
    };
    for (const text of garbage) {
      const status = await oneShot(Buffer.from(text, "latin1"));
      expect(status === undefined || (status >= 400 && status < 500), JSON.stringify(text.slice(0, 80))).toBe(
        true,
      );
    }
    await fc.assert(
      fc.asyncProperty(fc.uint8Array({ minLength: 1, maxLength: 300 }), async (bytes) => {
        const status = await oneShot(Buffer.from(bytes));
        return status === undefined || (status >= 400 && status < 500);
      }),
      { numRuns: 30 },
    );
    expect(received).toEqual([]);
    const socket = await connect(proxy);
    expect((await send(socket, { proof: await proofFor(socket) })).status).toBe(201);
  });

  it("should present a new certificate once the identity files change, and refuse clients outside the bundle", async () => {
    const files = writeIdentity(serverSvid, "reload");
    const proxy = await proxyWith({ ...files, reloadIntervalMs: 50 });
    const before = proxy.serial();
    const renewed = await testSvid({ algorithm: "ECDSA", size: 256 }, SERVER_ID, true);
    writeFileSync(files.keyFile, renewed.keyPem);
    writeFileSync(files.certFile, renewed.chainPem);
    await expect.poll(() => proxy.serial(), { timeout: 5_000 }).not.toBe(before);
    const socket = await connect(proxy);
    expect(socket.getPeerX509Certificate()?.serialNumber.toLowerCase()).toBe(proxy.serial());
    expect((await send(socket, { proof: await proofFor(socket) })).status).toBe(201);

    const { createRootCa } = await import("../pki/ca.ts");
    const { mintSvid } = await import("../pki/mint.ts");
    const foreign = await createRootCa({
      commonName: "Foreign",
      trustDomain: "cluster.local",
      validity: 3_600_000,
      now: new Date(),
    });
    const outsider = await mintSvid({
      ca: foreign.ca,
      spiffeId: CLIENT_ID,
      ttlMs: 600_000,
      keyAlgorithm: { algorithm: "ECDSA", size: 256 },
      now: new Date(),
    });
    const refused = tls.connect({
      host: "127.0.0.1",
      port: proxy.port,
      cert: outsider.chainPem,
      key: outsider.keyPem,
      ca: bundle,
      minVersion: "TLSv1.3",
      checkServerIdentity: () => undefined,
    });
    sockets.push(refused);
    refused.on("data", () => {});
    const [outcome] = await Promise.race([
      once(refused, "error"),
      once(refused, "close").then(() => [new Error("closed")]),
    ]);
    expect(outcome).toBeInstanceOf(Error);
  });

  it("should refuse to start with a certificate that names no identity", async () => {
    const custom = await testSvid({ algorithm: "ECDSA", size: 256 }, CUSTOM_ID);
    await expect(startProxy({ ...writeIdentity(custom, "custom") })).rejects.toThrow(
      /names spiffe:\/\/cluster.local\/team\/checkout, not spiffe:\/\/<trust domain>\/ns\/<namespace>\/id\/<name>/,
    );
  });
});
