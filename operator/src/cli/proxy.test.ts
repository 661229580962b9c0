import { type ChildProcess, spawn } from "node:child_process";
import { once } from "node:events";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { createServer, type IncomingHttpHeaders, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { channelBindingOf, signProof } from "../proof/index.ts";
import { CLIENT_ID, SERVER_ID, type TestSvid, testRoot, testSvid } from "../proof/test-fixtures.ts";
import { ADDRESSED, connectMtls, send } from "../proxy/test-support.ts";
import { listRefusal, policiesFromFile } from "./proxy.ts";

// `signet proxy` as a process, with its policies from a file: what the e2e test does with the API.

const MAIN = new URL("./main.ts", import.meta.url).pathname;

const POLICIES = `
apiVersion: signet.dev/v1alpha1
kind: AccessPolicy
metadata: {name: checkout-to-payments}
spec:
  target: {identity: payments-api}
  allowFrom:
    - identity: checkout
      http: {methods: [POST], paths: ["/v1/*"]}
  scheduleRef: {name: always}
---
apiVersion: signet.dev/v1alpha1
kind: AccessSchedule
metadata: {name: always}
spec:
  windows:
    - {days: [Mon, Tue, Wed, Thu, Fri, Sat, Sun], start: "00:00", end: "12:00"}
    - {days: [Mon, Tue, Wed, Thu, Fri, Sat, Sun], start: "12:00", end: "00:00"}
`;

let dir: string;
let bundle: string;
let client: TestSvid;
let upstream: Server;
let received: IncomingHttpHeaders[];

async function freePort(): Promise<number> {
  const server = createServer().listen(0, "127.0.0.1");
  await once(server, "listening");
  const { port } = server.address() as AddressInfo;
  await new Promise((resolve) => server.close(resolve));
  return port;
}

function run(args: string[]): { child: ChildProcess; stdout: () => string; stderr: () => string } {
  const child = spawn(process.execPath, [MAIN, "proxy", ...args], { stdio: ["ignore", "pipe", "pipe"] });
  let out = "";
  let err = "";
  child.stdout?.on("data", (chunk: Buffer) => {
    out += chunk.toString();
  });
  child.stderr?.on("data", (chunk: Buffer) => {
    err += chunk.toString();
  });
  return { child, stdout: () => out, stderr: () => err };
}

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), "signet-proxy-cli-"));
  bundle = (await testRoot()).certPem;
  const server = await testSvid({ algorithm: "ECDSA", size: 256 }, SERVER_ID);
  client = await testSvid({ algorithm: "ECDSA", size: 256 }, CLIENT_ID);
  writeFileSync(join(dir, "tls.crt"), server.chainPem);
  writeFileSync(join(dir, "tls.key"), server.keyPem);
  writeFileSync(join(dir, "ca.crt"), bundle);
  writeFileSync(join(dir, "policies.yaml"), POLICIES);
  received = [];
  upstream = createServer((req, res) => {
    received.push(req.headers);
    req.resume();
    req.on("end", () => res.writeHead(200, { "content-length": 2 }).end("ok"));
  });
  upstream.listen(0, "127.0.0.1");
  await once(upstream, "listening");
});

afterAll(async () => {
  await new Promise((resolve) => upstream.close(resolve));
  rmSync(dir, { recursive: true, force: true });
});

describe("policiesFromFile", () => {
  it("should read AccessPolicies and AccessSchedules with their defaults, in the proxy's namespace", async () => {
    const sources = await policiesFromFile(join(dir, "policies.yaml"), "shop");
    expect(sources.policies()).toMatchObject([
      {
        metadata: { name: "checkout-to-payments", namespace: "shop" },
        spec: { suspend: false, allowFrom: [{ identity: "checkout", http: { methods: ["POST"] } }] },
      },
    ]);
    expect(sources.schedules()).toMatchObject([
      { metadata: { name: "always", namespace: "shop" }, spec: { timeZone: "UTC" } },
    ]);
  });

  it("should refuse a policy the API server would refuse, naming the field", async () => {
    const file = join(dir, "bad.yaml");
    writeFileSync(file, POLICIES.replace('"/v1/*"', '"v1/*"'));
    await expect(policiesFromFile(file, "shop")).rejects.toThrow(
      /document 1: spec\.allowFrom\[0\]\.http\.paths\[0\]: http\.paths\[\] must start with "\/"/,
    );
  });

  it("should refuse another kind of object", async () => {
    const file = join(dir, "secret.yaml");
    writeFileSync(file, "apiVersion: v1\nkind: Secret\nmetadata: {name: x}\n");
    await expect(policiesFromFile(file, "shop")).rejects.toThrow(
      /kind "Secret"; only AccessPolicy and AccessSchedule belong here/,
    );
  });
});

describe("listRefusal", () => {
  it.each([
    { name: "should name the resource, the namespace, the status and the Role to grant on a 403", code: 403 },
    { name: "should say the same on a 401", code: 401 },
  ])("$name", ({ code }) => {
    expect(listRefusal("accessschedules", "shop", { code })).toBe(
      `the API server refused this pod's ServiceAccount the list of accessschedules.signet.dev in namespace "shop" (HTTP ${code}), ` +
        "so signet proxy does not serve: grant the ServiceAccount a Role with list and watch on accesspolicies and " +
        'accessschedules of API group signet.dev in "shop" (docs/proofs.md, section 16, RBAC), or run the proxy with --policies-file',
    );
  });
  it.each([
    { name: "should leave a server error to the informer's retries", err: { code: 500 } },
    { name: "should leave a watch's 410 to the informer", err: { statusCode: 410 } },
    { name: "should leave a network error to the informer", err: new Error("ECONNREFUSED") },
  ])("$name", ({ err }) => {
    expect(listRefusal("accesspolicies", "shop", err)).toBeUndefined();
  });
});

describe("signet proxy", () => {
  it("should serve with policies from a file, audit on stdout, count on /metrics, and stop on SIGTERM", async () => {
    const [listen, metricsPort] = [await freePort(), await freePort()];
    const upstreamPort = (upstream.address() as AddressInfo).port;
    const proc = run([
      "--listen",
      String(listen),
      "--upstream",
      `http://127.0.0.1:${upstreamPort}`,
      "--identity-dir",
      dir,
      "--metrics-port",
      String(metricsPort),
      "--policies-file",
      join(dir, "policies.yaml"),
    ]);
    try {
      await expect.poll(proc.stderr, { timeout: 15_000 }).toContain("signet proxy started");
      const socket = await connectMtls(listen, client, bundle, SERVER_ID);
      const proofFor = (method: string) =>
        signProof({
          key: client.key,
          certificate: client.certificate,
          method,
          url: `https://${ADDRESSED}/v1/charges`,
          audience: SERVER_ID,
          channelBinding: channelBindingOf(socket),
        });
      const proof = await proofFor("POST");
      expect((await send(socket, { proof })).status).toBe(200);
      expect(received.at(-1)?.["x-signet-caller"]).toBe(CLIENT_ID);
      const refused = await send(socket, { method: "GET", proof: await proofFor("GET") });
      expect(JSON.parse(refused.body)).toMatchObject({ reason: "MethodNotAllowed" });
      socket.destroy();

      await expect.poll(() => proc.stdout().trim().split("\n").length).toBe(2);
      const lines = proc
        .stdout()
        .trim()
        .split("\n")
        .map((line) => JSON.parse(line) as Record<string, unknown>);
      expect(lines.map((l) => [l.method, l.outcome, l.reason, l.policy])).toEqual([
        ["POST", "accepted", "Allowed", "checkout-to-payments"],
        ["GET", "refused", "MethodNotAllowed", "checkout-to-payments"],
      ]);
      expect(proc.stdout()).not.toContain(proof.split(".")[2]);
      const metrics = await (await fetch(`http://127.0.0.1:${metricsPort}/metrics`)).text();
      expect(metrics).toMatch(/^signet_proofs_total\{outcome="accepted",reason="Allowed"\} 1$/m);
      expect(metrics).toMatch(/^signet_proofs_total\{outcome="refused",reason="MethodNotAllowed"\} 1$/m);

      proc.child.kill("SIGTERM");
      const [code] = await once(proc.child, "exit");
      expect(code).toBe(0);
    } finally {
      proc.child.kill("SIGKILL");
    }
  });

  it.each([
    [["--listen", "8443"], /--upstream is required/],
    [
      ["--listen", "0", "--upstream", "http://127.0.0.1:1"],
      /--listen must be a port number between 1 and 65535/,
    ],
    [["--listen", "8443", "--upstream", "http://10.0.0.1:8080"], /must be http:\/\/127\.0\.0\.1:<port>/],
    [
      ["--listen", "8443", "--upstream", "http://127.0.0.1:8080", "--identity-dir", "/nonexistent"],
      /cannot read the identity files: ENOENT \/nonexistent\/tls\.crt/,
    ],
  ])("should exit 2 on %j saying what is wrong", async (args, message) => {
    const proc = run([
      ...args,
      ...(args.includes("--identity-dir")
        ? []
        : ["--identity-dir", dir, "--policies-file", join(dir, "policies.yaml")]),
    ]);
    const [code] = await once(proc.child, "exit");
    expect(proc.stderr()).toMatch(message);
    expect(code).toBe(2);
  });
});
