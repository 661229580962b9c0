import { type ChildProcess, spawn } from "node:child_process";
import { existsSync, mkdirSync, mkdtempSync, renameSync, rmSync, symlinkSync, writeFileSync } from "node:fs";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import {
  createRootCa,
  type MintedSvid,
  mintSvid,
  type RootCaMaterial,
  trustBundle,
} from "../../operator/src/pki/index.ts";

// peer.ts as the e2e pods run it, here as child processes on 127.0.0.1 holding SVIDs minted by
// Signet's own pki, in identity directories laid out as the kubelet mounts a Secret volume.

const PEER = fileURLToPath(new URL("./peer.ts", import.meta.url));
const SERVER_ID = "spiffe://cluster.local/ns/shop/id/payments-api";
const CLIENT_ID = "spiffe://cluster.local/ns/shop/id/checkout";
const STRANGER_ID = "spiffe://cluster.local/ns/shop/id/stranger";
const FILES = ["tls.crt", "tls.key", "ca.crt"] as const;

let work: string;
let root: RootCaMaterial;
let bundle: string;
const running: ChildProcess[] = [];

function mint(spiffeId: string, ca = root): Promise<MintedSvid> {
  return mintSvid({ ca: ca.ca, spiffeId, ttlMs: 3_600_000, now: new Date() });
}

let versions = 0;
/**
 * Writes the identity as the kubelet's atomic writer does: the files in a fresh `..<version>` dir,
 * then one rename that swaps the `..data` symlink; tls.crt, tls.key, ca.crt link through `..data`.
 */
function writeIdentity(dir: string, files: { cert: string; key: string; ca: string }): void {
  const version = `..v${++versions}`;
  mkdirSync(join(dir, version), { recursive: true });
  writeFileSync(join(dir, version, "tls.crt"), files.cert);
  writeFileSync(join(dir, version, "tls.key"), files.key, { mode: 0o600 });
  writeFileSync(join(dir, version, "ca.crt"), files.ca);
  symlinkSync(version, join(dir, "..data_tmp"));
  renameSync(join(dir, "..data_tmp"), join(dir, "..data"));
  for (const name of FILES) {
    if (!existsSync(join(dir, name))) symlinkSync(join("..data", name), join(dir, name));
  }
}

function identityDir(name: string, svid: MintedSvid, ca = bundle): string {
  const dir = join(work, name);
  writeIdentity(dir, { cert: svid.chainPem, key: svid.keyPem, ca });
  return dir;
}

interface Peer {
  child: ChildProcess;
  stdout: string[];
  stderr: () => string;
  exit: Promise<number | null>;
  /** The first stdout line (already printed or yet to come) that matches. */
  line: (pattern: RegExp, timeoutMs?: number) => Promise<string>;
}

function start(dir: string, args: string[]): Peer {
  const child = spawn(process.execPath, [PEER, ...args], {
    env: {
      ...process.env,
      SIGNET_TLS_CERT_FILE: join(dir, "tls.crt"),
      SIGNET_TLS_KEY_FILE: join(dir, "tls.key"),
      SIGNET_TLS_CA_FILE: join(dir, "ca.crt"),
    },
    stdio: ["ignore", "pipe", "pipe"],
  });
  running.push(child);
  const stdout: string[] = [];
  let partial = "";
  let stderr = "";
  const waiters: (() => void)[] = [];
  child.stdout?.setEncoding("utf8").on("data", (chunk: string) => {
    partial += chunk;
    const lines = partial.split("\n");
    partial = lines.pop() ?? "";
    stdout.push(...lines);
    for (const wake of waiters.splice(0)) wake();
  });
  child.stderr?.setEncoding("utf8").on("data", (chunk: string) => {
    stderr += chunk;
  });
  const exit = new Promise<number | null>((resolve) => child.on("close", (code) => resolve(code)));
  const line = (pattern: RegExp, timeoutMs = 10_000): Promise<string> =>
    new Promise((resolve, reject) => {
      const timer = setTimeout(
        () => reject(new Error(`no line matching ${pattern} in:\n${stdout.join("\n")}\nstderr:\n${stderr}`)),
        timeoutMs,
      );
      const check = (): void => {
        const found = stdout.find((l) => pattern.test(l));
        if (found !== undefined) {
          clearTimeout(timer);
          resolve(found);
        } else waiters.push(check);
      };
      check();
    });
  return { child, stdout, stderr: () => stderr, exit, line };
}

async function run(
  dir: string,
  args: string[],
): Promise<{ code: number | null; stdout: string; stderr: string }> {
  const peer = start(dir, args);
  const code = await peer.exit;
  return { code, stdout: peer.stdout.map((l) => `${l}\n`).join(""), stderr: peer.stderr() };
}

/** Starts `serve` on an ephemeral port and resolves once it listens. */
async function serve(dir: string, allow: string[]): Promise<{ peer: Peer; to: string; serving: string }> {
  const peer = start(dir, ["serve", "--port", "0", "--allow", allow.join(",")]);
  const serving = await peer.line(/^serving /);
  const port = /on (\d+)$/.exec(serving)?.[1];
  return { peer, to: `127.0.0.1:${port}`, serving };
}

async function closedPort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const address = server.address();
  const port = typeof address === "object" && address ? address.port : 0;
  await new Promise((resolve) => server.close(resolve));
  return port;
}

let serverSvid: MintedSvid;
let serverDir: string;
let clientDir: string;
let strangerDir: string;
let server: { peer: Peer; to: string; serving: string };

beforeAll(async () => {
  work = mkdtempSync(join(tmpdir(), "signet-peer-"));
  root = await createRootCa({
    commonName: "Peer Test Root",
    trustDomain: "cluster.local",
    validity: 2 * 3_600_000,
    now: new Date(),
  });
  bundle = trustBundle([root.ca]);
  serverSvid = await mint(SERVER_ID);
  serverDir = identityDir("server", serverSvid);
  clientDir = identityDir("client", await mint(CLIENT_ID));
  strangerDir = identityDir("stranger", await mint(STRANGER_ID));
  server = await serve(serverDir, [CLIENT_ID]);
  running.splice(0); // the shared server outlives each test
}, 30_000);

afterEach(() => {
  for (const child of running.splice(0)) child.kill("SIGKILL");
});

afterAll(() => {
  server?.peer.child.kill("SIGKILL");
  rmSync(work, { recursive: true, force: true });
});

describe("peer.ts serve and connect", () => {
  it("should announce its serial, SPIFFE ID and port", () => {
    expect(server.serving).toMatch(
      new RegExp(`^serving serial ${serverSvid.serialNumber} as ${SERVER_ID} on \\d+$`),
    );
  });

  it("should greet an allowed client by its SPIFFE ID with its own ID and serial", async () => {
    const result = await run(clientDir, ["connect", "--to", server.to, "--expect", SERVER_ID]);
    expect(result).toMatchObject({
      code: 0,
      stdout: `hello ${CLIENT_ID} from ${SERVER_ID} serial ${serverSvid.serialNumber}\n`,
    });
  });

  it("should refuse a client with another SPIFFE ID of the same trust domain", async () => {
    const result = await run(strangerDir, ["connect", "--to", server.to, "--expect", SERVER_ID]);
    expect(result).toMatchObject({ code: 1, stdout: `refused: ${STRANGER_ID}\n` });
  });

  it("should fail, without a greeting, when the server is not the SPIFFE ID the client expects", async () => {
    const expected = "spiffe://cluster.local/ns/shop/id/ledger";
    const result = await run(clientDir, ["connect", "--to", server.to, "--expect", expected]);
    expect(result).toMatchObject({
      code: 1,
      stdout: `error: server is ${SERVER_ID}, expected ${expected}\n`,
    });
  });

  it("should fail the handshake of a client whose SVID another CA issued", async () => {
    const foreign = await createRootCa({
      commonName: "Foreign Root",
      trustDomain: "cluster.local",
      validity: 3_600_000,
      now: new Date(),
    });
    // The impostor trusts the real bundle, so only the server's check of its chain stops it.
    const dir = identityDir("impostor", await mint(CLIENT_ID, foreign));
    const result = await run(dir, ["connect", "--to", server.to, "--expect", SERVER_ID]);
    expect(result.code).toBe(1);
    expect(result.stdout).toMatch(/^error: \S+\n$/);
  });

  it("should hold a connection open, answering each ping with its serial", async () => {
    const result = await run(clientDir, [
      "connect",
      "--to",
      server.to,
      "--expect",
      SERVER_ID,
      "--hold",
      "700",
    ]);
    expect(result.code).toBe(0);
    const [hello, ...pongs] = result.stdout.trimEnd().split("\n");
    expect(hello).toBe(`hello ${CLIENT_ID} from ${SERVER_ID} serial ${serverSvid.serialNumber}`);
    expect(pongs.length).toBeGreaterThanOrEqual(2);
    for (const pong of pongs) expect(pong).toMatch(new RegExp(`^\\d+ pong ${serverSvid.serialNumber}$`));
  });

  it("should report a broken held connection with exit code 2", async () => {
    const own = await serve(identityDir("short-lived", await mint(SERVER_ID)), [CLIENT_ID]);
    const held = start(clientDir, ["connect", "--to", own.to, "--expect", SERVER_ID, "--hold", "10000"]);
    await held.line(/^\d+ pong /);
    own.peer.child.kill("SIGKILL");
    expect(await held.exit).toBe(2);
    expect(held.stdout.at(-1)).toMatch(/^\d+ error: /);
  });

  it("should exit 0 on SIGTERM", async () => {
    const own = await serve(identityDir("terminated", await mint(SERVER_ID)), [CLIENT_ID]);
    own.peer.child.kill("SIGTERM");
    expect(await own.peer.exit).toBe(0);
  });

  it.each(["idle", "sleep"])("should, as `%s`, run until SIGTERM and then exit 0", async (command) => {
    const idler = start(clientDir, [command]);
    const early = await Promise.race([
      idler.exit,
      new Promise((resolve) => setTimeout(resolve, 700, "running")),
    ]);
    expect(early).toBe("running");
    idler.child.kill("SIGTERM");
    expect(await idler.exit).toBe(0);
    expect(idler.stdout).toEqual([]);
  });
});

describe("peer.ts certificate reload", () => {
  it("should serve a rotated SVID to new connections while a held connection keeps working", async () => {
    const dir = identityDir("rotating", await mint(SERVER_ID));
    const first = await serve(dir, [CLIENT_ID]);
    const firstSerial = /serial (\S+)/.exec(first.serving)?.[1] as string;
    const held = start(clientDir, ["connect", "--to", first.to, "--expect", SERVER_ID, "--hold", "4000"]);
    await held.line(new RegExp(`^\\d+ pong ${firstSerial}$`));

    const next = await mint(SERVER_ID);
    writeIdentity(dir, { cert: next.chainPem, key: next.keyPem, ca: bundle });
    expect(await first.peer.line(/^reloaded /)).toMatch(
      new RegExp(
        `^reloaded serial ${next.serialNumber} notAfter ${next.notAfter.toISOString().replace(/\./g, "\\.")} at \\d{13}$`,
      ),
    );

    const fresh = await run(clientDir, ["connect", "--to", first.to, "--expect", SERVER_ID]);
    expect(fresh).toMatchObject({
      code: 0,
      stdout: `hello ${CLIENT_ID} from ${SERVER_ID} serial ${next.serialNumber}\n`,
    });
    await held.line(new RegExp(`^\\d+ pong ${next.serialNumber}$`));
    expect(await held.exit).toBe(0);
    expect(held.stdout.filter((l) => l.includes("error"))).toEqual([]);
    expect(first.peer.stdout.filter((l) => l.startsWith("reloaded"))).toHaveLength(1);
  }, 20_000);

  it("should keep the old SVID when the new files do not fit together, and never print the key", async () => {
    const dir = identityDir("broken", await mint(SERVER_ID));
    const own = await serve(dir, [CLIENT_ID]);
    const serial = /serial (\S+)/.exec(own.serving)?.[1] as string;
    const next = await mint(SERVER_ID);
    const other = await mint(SERVER_ID);
    // A certificate with someone else's key, as a half-finished update would leave it.
    writeIdentity(dir, { cert: next.chainPem, key: other.keyPem, ca: bundle });
    const deadline = Date.now() + 5_000;
    while (!own.peer.stderr().includes("reload failed") && Date.now() < deadline) {
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
    expect(own.peer.stderr()).toContain(`reload failed, still serving serial ${serial}`);
    expect(own.peer.stderr()).not.toContain("PRIVATE KEY");
    expect(own.peer.stderr()).not.toContain(other.keyPem.split("\n")[1]);
    const still = await run(clientDir, ["connect", "--to", own.to, "--expect", SERVER_ID]);
    expect(still).toMatchObject({
      code: 0,
      stdout: `hello ${CLIENT_ID} from ${SERVER_ID} serial ${serial}\n`,
    });
    expect(own.peer.stdout.filter((l) => l.startsWith("reloaded"))).toEqual([]);

    writeIdentity(dir, { cert: next.chainPem, key: next.keyPem, ca: bundle });
    await own.peer.line(new RegExp(`^reloaded serial ${next.serialNumber} `));
    expect(own.peer.child.exitCode).toBeNull();
  }, 20_000);
});

describe("peer.ts tcp and probe", () => {
  it("should report a refused TCP connection to a closed port", async () => {
    const port = await closedPort();
    expect(await run(clientDir, ["tcp", "--to", `127.0.0.1:${port}`])).toMatchObject({
      code: 1,
      stdout: "refused\n",
    });
  });

  it("should report a TCP connection to a listening port", async () => {
    expect(await run(clientDir, ["tcp", "--to", server.to, "--timeout", "1000"])).toMatchObject({
      code: 0,
      stdout: "connected\n",
    });
  });

  it("should print one timed line per attempt", async () => {
    const port = await closedPort();
    const ok = await run(clientDir, [
      "probe",
      "--to",
      server.to,
      "--expect",
      SERVER_ID,
      "--every",
      "100",
      "--for",
      "450",
    ]);
    const refused = await run(clientDir, [
      "probe",
      ...["--to", `127.0.0.1:${port}`, "--expect", SERVER_ID, "--every", "100", "--for", "250"],
    ]);
    expect(ok.code).toBe(0);
    const okLines = ok.stdout.trimEnd().split("\n");
    expect(okLines.length).toBeGreaterThanOrEqual(3);
    for (const line of okLines) expect(line).toMatch(/^\d+ ok$/);
    const times = okLines.map((line) => Number(line.split(" ")[0]));
    expect(times).toEqual([...times].sort((a, b) => a - b));
    expect(refused.code).toBe(0);
    for (const line of refused.stdout.trimEnd().split("\n")) expect(line).toMatch(/^\d+ refused$/);
    const denied = await run(strangerDir, [
      "probe",
      ...["--to", server.to, "--expect", SERVER_ID, "--every", "100", "--for", "50"],
    ]);
    expect(denied.stdout).toMatch(/^\d+ error denied\n$/);
  }, 20_000);
});

describe("peer.ts usage", () => {
  it.each([
    { name: "no command", args: [] },
    { name: "an unknown command", args: ["listen", "--port", "1"] },
    { name: "an unknown flag", args: ["tcp", "--to", "127.0.0.1:1", "--retries", "3"] },
    { name: "a missing required flag", args: ["connect", "--to", "127.0.0.1:1"] },
    { name: "a flag without its value", args: ["serve", "--allow", CLIENT_ID, "--port"] },
    { name: "a port that is not a number", args: ["serve", "--port", "https", "--allow", CLIENT_ID] },
    { name: "an address without a port", args: ["tcp", "--to", "127.0.0.1"] },
    { name: "a positional argument", args: ["tcp", "--to", "127.0.0.1:1", "again"] },
    { name: "a flag to idle", args: ["idle", "--for", "10"] },
  ])("should print usage and exit 2 for $name", async ({ args }) => {
    const result = await run(clientDir, args);
    expect(result.code).toBe(2);
    expect(result.stdout).toBe("");
    expect(result.stderr).toContain("usage: peer.ts <command>");
  });
});
