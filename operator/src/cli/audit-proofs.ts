import { createReadStream } from "node:fs";
import { createInterface } from "node:readline";
import type { Readable } from "node:stream";
import { parseArgs } from "node:util";
import { oneOf, UsageError } from "../audit/cli-scope.ts";
import { ProofAuditTally } from "../audit/proofs.ts";
import { PROOF_AUDIT_FORMATS, renderProofAudit } from "../audit/proofs-render.ts";

export const AUDIT_PROOFS_USAGE = `usage: signet audit proofs [--from FILE|-] [--format table|json]

Reads the JSON audit lines of signet proxy (its stdout) and summarises who called whom: per
caller, target and AccessPolicy the requests accepted and refused by reason, first and last time;
then the refusals by reason, the most worrying first (ProofReplayed: a possible theft). Lines that
are not audit lines are counted and listed by line number.

flags:
      --from FILE          the audit lines, "-" for stdin (default)
      --format FORMAT      table (default) or json
`;

/** `signet audit proofs`: returns the process exit code (0 done, 2 usage error or unreadable input). */
export async function runAuditProofs(
  args: string[],
  io: { stdin: Readable; stdout: NodeJS.WritableStream; stderr: NodeJS.WritableStream } = process,
): Promise<number> {
  let from: string;
  let format: (typeof PROOF_AUDIT_FORMATS)[number];
  try {
    const { values } = parseArgs({
      args,
      options: {
        from: { type: "string", default: "-" },
        format: { type: "string", default: "table" },
        help: { type: "boolean", short: "h" },
      },
      strict: true,
      allowPositionals: false,
    });
    if (values.help) {
      io.stdout.write(AUDIT_PROOFS_USAGE);
      return 0;
    }
    from = values.from;
    format = oneOf("format", values.format, PROOF_AUDIT_FORMATS);
  } catch (err) {
    if (err instanceof UsageError || (err as { code?: string }).code?.startsWith?.("ERR_PARSE_ARGS")) {
      io.stderr.write(`signet audit proofs: ${(err as Error).message}\n\n${AUDIT_PROOFS_USAGE}`);
      return 2;
    }
    throw err;
  }
  const tally = new ProofAuditTally();
  const input = from === "-" ? io.stdin : createReadStream(from);
  try {
    // Line by line: an audit file may be larger than memory.
    for await (const line of createInterface({ input, crlfDelay: Number.POSITIVE_INFINITY })) tally.add(line);
  } catch (err) {
    const e = err as NodeJS.ErrnoException;
    io.stderr.write(`signet audit proofs: cannot read --from ${from}: ${e.code ?? e.message}\n`);
    return 2;
  }
  const summary = tally.summary();
  io.stdout.write(renderProofAudit(summary, format));
  if (summary.malformed.length > 0)
    io.stderr.write(
      `signet audit proofs: warning: ${summary.malformed.length} of ${summary.lines} lines are not audit lines (first: line ${summary.malformed[0]?.line})\n`,
    );
  return 0;
}
