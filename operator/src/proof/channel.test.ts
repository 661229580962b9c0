import { once } from "node:events";
import { createServer, type Server } from "node:https";
import type { AddressInfo } from "node:net";
import * as tls from "node:tls";
import { afterAll, beforeAll, describe, expect, it, vi } from "vitest";
import { channelBindingOf } from "./channel.ts";
import { ProofReason } from "./reasons.ts";
import { signProof } from "./sign.ts";
import { CLIENT_ID, SERVER_ID, type TestSvid, testRoot, testSvid } from "./test-fixtures.ts";
import { createVerifier, type Verifier } from "./verify.ts";

// Real TLS 1.3 connections on loopback between a client and two replicas of one service, each
// with its own verifier and nothing shared: what `signet proxy` will do per request, over HTTP/1.1.

const ADDRESSED = "payments.shop.svc:8443";
const PATH = "/v1/charges";

interface Replica {
  server: Server;
  port: number;
  verifier: Verifier;
  /** The server side's channel binding of each connection, by the client's port. */
  bindings: Map<number, Buffer>;
}

let bundle: string;
let serverSvid: TestSvid;
let clientSvid: TestSvid;
let replicas: Replica[];
const sockets: tls.TLSSocket[] = [];

async function startReplica(): Promise<Replica> {
  const verifier = createVerifier({ audience: SERVER_ID });
  const bindings = new Map<number, Buffer>();
  const server = createServer(
    {
      cert: serverSvid.chainPem,
      key: serverSvid.keyPem,
      ca: bundle,
      requestCert: true,
      rejectUnauthorized: true,
      minVersion: "TLSv1.3",
    },
    async (req, res) => {
      const socket = req.socket as tls.TLSSocket;
      const verdict = await verifier.verify({
        proof: req.headers["signet-proof"],
        method: req.method ?? "",
        url: `https://${req.headers.host}${req.url}`,
        peerCertificate: socket.getPeerX509Certificate() as NonNullable<
          ReturnType<tls.TLSSocket["getPeerX509Certificate"]>
        >,
        channelBinding: channelBindingOf(socket),
      });
      const body = JSON.stringify(verdict.ok ? { subject: verdict.subject } : { reason: verdict.reason });
      res.writeHead(verdict.ok ? 200 : 401, {
        "content-type": "application/json",
        "content-length": Buffer.byteLength(body),
      });
      res.end(body);
    },
  );
  server.on("secureConnection", (socket: tls.TLSSocket) => {
    bindings.set(socket.remotePort as number, channelBindingOf(socket));
  });
  server.listen(0, "127.0.0.1");
  await once(server, "listening");
  return { server, port: (server.address() as AddressInfo).port, verifier, bindings };
}

async function connect(replica: Replica, options: tls.ConnectionOptions = {}): Promise<tls.TLSSocket> {
  const socket = tls.connect({
    host: "127.0.0.1",
    port: replica.port,
    cert: clientSvid.chainPem,
    key: clientSvid.keyPem,
    ca: bundle,
    minVersion: "TLSv1.3",
    // SPIFFE authorises the server by its URI SAN, not by host name.
    checkServerIdentity: (_host, cert) =>
      cert.subjectaltname === `URI:${SERVER_ID}`
        ? undefined
        : new Error(`unexpected server ${cert.subjectaltname}`),
    ...options,
  });
  sockets.push(socket);
  await once(socket, "secureConnect");
  return socket;
}

/** One HTTP/1.1 request on an established connection, kept alive for the next. */
function send(
  socket: tls.TLSSocket,
  proof: string,
): Promise<{ status: number; body: Record<string, string> }> {
  return new Promise((resolve, reject) => {
    let received = "";
    const onData = (chunk: Buffer) => {
      received += chunk.toString("latin1");
      const end = received.indexOf("\r\n\r\n");
      if (end === -1) return;
      const length = Number(/content-length: (\d+)/i.exec(received.slice(0, end))?.[1] ?? 0);
      if (received.length < end + 4 + length) return;
      socket.off("data", onData);
      resolve({
        status: Number(received.slice(9, 12)),
        body: JSON.parse(received.slice(end + 4, end + 4 + length)),
      });
    };
    socket.on("data", onData);
    socket.once("error", reject);
    socket.write(
      `POST ${PATH} HTTP/1.1\r\nHost: ${ADDRESSED}\r\nSignet-Proof: ${proof}\r\nContent-Length: 0\r\n\r\n`,
    );
  });
}

function proofFor(socket: tls.TLSSocket): Promise<string> {
  return signProof({
    key: clientSvid.key,
    certificate: clientSvid.certificate,
    method: "POST",
    url: `https://${ADDRESSED}${PATH}`,
    audience: SERVER_ID,
    channelBinding: channelBindingOf(socket),
  });
}

beforeAll(async () => {
  bundle = (await testRoot()).certPem;
  serverSvid = await testSvid({ algorithm: "ECDSA", size: 256 }, SERVER_ID);
  clientSvid = await testSvid({ algorithm: "Ed25519" }, CLIENT_ID);
  replicas = [await startReplica(), await startReplica()];
});

afterAll(async () => {
  for (const socket of sockets) socket.destroy();
  await Promise.all(replicas.map((r) => new Promise((resolve) => r.server.close(resolve))));
});

describe("channel binding over real TLS connections", () => {
  it("should give both ends of a connection the same binding, and every other connection another", async () => {
    const [a, b] = [await connect(replicas[0] as Replica), await connect(replicas[0] as Replica)];
    const clientSide = [channelBindingOf(a), channelBindingOf(b)];
    // In TLS 1.3 the client is done before the server has read its Finished.
    const { bindings } = replicas[0] as Replica;
    await vi.waitFor(() =>
      expect(bindings.has(a.localPort as number) && bindings.has(b.localPort as number)).toBe(true),
    );
    const serverSide = [a, b].map((s) => bindings.get(s.localPort as number));
    expect(clientSide[0]).toHaveLength(32);
    expect(serverSide[0]?.equals(clientSide[0] as Buffer)).toBe(true);
    expect(serverSide[1]?.equals(clientSide[1] as Buffer)).toBe(true);
    expect(clientSide[0]?.equals(clientSide[1] as Buffer)).toBe(false);
  });

  it("should accept a proof once on its own connection and refuse it on another connection and at another replica", async () => {
    const [replicaA, replicaB] = replicas as [Replica, Replica];
    const own = await connect(replicaA);
    const sibling = await connect(replicaA);
    const elsewhere = await connect(replicaB);
    const proof = await proofFor(own);

    expect(await send(sibling, proof)).toEqual({
      status: 401,
      body: { reason: ProofReason.ProofChannelMismatch },
    });
    expect(await send(elsewhere, proof)).toEqual({
      status: 401,
      body: { reason: ProofReason.ProofChannelMismatch },
    });
    expect(await send(own, proof)).toEqual({ status: 200, body: { subject: CLIENT_ID } });
    expect(await send(own, proof)).toEqual({ status: 401, body: { reason: ProofReason.ProofReplayed } });
    // Replica B, which shares nothing with A, accepts the proofs made for its own connections.
    expect(await send(elsewhere, await proofFor(elsewhere))).toEqual({
      status: 200,
      body: { subject: CLIENT_ID },
    });
    expect(replicaB.verifier.stats().entries).toBe(1);
  });

  it("should refuse to export a binding from a TLS 1.2 connection", async () => {
    const server = tls.createServer({
      cert: serverSvid.chainPem,
      key: serverSvid.keyPem,
      maxVersion: "TLSv1.2",
    });
    server.listen(0, "127.0.0.1");
    await once(server, "listening");
    try {
      const socket = await connect({ port: (server.address() as AddressInfo).port } as Replica, {
        minVersion: "TLSv1.2",
      });
      expect(socket.getProtocol()).toBe("TLSv1.2");
      expect(() => channelBindingOf(socket)).toThrow(/needs a TLS 1.3 connection, this one is TLSv1.2/);
      socket.destroy();
    } finally {
      await new Promise((resolve) => server.close(resolve));
    }
  });
});
