// A workload that proves who it is with its Signet SVID, as the e2e tests run it in pods (image
// signet-e2e-peer:dev) and on the host. Node built-ins only. The identity files are those of the
// mounted identity Secret, or the files named by SIGNET_TLS_CERT_FILE, SIGNET_TLS_KEY_FILE and
// SIGNET_TLS_CA_FILE.
//
//   serve   --port P --allow ID[,ID...]                   mTLS server that authorises clients by SPIFFE ID
//   connect --to HOST:PORT --expect ID [--hold MS]        mTLS client; with --hold, ping every 200 ms
//   tcp     --to HOST:PORT [--timeout MS]                 a plain TCP connect attempt
//   probe   --to HOST:PORT --expect ID --every MS --for MS  repeated connects, one line per attempt
//   idle    (or sleep)                                    nothing until SIGTERM: a pod to exec clients in
//   http-echo --port P                                    plain HTTP on 127.0.0.1, the upstream of a signet-proxy
//                                                         sidecar: answers {"caller": <X-Signet-Caller>, ...}
//   proof-get --to HOST:PORT --expect ID --path P [--method M] [--count N] [--replay]
//                                                         requests through signet proxy on one mTLS 1.3
//                                                         connection, a fresh Signet proof each (--replay: the
//                                                         first proof once more); one JSON line per request
//
// proof-get signs with operator/src/proof: beside the repository that is ../../operator/src/proof, in
// the image the built copy SIGNET_PROOF_LIBRARY names (the peer image is built on Signet's).
//
// Exit codes: 0 success, 1 refused or failed, 2 usage (or, for connect --hold, a broken connection).
// Key material is never printed.
import { createHash, X509Certificate } from "node:crypto";
import { readFileSync, statSync } from "node:fs";
import { createServer as createHttpServer } from "node:http";
import { createConnection, isIP } from "node:net";
import { performance } from "node:perf_hooks";
import {
  createSecureContext,
  createServer,
  type PeerCertificate,
  type SecureContextOptions,
  type TLSSocket,
  connect as tlsConnect,
} from "node:tls";
import { parseArgs } from "node:util";

const IDENTITY_DIR = "/var/run/secrets/signet.dev/identity";
const POLL_MS = 100;
const PING_MS = 200;
/** connect: how long a handshake and the greeting may take; a held connection's longest silence. */
const CONNECT_TIMEOUT_MS = 5_000;
const PONG_TIMEOUT_MS = 1_000;

const USAGE = `usage: peer.ts <command> [flags]
  serve   --port P --allow ID[,ID...]
  connect --to HOST:PORT --expect ID [--hold MS]
  tcp     --to HOST:PORT [--timeout MS]
  probe   --to HOST:PORT --expect ID --every MS --for MS
  idle    (or sleep)
  http-echo --port P
  proof-get --to HOST:PORT --expect ID --path P [--method M] [--count N] [--replay]
identity files: SIGNET_TLS_CERT_FILE, SIGNET_TLS_KEY_FILE, SIGNET_TLS_CA_FILE
  (default ${IDENTITY_DIR}/{tls.crt,tls.key,ca.crt})
`;

class UsageError extends Error {}

/** Lines that report a moment carry it in epoch milliseconds: pods share the host's clock, so a test compares them with its own. */
const stamp = (): number => Date.now();
const out = (line: string): void => {
  process.stdout.write(`${line}\n`);
};
const err = (line: string): void => {
  process.stderr.write(`${line}\n`);
};

// --- identity files -------------------------------------------------------------------------------

const paths = {
  cert: process.env.SIGNET_TLS_CERT_FILE || `${IDENTITY_DIR}/tls.crt`,
  key: process.env.SIGNET_TLS_KEY_FILE || `${IDENTITY_DIR}/tls.key`,
  ca: process.env.SIGNET_TLS_CA_FILE || `${IDENTITY_DIR}/ca.crt`,
};

interface Identity {
  options: SecureContextOptions;
  spiffeId: string;
  /** Lowercase hex, as Signet reports serials. */
  serial: string;
  notAfter: string;
}

function readFiles(): { cert: Buffer; key: Buffer; ca: Buffer } {
  return { cert: readFileSync(paths.cert), key: readFileSync(paths.key), ca: readFileSync(paths.ca) };
}

/** The single URI SAN of a certificate: its SPIFFE ID; none when it has zero or several. */
function spiffeIdOf(subjectAltName: string | undefined): string | undefined {
  const uris = (subjectAltName ?? "")
    .split(", ")
    .filter((name) => name.startsWith("URI:"))
    .map((name) => name.slice(4));
  return uris.length === 1 ? uris[0] : undefined;
}

function describePeer(cert: PeerCertificate | undefined): string {
  return spiffeIdOf(cert?.subjectaltname) ?? "<no single URI SAN>";
}

/** Parses and checks the identity files; the error says what is wrong, never what the key is. */
function loadIdentity(files = readFiles()): Identity {
  const options: SecureContextOptions = { ...files, minVersion: "TLSv1.2" };
  let leaf: X509Certificate;
  try {
    leaf = new X509Certificate(files.cert);
  } catch {
    throw new Error(`${paths.cert} holds no X.509 certificate`);
  }
  const spiffeId = spiffeIdOf(leaf.subjectAltName);
  if (spiffeId === undefined) throw new Error(`${paths.cert}: the certificate has no single URI SAN`);
  try {
    createSecureContext(options);
  } catch (e) {
    // OpenSSL's reason ("key values mismatch", "no start line"): safe to print, it quotes no key.
    throw new Error(`the identity files do not make a TLS context: ${(e as Error).message}`);
  }
  return {
    options,
    spiffeId,
    serial: leaf.serialNumber.toLowerCase(),
    notAfter: new Date(leaf.validTo).toISOString(),
  };
}

// --- flags ----------------------------------------------------------------------------------------

type Flags = Record<string, string | undefined>;

function flags(args: string[], names: string[], required: string[]): Flags {
  const { values } = parseArgs({
    args,
    options: Object.fromEntries(names.map((name) => [name, { type: "string" as const }])),
    strict: true,
    allowPositionals: false,
  });
  for (const name of required) {
    if (values[name] === undefined || values[name] === "") throw new UsageError(`--${name} is required`);
  }
  return values as Flags;
}

function number(value: string | undefined, name: string, fallback?: number): number {
  if (value === undefined && fallback !== undefined) return fallback;
  if (value === undefined || !/^\d+$/.test(value)) throw new UsageError(`--${name} must be a whole number`);
  return Number(value);
}

function address(value: string | undefined): { host: string; port: number } {
  const match = /^(?:\[([^\]]+)\]|([^:]+)):(\d+)$/.exec(value ?? "");
  const port = Number(match?.[3]);
  if (!match || port < 1 || port > 65_535) throw new UsageError(`--to must be HOST:PORT, not ${value}`);
  return { host: (match[1] ?? match[2]) as string, port };
}

const codeOf = (e: unknown): string => (e as NodeJS.ErrnoException).code ?? (e as Error).message;

// --- serve ----------------------------------------------------------------------------------------

function serve(args: string[]): void {
  const values = flags(args, ["port", "allow"], ["port", "allow"]);
  const port = number(values.port, "port");
  if (port > 65_535) throw new UsageError("--port must be at most 65535");
  const allowed = new Set(
    (values.allow as string)
      .split(",")
      .map((id) => id.trim())
      .filter(Boolean),
  );

  let identity: Identity;
  try {
    identity = loadIdentity();
  } catch (e) {
    err(`error: ${(e as Error).message}`);
    process.exit(1);
  }

  const server = createServer(
    { ...identity.options, requestCert: true, rejectUnauthorized: true },
    (socket: TLSSocket) => {
      socket.on("error", (e) => err(`connection error: ${codeOf(e)}`));
      const client = spiffeIdOf(socket.getPeerCertificate().subjectaltname);
      if (client === undefined || !allowed.has(client)) {
        err(`refused ${client ?? "a client without a single URI SAN"}`);
        socket.end(`refused: ${client ?? "<no single URI SAN>"}\n`);
        return;
      }
      socket.write(`hello ${client} from ${identity.spiffeId} serial ${identity.serial}\n`);
      let pending = "";
      socket.setEncoding("utf8");
      socket.on("data", (chunk: string) => {
        pending += chunk;
        let newline = pending.indexOf("\n");
        while (newline >= 0) {
          pending = pending.slice(newline + 1);
          socket.write(`pong ${identity.serial}\n`);
          newline = pending.indexOf("\n");
        }
      });
      socket.on("end", () => socket.end());
    },
  );
  server.on("tlsClientError", (e) => err(`tls client error: ${codeOf(e)}`));
  server.on("error", (e) => {
    err(`error: ${codeOf(e)}`);
    process.exit(1);
  });

  // Secret volumes update by swapping a `..data` symlink, which fs.watch does not reliably see:
  // poll the files' stat (following links), and their contents when that changes.
  const statKey = (): string =>
    [paths.cert, paths.key, paths.ca]
      .map((path) => {
        try {
          const s = statSync(path, { bigint: true });
          return `${s.ino}:${s.size}:${s.mtimeNs}`;
        } catch (e) {
          return codeOf(e);
        }
      })
      .join("|");
  const contentHash = (files: ReturnType<typeof readFiles>): string =>
    createHash("sha256")
      .update(files.cert)
      .update("\0")
      .update(files.key)
      .update("\0")
      .update(files.ca)
      .digest("hex");
  let lastStat = statKey();
  let lastContent = contentHash(readFiles());
  const poll = setInterval(() => {
    const now = statKey();
    if (now === lastStat) return;
    lastStat = now;
    let files: ReturnType<typeof readFiles>;
    try {
      files = readFiles();
    } catch (e) {
      err(`reload failed, still serving serial ${identity.serial}: ${codeOf(e)}`);
      lastContent = "";
      return;
    }
    const content = contentHash(files);
    if (content === lastContent) return;
    lastContent = content;
    try {
      const next = loadIdentity(files);
      server.setSecureContext(next.options);
      identity = next;
      out(`reloaded serial ${identity.serial} notAfter ${identity.notAfter} at ${stamp()}`);
    } catch (e) {
      err(`reload failed, still serving serial ${identity.serial}: ${(e as Error).message}`);
    }
  }, POLL_MS);

  const stop = (): void => {
    clearInterval(poll);
    server.close(() => process.exit(0));
    setTimeout(() => process.exit(0), 1_000).unref();
  };
  process.on("SIGTERM", stop);
  process.on("SIGINT", stop);

  server.listen(port, "0.0.0.0", () => {
    const bound = server.address();
    const actual = typeof bound === "object" && bound ? bound.port : port;
    out(`serving serial ${identity.serial} as ${identity.spiffeId} on ${actual}`);
  });
}

// --- connect and probe ----------------------------------------------------------------------------

interface Greeting {
  socket: TLSSocket;
  line: string;
  /** Whatever arrived after the greeting's newline. */
  rest: string;
}

/** An mTLS connection to `to` whose server must be `expect`; resolves with the first line it sends. */
function greet(to: { host: string; port: number }, expect: string, timeoutMs: number): Promise<Greeting> {
  const identity = loadIdentity();
  return new Promise((resolve, reject) => {
    const socket = tlsConnect({
      ...identity.options,
      host: to.host,
      port: to.port,
      // SNI carries host names only; SPIFFE authorises the server by its URI SAN, not by that name.
      servername: isIP(to.host) ? "" : to.host,
      checkServerIdentity: (_host, cert) => {
        const server = spiffeIdOf(cert.subjectaltname);
        if (server === expect) return undefined;
        return new Error(`server is ${describePeer(cert)}, expected ${expect}`);
      },
    });
    let data = "";
    const fail = (e: unknown): void => {
      clearTimeout(timer);
      socket.destroy();
      reject(e);
    };
    const timer = setTimeout(() => fail(Object.assign(new Error("timeout"), { code: "timeout" })), timeoutMs);
    socket.setEncoding("utf8");
    const onData = (chunk: string): void => {
      data += chunk;
      const newline = data.indexOf("\n");
      if (newline < 0) return;
      clearTimeout(timer);
      socket.off("data", onData);
      socket.off("error", fail);
      socket.off("end", onEnd);
      resolve({ socket, line: data.slice(0, newline), rest: data.slice(newline + 1) });
    };
    const onEnd = (): void => {
      if (data !== "") onData("\n");
      else fail(Object.assign(new Error("the server closed without a greeting"), { code: "closed" }));
    };
    socket.on("data", onData);
    socket.on("error", fail);
    socket.on("end", onEnd);
  });
}

async function connect(args: string[]): Promise<number> {
  const values = flags(args, ["to", "expect", "hold"], ["to", "expect"]);
  const to = address(values.to);
  const hold = values.hold === undefined ? undefined : number(values.hold, "hold");
  let greeting: Greeting;
  try {
    greeting = await greet(to, values.expect as string, CONNECT_TIMEOUT_MS);
  } catch (e) {
    out(`error: ${codeOf(e)}`);
    return 1;
  }
  out(greeting.line);
  const { socket } = greeting;
  if (!greeting.line.startsWith("hello")) {
    socket.destroy();
    return 1;
  }
  if (hold === undefined) {
    socket.destroy();
    return 0;
  }
  return new Promise((resolve) => {
    const sent: number[] = [];
    let pending = greeting.rest;
    let done = false;
    const finish = (code: number, line?: string): void => {
      if (done) return;
      done = true;
      clearInterval(pinger);
      clearTimeout(until);
      if (line !== undefined) out(`${stamp()} ${line}`);
      if (code === 0) socket.end();
      else socket.destroy();
      resolve(code);
    };
    const pinger = setInterval(() => {
      const oldest = sent[0];
      if (oldest !== undefined && performance.now() - oldest > PONG_TIMEOUT_MS) {
        finish(2, "error: timeout");
        return;
      }
      sent.push(performance.now());
      socket.write("ping\n");
    }, PING_MS);
    const until = setTimeout(() => finish(0), hold);
    socket.on("data", (chunk: string) => {
      pending += chunk;
      let newline = pending.indexOf("\n");
      while (newline >= 0) {
        sent.shift();
        out(`${stamp()} ${pending.slice(0, newline)}`);
        pending = pending.slice(newline + 1);
        newline = pending.indexOf("\n");
      }
    });
    socket.on("error", (e) => finish(2, `error: ${codeOf(e)}`));
    socket.on("close", () => finish(2, "error: closed"));
  });
}

async function probe(args: string[]): Promise<number> {
  const values = flags(args, ["to", "expect", "every", "for"], ["to", "expect", "every", "for"]);
  const to = address(values.to);
  const every = number(values.every, "every");
  const total = number(values.for, "for");
  if (every < 1) throw new UsageError("--every must be at least 1");
  const timeout = Math.min(every, 1_000);
  const begin = performance.now();
  for (let attempt = 0; performance.now() - begin < total; attempt++) {
    const at = stamp();
    let result: string;
    try {
      const greeting = await greet(to, values.expect as string, timeout);
      greeting.socket.destroy();
      result = greeting.line.startsWith("hello") ? "ok" : "error denied";
    } catch (e) {
      const code = codeOf(e);
      result = code === "ECONNREFUSED" ? "refused" : code === "timeout" ? "timeout" : `error ${code}`;
    }
    out(`${at} ${result}`);
    const next = begin + (attempt + 1) * every;
    const wait = next - performance.now();
    if (wait > 0) await new Promise((resolve) => setTimeout(resolve, wait));
  }
  return 0;
}

// --- tcp ------------------------------------------------------------------------------------------

function tcp(args: string[]): Promise<number> {
  const values = flags(args, ["to", "timeout"], ["to"]);
  const to = address(values.to);
  const timeout = number(values.timeout, "timeout", 2_000);
  return new Promise((resolve) => {
    const socket = createConnection({ host: to.host, port: to.port });
    const finish = (line: string, code: number): void => {
      clearTimeout(timer);
      socket.destroy();
      out(line);
      resolve(code);
    };
    const timer = setTimeout(() => finish("timeout", 1), timeout);
    socket.on("connect", () => finish("connected", 0));
    socket.on("error", (e) => {
      const code = codeOf(e);
      finish(code === "ECONNREFUSED" ? "refused" : `error: ${code}`, 1);
    });
  });
}

// --- idle -----------------------------------------------------------------------------------------

/** The image has no shell and no sleep: this keeps a pod running for clients exec'd into it. */
function idle(args: string[]): void {
  flags(args, [], []);
  const timer = setInterval(() => undefined, 3_600_000);
  const stop = (): void => {
    clearInterval(timer);
    process.exit(0);
  };
  process.on("SIGTERM", stop);
  process.on("SIGINT", stop);
}

// --- http-echo --------------------------------------------------------------------------------------

/** Plain HTTP on loopback only, as a workload behind signet proxy listens; it trusts X-Signet-Caller. */
function httpEcho(args: string[]): void {
  const values = flags(args, ["port"], ["port"]);
  const port = number(values.port, "port");
  const server = createHttpServer((req, res) => {
    const caller = req.headers["x-signet-caller"] ?? null;
    const body = JSON.stringify({
      caller,
      method: req.method,
      path: req.url,
      proofForwarded: req.headers["signet-proof"] !== undefined,
    });
    out(`request ${req.method} ${req.url} caller ${caller ?? "-"}`);
    res.writeHead(200, { "content-type": "application/json", "content-length": Buffer.byteLength(body) });
    res.end(body);
  });
  server.on("error", (e) => {
    err(`error: ${codeOf(e)}`);
    process.exit(1);
  });
  server.listen(port, "127.0.0.1", () => out(`listening 127.0.0.1:${port}`));
  const stop = (): void => {
    server.close();
    process.exit(0);
  };
  process.on("SIGTERM", stop);
  process.on("SIGINT", stop);
}

// --- proof-get --------------------------------------------------------------------------------------

type ProofLibrary = typeof import("../../operator/src/proof/index.ts");

const PROOF_LIBRARY =
  process.env.SIGNET_PROOF_LIBRARY || new URL("../../operator/src/proof/index.ts", import.meta.url).href;

/** Reads one HTTP/1.1 response with a content-length (signet proxy always sends one here). */
function readResponse(socket: TLSSocket): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    let buffered = Buffer.alloc(0);
    const onData = (chunk: Buffer): void => {
      buffered = Buffer.concat([buffered, chunk]);
      const end = buffered.indexOf("\r\n\r\n");
      if (end === -1) return;
      const head = buffered.subarray(0, end).toString("latin1").split("\r\n");
      const lengthLine = head.find((line) => /^content-length:/i.test(line));
      const length = Number(lengthLine?.slice(lengthLine.indexOf(":") + 1).trim() ?? 0);
      if (buffered.length < end + 4 + length) return;
      cleanup();
      resolve({
        status: Number(head[0]?.slice(9, 12)),
        body: buffered.subarray(end + 4, end + 4 + length).toString("utf8"),
      });
    };
    const onClose = (): void => {
      cleanup();
      reject(new Error("the proxy closed the connection"));
    };
    const cleanup = (): void => {
      socket.off("data", onData);
      socket.off("close", onClose);
    };
    socket.on("data", onData);
    socket.once("close", onClose);
  });
}

async function proofGet(args: string[]): Promise<number> {
  const replay = args.includes("--replay");
  const values = flags(
    args.filter((a) => a !== "--replay"),
    ["to", "expect", "path", "method", "count"],
    ["to", "expect", "path"],
  );
  const to = address(values.to);
  const expect = values.expect as string;
  const path = values.path as string;
  const method = (values.method ?? "GET").toUpperCase();
  const count = number(values.count, "count", 1);
  const { signProof, channelBindingOf } = (await import(PROOF_LIBRARY)) as ProofLibrary;
  const identity = loadIdentity();
  const socket = tlsConnect({
    host: to.host,
    port: to.port,
    ...(isIP(to.host) ? {} : { servername: to.host }),
    cert: identity.options.cert,
    key: identity.options.key,
    ca: identity.options.ca,
    minVersion: "TLSv1.3",
    checkServerIdentity: (_host, cert) =>
      spiffeIdOf(cert.subjectaltname) === expect
        ? undefined
        : new Error(`the server is ${describePeer(cert)}, not ${expect}`),
  });
  await new Promise<void>((resolve, reject) => {
    socket.once("secureConnect", resolve);
    socket.once("error", reject);
  });
  const host = values.to as string;
  const url = `https://${host}${path}`;
  const send = async (proof: string) => {
    const started = performance.now();
    const response = readResponse(socket);
    socket.write(
      `${method} ${path} HTTP/1.1\r\nHost: ${host}\r\nContent-Length: 0\r\nSignet-Proof: ${proof}\r\n\r\n`,
    );
    const { status, body } = await response;
    out(JSON.stringify({ status, body, ms: Math.round((performance.now() - started) * 1000) / 1000 }));
  };
  const sign = () =>
    signProof({
      key: String(identity.options.key),
      certificate: String(identity.options.cert),
      method,
      url,
      audience: expect,
      channelBinding: channelBindingOf(socket),
    });
  let first: string | undefined;
  for (let i = 0; i < count; i++) {
    const proof = await sign();
    first ??= proof;
    await send(proof);
  }
  if (replay && first !== undefined) await send(first);
  socket.end();
  return 0;
}

// --- main -----------------------------------------------------------------------------------------

const [command = "", ...rest] = process.argv.slice(2);
// As a container's PID 1, node has no default action for SIGTERM: serve and idle stop with 0, the
// rest with 143, as a shell would report them.
if (command !== "serve" && command !== "idle" && command !== "sleep" && command !== "http-echo")
  for (const signal of ["SIGTERM", "SIGINT"]) process.on(signal, () => process.exit(143));
try {
  switch (command) {
    case "serve":
      serve(rest);
      break;
    case "connect":
      process.exit(await connect(rest));
      break;
    case "probe":
      process.exit(await probe(rest));
      break;
    case "tcp":
      process.exit(await tcp(rest));
      break;
    case "idle":
    case "sleep":
      idle(rest);
      break;
    case "http-echo":
      httpEcho(rest);
      break;
    case "proof-get":
      process.exit(await proofGet(rest));
      break;
    default:
      throw new UsageError(command === "" ? "a command is required" : `unknown command ${command}`);
  }
} catch (e) {
  // parseArgs reports unknown or valueless flags with ERR_PARSE_ARGS_* codes.
  const code = (e as NodeJS.ErrnoException).code ?? "";
  if (e instanceof UsageError || code.startsWith("ERR_PARSE_ARGS")) {
    err(`${(e as Error).message}\n${USAGE}`);
    process.exit(2);
  }
  err(`error: ${(e as Error).message}`);
  process.exit(1);
}
