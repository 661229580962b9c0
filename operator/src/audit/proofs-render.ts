import type { CallSummary, ProofAuditSummary } from "./proofs.ts";
import { alignColumns } from "./render.ts";

export const PROOF_AUDIT_FORMATS = ["table", "json"] as const;
export type ProofAuditFormat = (typeof PROOF_AUDIT_FORMATS)[number];

/** The table lists this many malformed lines; JSON lists them all. */
export const MALFORMED_SHOWN = 20;

const NO_CALLER = "(unauthenticated)";

const counts = (byReason: Record<string, number>) =>
  Object.entries(byReason)
    .sort(([a, x], [b, y]) => y - x || (a < b ? -1 : 1))
    .map(([reason, n]) => `${reason}=${n}`)
    .join(",");

function refusedCell(call: CallSummary): string {
  const refused = counts(call.refused);
  const failed = counts(call.failed);
  if (failed === "") return refused || "-";
  return refused ? `${refused} (accepted, then ${failed})` : `(accepted, then ${failed})`;
}

function renderTable(s: ProofAuditSummary): string {
  const out: string[] = [];
  const span = s.first === null ? "" : `, ${s.first} to ${s.last}`;
  out.push(
    `${s.lines} lines${span}: ${s.accepted} accepted, ${s.refused} refused, ${s.malformed.length} malformed`,
  );
  if (s.reasons.length > 0) {
    out.push(
      "",
      "REFUSALS, most worrying first",
      alignColumns([
        ["CONCERN", "REASON", "COUNT", "FROM", "TO", "FIRST", "LAST", "MEANING"],
        ...s.reasons.map((r) => [
          r.concern,
          r.reason,
          String(r.count),
          r.callers.map((c) => `${c.caller ?? NO_CALLER}=${c.count}`).join(","),
          r.targets.map((t) => `${t.target}=${t.count}`).join(","),
          r.first,
          r.last,
          r.meaning,
        ]),
      ]),
    );
    if (s.reasons.some((r) => r.callers.some((c) => c.caller === null)))
      out.push(`${NO_CALLER}: refused before a proof authenticated a caller; the proxy names none then.`);
  }
  if (s.calls.length > 0) {
    out.push(
      "",
      "CALLS",
      alignColumns([
        ["CALLER", "TARGET", "POLICY", "ACCEPTED", "REFUSED", "FIRST", "LAST"],
        ...s.calls.map((c) => [
          c.caller ?? NO_CALLER,
          c.target,
          c.policy ?? "-",
          String(c.accepted),
          refusedCell(c),
          c.first,
          c.last,
        ]),
      ]),
    );
  }
  if (s.malformed.length > 0) {
    const shown = s.malformed.slice(0, MALFORMED_SHOWN);
    out.push(
      "",
      "MALFORMED LINES",
      alignColumns([["LINE", "PROBLEM"], ...shown.map((m) => [String(m.line), m.problem])]),
    );
    const more = s.malformed.length - shown.length;
    if (more > 0) out.push(`and ${more} more (--format json lists them all)`);
  }
  return `${out.join("\n")}\n`;
}

export function renderProofAudit(summary: ProofAuditSummary, format: ProofAuditFormat): string {
  return format === "json" ? `${JSON.stringify(summary, null, 2)}\n` : renderTable(summary);
}
