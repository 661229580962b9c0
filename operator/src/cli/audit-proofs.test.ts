import { spawnSync } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { PassThrough, Readable } from "node:stream";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { AUDIT_PROOFS_USAGE, runAuditProofs } from "./audit-proofs.ts";

// `signet audit proofs`: in process with its streams in the test's hands, and through main.ts as a
// process, to show the subcommand is wired beside `signet audit` without changing it.

const MAIN = new URL("./main.ts", import.meta.url).pathname;
const CHECKOUT = "spiffe://cluster.local/ns/shop/id/checkout";
const PAYMENTS = "spiffe://cluster.local/ns/shop/id/payments-api";

const accepted = JSON.stringify({
  time: "2026-11-21T10:00:00.000Z",
  caller: CHECKOUT,
  target: PAYMENTS,
  method: "POST",
  path: "/v1/charges",
  outcome: "accepted",
  reason: "Allowed",
  policy: "checkout-to-payments",
  status: 201,
});
const replayed = JSON.stringify({
  time: "2026-11-21T10:00:01.000Z",
  caller: null,
  target: PAYMENTS,
  method: "POST",
  path: "/v1/charges",
  outcome: "refused",
  reason: "ProofReplayed",
  policy: null,
  status: 401,
});
const AUDIT = `${accepted}\n${replayed}\nnot an audit line\n${accepted}\n`;

let dir: string;
let file: string;

beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), "signet-audit-proofs-"));
  file = join(dir, "audit.jsonl");
  writeFileSync(file, AUDIT);
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

async function run(args: string[], stdin = "") {
  const stdout = new PassThrough();
  const stderr = new PassThrough();
  let out = "";
  let err = "";
  stdout.on("data", (c: Buffer) => {
    out += c.toString();
  });
  stderr.on("data", (c: Buffer) => {
    err += c.toString();
  });
  const code = await runAuditProofs(args, { stdin: Readable.from([stdin]), stdout, stderr });
  return { code, out, err };
}

describe("runAuditProofs", () => {
  it("should summarise the lines of --from FILE as JSON", async () => {
    const { code, out, err } = await run(["--from", file, "--format", "json"]);
    expect(code).toBe(0);
    const summary = JSON.parse(out);
    expect(summary).toMatchObject({
      lines: 4,
      accepted: 2,
      refused: 1,
      malformed: [{ line: 3, problem: "not JSON" }],
    });
    expect(summary.calls[1]).toMatchObject({ caller: CHECKOUT, accepted: 2, policy: "checkout-to-payments" });
    expect(summary.reasons[0]).toMatchObject({ reason: "ProofReplayed", concern: "PossibleTheft", count: 1 });
    expect(err).toBe("signet audit proofs: warning: 1 of 4 lines are not audit lines (first: line 3)\n");
  });

  it("should read stdin when --from is - or left out, as a table by default", async () => {
    for (const args of [[], ["--from", "-"]]) {
      const { code, out } = await run(args, AUDIT);
      expect(code).toBe(0);
      expect(out.split("\n")[0]).toBe(
        "4 lines, 2026-11-21T10:00:00.000Z to 2026-11-21T10:00:01.000Z: 2 accepted, 1 refused, 1 malformed",
      );
      expect(out).toMatch(/^PossibleTheft +ProofReplayed +1 /m);
    }
  });

  it("should print no warning when every line is an audit line", async () => {
    const { code, err } = await run([], `${accepted}\n`);
    expect(code).toBe(0);
    expect(err).toBe("");
  });

  const usage: { name: string; args: string[]; message: string }[] = [
    {
      name: "should refuse a format it does not write, naming the flag and the choices",
      args: ["--format", "yaml"],
      message: '--format must be one of table, json; got "yaml"',
    },
    {
      name: "should refuse an unknown flag",
      args: ["--output", "json"],
      message: "Unknown option '--output'",
    },
    {
      name: "should refuse a positional argument",
      args: ["audit.jsonl"],
      message: "Unexpected argument 'audit.jsonl'",
    },
  ];
  it.each(usage)("$name", async ({ args, message }) => {
    const { code, out, err } = await run(args);
    expect(code).toBe(2);
    expect(out).toBe("");
    expect(err).toContain(message);
    expect(err).toContain(AUDIT_PROOFS_USAGE);
  });

  it("should name a file it cannot read and exit 2", async () => {
    const missing = join(dir, "missing.jsonl");
    const { code, err } = await run(["--from", missing]);
    expect(code).toBe(2);
    expect(err).toBe(`signet audit proofs: cannot read --from ${missing}: ENOENT\n`);
  });
});

describe("signet audit proofs, as a process", () => {
  const signet = (args: string[], input?: string) =>
    spawnSync(process.execPath, [MAIN, ...args], { input, encoding: "utf8", timeout: 20_000 });

  it("should summarise the audit lines piped into it", () => {
    const result = signet(["audit", "proofs", "--format", "json"], AUDIT);
    expect(result.status).toBe(0);
    expect(JSON.parse(result.stdout)).toMatchObject({ lines: 4, accepted: 2, refused: 1 });
  });

  it("should print its own usage for --help", () => {
    const result = signet(["audit", "proofs", "--help"]);
    expect(result.status).toBe(0);
    expect(result.stdout).toBe(AUDIT_PROOFS_USAGE);
  });

  it("should leave signet audit as it was: its own flags, its own usage error", () => {
    const result = signet(["audit", "--output", "bogus"]);
    expect(result.status).toBe(2);
    expect(result.stderr).toContain(
      'signet audit: --output must be one of table, json, yaml, mermaid, dot, html; got "bogus"',
    );
    expect(result.stderr).toContain("usage: signet audit [--namespace NS | --all-namespaces]");
  });
});
