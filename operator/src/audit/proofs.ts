import { AuthorizationReason } from "../policy/http.ts";
import { ProofReason } from "../proof/reasons.ts";
import { ProxyReason } from "../proxy/reasons.ts";
import { compareStrings } from "./time.ts";

// `signet audit proofs`: who called whom, from the JSON audit lines of signet proxy
// (docs/proofs.md section 16, "Audit lines"). A pure tally of lines; reading them is the CLI's.

/**
 * How much a reason should worry the reader, most first. A replay or a proof on the wrong channel
 * means a proof presented where it was not made (docs/proofs.md, "Metrics"): a possible theft.
 */
export const Concern = {
  PossibleTheft: "PossibleTheft",
  Forgery: "Forgery",
  Denied: "Denied",
  Misdirected: "Misdirected",
  Clock: "Clock",
  Capacity: "Capacity",
  CallerError: "CallerError",
  Unknown: "Unknown",
} as const;
export type Concern = (typeof Concern)[keyof typeof Concern];

const CONCERN_ORDER: readonly Concern[] = Object.values(Concern);

const CONCERNS: Record<string, { concern: Concern; meaning: string }> = {
  [ProofReason.ProofReplayed]: {
    concern: Concern.PossibleTheft,
    meaning: "a proof accepted once was presented again on its own connection",
  },
  [ProofReason.ProofChannelMismatch]: {
    concern: Concern.PossibleTheft,
    meaning: "a proof made for another TLS connection (a replay, or TLS terminated in front of the proxy)",
  },
  [ProofReason.ProofSignatureInvalid]: {
    concern: Concern.Forgery,
    meaning: "not signed by the key of the certificate presented",
  },
  [ProofReason.ProofBindingMismatch]: {
    concern: Concern.Forgery,
    meaning: "made for another certificate than the one presented",
  },
  [ProofReason.ProofSubjectMismatch]: {
    concern: Concern.Forgery,
    meaning: "sub is not the SPIFFE ID of the certificate presented",
  },
  [AuthorizationReason.CallerNotAllowed]: {
    concern: Concern.Denied,
    meaning: "no active AccessPolicy of the target names the caller",
  },
  [AuthorizationReason.MethodNotAllowed]: {
    concern: Concern.Denied,
    meaning: "a policy names the caller, not for this method",
  },
  [AuthorizationReason.PathNotAllowed]: {
    concern: Concern.Denied,
    meaning: "a policy names the caller for this method, not this path",
  },
  [AuthorizationReason.CallerNotAnIdentity]: {
    concern: Concern.Denied,
    meaning: "the caller's SPIFFE ID is not of the form /ns/<namespace>/id/<name>",
  },
  [ProofReason.ProofAudienceMismatch]: { concern: Concern.Misdirected, meaning: "made for another service" },
  [ProofReason.ProofUrlMismatch]: { concern: Concern.Misdirected, meaning: "made for another URL" },
  [ProofReason.ProofMethodMismatch]: { concern: Concern.Misdirected, meaning: "made for another method" },
  [ProofReason.ProofTokenMismatch]: {
    concern: Concern.Misdirected,
    meaning: "bound to another bearer token, or to none",
  },
  [ProofReason.ProofExpired]: {
    concern: Concern.Clock,
    meaning: "expired, or clocks apart by more than the skew",
  },
  [ProofReason.ProofNotYetValid]: {
    concern: Concern.Clock,
    meaning: "made in the future by the proxy's clock",
  },
  [ProofReason.ReplayCacheFull]: { concern: Concern.Capacity, meaning: "the replay cache was full" },
  [ProxyReason.UpstreamUnavailable]: {
    concern: Concern.Capacity,
    meaning: "accepted, and the workload did not answer",
  },
  [ProxyReason.InternalError]: { concern: Concern.Capacity, meaning: "the proxy failed on the request" },
  [ProofReason.ProofMissing]: { concern: Concern.CallerError, meaning: "no proof sent" },
  [ProofReason.ProofMalformed]: { concern: Concern.CallerError, meaning: "not a well-formed Signet proof" },
  [ProofReason.ProofLifetimeTooLong]: { concern: Concern.CallerError, meaning: "valid for more than 60 s" },
  [ProofReason.NonceRequired]: { concern: Concern.CallerError, meaning: "no nonce where one is demanded" },
  [ProofReason.NonceInvalid]: { concern: Concern.CallerError, meaning: "a nonce the proxy did not issue" },
};

export function concernOf(reason: string): { concern: Concern; meaning: string } {
  return CONCERNS[reason] ?? { concern: Concern.Unknown, meaning: "a reason this version does not know" };
}

/** The fields of an audit line that the summary reads. */
interface Line {
  time: string;
  ms: number;
  caller: string | null;
  /** Whose verified certificate held the connection (absent in lines of older proxies). */
  peer: string | null;
  target: string;
  outcome: "accepted" | "refused";
  reason: string;
  policy: string | null;
}

/** The line's fields, or what is wrong with it. */
export function parseAuditLine(text: string): Line | string {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    return "not JSON";
  }
  if (typeof value !== "object" || value === null || Array.isArray(value)) return "not a JSON object";
  const v = value as Record<string, unknown>;
  if (typeof v.time !== "string" || Number.isNaN(Date.parse(v.time))) return "time is not a date";
  if (v.caller !== null && typeof v.caller !== "string") return "caller is neither a string nor null";
  if (v.peer !== undefined && v.peer !== null && typeof v.peer !== "string")
    return "peer is neither a string nor null";
  if (typeof v.target !== "string" || v.target === "") return "target is not a string";
  if (v.outcome !== "accepted" && v.outcome !== "refused")
    return 'outcome is neither "accepted" nor "refused"';
  if (typeof v.reason !== "string" || v.reason === "") return "reason is not a string";
  if (v.policy !== null && typeof v.policy !== "string") return "policy is neither a string nor null";
  return {
    time: v.time,
    ms: Date.parse(v.time),
    caller: v.caller,
    peer: typeof v.peer === "string" ? v.peer : null,
    target: v.target,
    outcome: v.outcome,
    reason: v.reason,
    policy: v.policy,
  };
}

interface Span {
  first: string;
  last: string;
  firstMs: number;
  lastMs: number;
}

function widen(span: Span | undefined, line: Line): Span {
  if (span === undefined) return { first: line.time, last: line.time, firstMs: line.ms, lastMs: line.ms };
  if (line.ms < span.firstMs) Object.assign(span, { first: line.time, firstMs: line.ms });
  if (line.ms > span.lastMs) Object.assign(span, { last: line.time, lastMs: line.ms });
  return span;
}

export interface CallSummary {
  /** null: a request refused before a proof authenticated a caller. */
  caller: string | null;
  target: string;
  /** The AccessPolicy that allowed the request, or whose http rules refused it. */
  policy: string | null;
  accepted: number;
  /** Refused requests by reason. */
  refused: Record<string, number>;
  /** Accepted requests that did not get the workload's answer, by reason (UpstreamUnavailable). */
  failed: Record<string, number>;
  first: string;
  last: string;
}

export interface ReasonSummary {
  reason: string;
  concern: Concern;
  meaning: string;
  count: number;
  /** Who the requests came from, most first; null for those no proof authenticated. */
  callers: { caller: string | null; count: number }[];
  targets: { target: string; count: number }[];
  first: string;
  last: string;
}

export interface ProofAuditSummary {
  /** Lines read, blank lines not counted. */
  lines: number;
  accepted: number;
  refused: number;
  malformed: { line: number; problem: string }[];
  calls: CallSummary[];
  /** Every reason but Allowed, the most worrying concern first, then by count. */
  reasons: ReasonSummary[];
  first: string | null;
  last: string | null;
}

const key = (...parts: (string | null)[]) => JSON.stringify(parts);

function countOf<T extends string | null>(map: Map<T, number>, name: "caller" | "target") {
  return [...map]
    .map(([value, count]) => ({ [name]: value, count }))
    .sort((a, b) => b.count - a.count || compareStrings(String(a[name] ?? ""), String(b[name] ?? "")));
}

/** Audit lines in, one at a time (a file may be larger than memory); the summary out. */
export class ProofAuditTally {
  private lineNumber = 0;
  private read = 0;
  private accepted = 0;
  private refused = 0;
  private readonly malformed: { line: number; problem: string }[] = [];
  private readonly calls = new Map<string, CallSummary & Span>();
  private readonly reasons = new Map<
    string,
    { count: number; callers: Map<string | null, number>; targets: Map<string, number>; span?: Span }
  >();
  private span: Span | undefined;

  /** One line of input, without its line break. */
  add(text: string): void {
    this.lineNumber++;
    if (text.trim() === "") return;
    this.read++;
    const line = parseAuditLine(text);
    if (typeof line === "string") {
      this.malformed.push({ line: this.lineNumber, problem: line });
      return;
    }
    this.span = widen(this.span, line);
    const id = key(line.caller, line.target, line.policy);
    let call = this.calls.get(id);
    if (call === undefined) {
      call = {
        caller: line.caller,
        target: line.target,
        policy: line.policy,
        accepted: 0,
        refused: {},
        failed: {},
        ...widen(undefined, line),
      };
      this.calls.set(id, call);
    } else {
      widen(call, line);
    }
    if (line.outcome === "accepted") {
      this.accepted++;
      call.accepted++;
      if (line.reason !== AuthorizationReason.Allowed)
        call.failed[line.reason] = (call.failed[line.reason] ?? 0) + 1;
    } else {
      this.refused++;
      call.refused[line.reason] = (call.refused[line.reason] ?? 0) + 1;
    }
    if (line.reason === AuthorizationReason.Allowed) return;
    let reason = this.reasons.get(line.reason);
    if (reason === undefined) {
      reason = { count: 0, callers: new Map(), targets: new Map() };
      this.reasons.set(line.reason, reason);
    }
    reason.count++;
    // A refusal before a proof named the caller is put down to whoever held the connection.
    const from = line.caller ?? line.peer;
    reason.callers.set(from, (reason.callers.get(from) ?? 0) + 1);
    reason.targets.set(line.target, (reason.targets.get(line.target) ?? 0) + 1);
    reason.span = widen(reason.span, line);
  }

  summary(): ProofAuditSummary {
    const calls = [...this.calls.values()]
      .sort(
        (a, b) =>
          compareStrings(a.target, b.target) ||
          compareStrings(a.caller ?? "", b.caller ?? "") ||
          compareStrings(a.policy ?? "", b.policy ?? ""),
      )
      .map(({ caller, target, policy, accepted, refused, failed, first, last }) => ({
        caller,
        target,
        policy,
        accepted,
        refused: { ...refused },
        failed: { ...failed },
        first,
        last,
      }));
    const reasons = [...this.reasons]
      .map(([reason, r]): ReasonSummary => {
        const span = r.span as Span;
        return {
          reason,
          ...concernOf(reason),
          count: r.count,
          callers: countOf(r.callers, "caller") as ReasonSummary["callers"],
          targets: countOf(r.targets, "target") as ReasonSummary["targets"],
          first: span.first,
          last: span.last,
        };
      })
      .sort(
        (a, b) =>
          CONCERN_ORDER.indexOf(a.concern) - CONCERN_ORDER.indexOf(b.concern) ||
          b.count - a.count ||
          compareStrings(a.reason, b.reason),
      );
    return {
      lines: this.read,
      accepted: this.accepted,
      refused: this.refused,
      malformed: [...this.malformed],
      calls,
      reasons,
      first: this.span?.first ?? null,
      last: this.span?.last ?? null,
    };
  }
}

/** The summary of a whole text of audit lines. */
export function summariseProofAudit(text: string): ProofAuditSummary {
  const tally = new ProofAuditTally();
  const lines = text.split(/\r?\n/);
  // A final line break ends the last line; it does not start another one.
  if (lines.at(-1) === "") lines.pop();
  for (const line of lines) tally.add(line);
  return tally.summary();
}
