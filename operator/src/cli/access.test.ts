import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { UsageError } from "../audit/cli-scope.ts";
import { ACCESS_USAGE, type Io, parseAccessArgs, runAccess } from "./access.ts";

// The command line of signet suspend|resume|grant|revoke, in process: every case here is decided
// before any request, so no cluster is needed (the kubeconfig points at a closed port, and a
// request would fail the test with a connection error instead of the expected exit status).

let dir: string;
let kubeconfig: string;

beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), "signet-access-cli-"));
  kubeconfig = join(dir, "kubeconfig");
  writeFileSync(
    kubeconfig,
    `apiVersion: v1
kind: Config
clusters: [{name: c, cluster: {server: "https://127.0.0.1:9"}}]
users: [{name: u, user: {token: not-a-real-token}}]
contexts: [{name: ctx, context: {cluster: c, user: u, namespace: shop}}]
current-context: ctx
`,
  );
});

afterAll(() => rmSync(dir, { recursive: true, force: true }));

function capture(): Io & { stdout: string[]; stderr: string[] } {
  const stdout: string[] = [];
  const stderr: string[] = [];
  return { stdout, stderr, out: (l) => stdout.push(l), err: (l) => stderr.push(l), now: () => 0 };
}

describe("parseAccessArgs", () => {
  it("should read the target, --for, --reason and the flags", () => {
    expect(
      parseAccessArgs("grant", [
        "shop/on-call",
        "--for",
        "1h30m",
        "--reason",
        "incident 4711",
        "--dry-run",
        "-n",
        "x",
      ]),
    ).toEqual({
      help: false,
      target: "shop/on-call",
      spanMs: 90 * 60_000,
      options: {
        namespace: "x",
        reason: "incident 4711",
        dryRun: true,
        kubeconfig: undefined,
        context: undefined,
      },
    });
    expect(parseAccessArgs("suspend", ["--context", "prod", "--kubeconfig", "/k", "policy/shop/p"])).toEqual({
      help: false,
      target: "policy/shop/p",
      spanMs: 0,
      options: { namespace: undefined, reason: undefined, dryRun: false, kubeconfig: "/k", context: "prod" },
    });
  });

  it("should see --help before anything else", () => {
    expect(parseAccessArgs("revoke", ["--help"])).toEqual({ help: true });
    expect(parseAccessArgs("grant", ["-h"])).toEqual({ help: true });
  });

  it.each([
    ["suspend", [], "suspend takes exactly one target; got 0"],
    ["resume", ["a/b/c", "d/e/f"], "resume takes exactly one target; got 2"],
    ["grant", ["shop/on-call"], "grant needs --for, e.g. --for 30m"],
    ["suspend", ["policy/shop/p", "--for", "1h"], "--for belongs to grant, not suspend"],
    ["revoke", ["shop/on-call", "--for", "1h"], "--for belongs to grant, not revoke"],
    ["grant", ["shop/on-call", "--for", "30"], "--for must be a duration such as 30m, 2h, 1h30m or 1d12h"],
    ["grant", ["shop/on-call", "--for", "1w"], "units d, h, m, s, ms"],
    ["suspend", ["policy/shop/p", "--reason", " "], "--reason is empty"],
    ["suspend", ["policy/shop/p", "--force"], "Unknown option '--force'"],
    ["suspend", ["policy/shop/p", "--reason"], "--reason <value>' argument missing"],
  ] as const)("should refuse %s %j: %s", (command, args, message) => {
    expect(() => parseAccessArgs(command, [...args])).toThrow(UsageError);
    expect(() => parseAccessArgs(command, [...args])).toThrow(message);
  });

  it("should leave a grant too long or empty to the API server", () => {
    const args = (span: string) => parseAccessArgs("grant", ["shop/x", "--for", span]);
    expect(args("8d")).toMatchObject({ spanMs: 8 * 86_400_000 });
    expect(args("0s")).toMatchObject({ spanMs: 0 });
  });
});

describe("runAccess before any request", () => {
  it("should print the usage on --help and exit 0", async () => {
    const io = capture();
    expect(await runAccess("suspend", ["--help"], io)).toBe(0);
    expect(io.stdout).toEqual([ACCESS_USAGE.trimEnd()]);
  });

  it("should exit 2 with the problem and the usage on a usage error", async () => {
    const io = capture();
    expect(await runAccess("grant", ["shop/on-call"], io)).toBe(2);
    expect(io.stderr).toEqual([
      `signet grant: grant needs --for, e.g. --for 30m\n\n${ACCESS_USAGE.trimEnd()}`,
    ]);
    expect(io.stdout).toEqual([]);
  });

  it("should exit 2 on a target it cannot read, before asking the API server", async () => {
    const io = capture();
    expect(await runAccess("suspend", ["pod/shop/x", "--kubeconfig", kubeconfig], io)).toBe(2);
    expect(io.stderr[0]).toMatch(
      /^signet suspend: target "pod\/shop\/x": unknown kind "pod"; use identity, policy, schedule\n/,
    );
  });

  it("should exit 2 on a context the kubeconfig lacks", async () => {
    const io = capture();
    expect(await runAccess("resume", ["mi/x", "--kubeconfig", kubeconfig, "--context", "nope"], io)).toBe(2);
    expect(io.stderr[0]).toMatch(/^signet resume: --context "nope" is not a context of the kubeconfig\n/);
  });
});
