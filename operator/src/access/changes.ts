import type { Grant } from "../api/index.ts";
import { formatDuration, parseDuration } from "../api/index.ts";
import { parseInstant } from "../schedule/instant.ts";
import { describeTarget, type Target } from "./target.ts";

// The changes `signet suspend|resume|grant|revoke` make, as pure functions of the object read and
// the time: the commands read, ask these, write once, and print what these describe.

export interface SuspendChange {
  before: boolean;
  after: boolean;
}

/** spec.suspend before and after; equal when the object already is as asked. */
export function suspendChange(spec: { suspend?: boolean } | undefined, suspend: boolean): SuspendChange {
  return { before: spec?.suspend === true, after: suspend };
}

const DAY_MS = 86_400_000;
/** Well inside the range of a JavaScript Date from any present instant (about 31,700 years). */
const MAX_SPAN_MS = 1e15;
const SPAN = /^(?:([0-9]+(?:[.][0-9]+)?)d)?(.*)$/;

/**
 * The --for of a grant: a duration in d, h, m, s and ms, e.g. 30m, 2h, 1h30m, 1d12h or 8d. Only
 * the syntax is checked here, since the API server cannot read a flag; whether the grant is too
 * long (the 7-day rule) or empty is the API server's to say, in its own words.
 */
export function parseGrantSpan(text: string): number {
  const match = SPAN.exec(text);
  const days = match?.[1];
  const rest = match?.[2] ?? "";
  const valid = match !== null && (days !== undefined || rest !== "") && (rest === "" || isSpanRest(rest));
  if (!valid) {
    throw new RangeError(
      `--for must be a duration such as 30m, 2h, 1h30m or 1d12h (units d, h, m, s, ms); got ${JSON.stringify(text)}`,
    );
  }
  const ms = Math.round(
    (days === undefined ? 0 : Number(days) * DAY_MS) + (rest === "" ? 0 : parseDuration(rest)),
  );
  if (ms > MAX_SPAN_MS) throw new RangeError(`--for ${text} ends later than any instant can be written`);
  return ms;
}

function isSpanRest(text: string): boolean {
  try {
    parseDuration(text);
    return true;
  } catch {
    return false;
  }
}

/** A span as --for would be written: whole days first, then the rest as a duration ("1d12h", "30m"). */
export function spanText(ms: number): string {
  const days = Math.floor(ms / DAY_MS);
  const rest = ms - days * DAY_MS;
  if (days === 0) return formatDuration(rest);
  return rest === 0 ? `${days}d` : `${days}d${formatDuration(rest)}`;
}

/** An RFC 3339 instant in UTC, in whole seconds when it is one ("…T10:00:00Z"), else to the millisecond. */
export function instantText(ms: number): string {
  const iso = new Date(ms).toISOString();
  return iso.endsWith(".000Z") ? `${iso.slice(0, -5)}Z` : iso;
}

/**
 * An instant for a line a person reads: the time of day when it falls on the same UTC day as
 * `now` ("10:30:00Z"), else the whole instant; to the second either way.
 */
export function clockText(ms: number, now: number): string {
  const iso = new Date(Math.floor(ms / 1000) * 1000).toISOString().replace(".000Z", "Z");
  return iso.slice(0, 10) === new Date(now).toISOString().slice(0, 10) ? iso.slice(11) : iso;
}

export interface OpenedGrant {
  /** spec.grants after the change: the existing grants, untouched, then the new one. */
  grants: Grant[];
  opened: Grant;
  startMs: number;
  endMs: number;
}

/**
 * A grant that opens now, on the whole second (so that it reads as it was meant, 10:00:00Z ->
 * 10:30:00Z, and is already open when written), for `spanMs`. The grants already there stay as
 * they are, ended ones included: they are the schedule's record of who had access when.
 */
export function openGrant(
  grants: readonly Grant[] | undefined,
  now: number,
  spanMs: number,
  reason?: string,
): OpenedGrant {
  const startMs = Math.floor(now / 1000) * 1000;
  const endMs = startMs + spanMs;
  const opened: Grant = {
    start: instantText(startMs),
    end: instantText(endMs),
    ...(reason === undefined ? {} : { reason }),
  };
  return { grants: [...(grants ?? []), opened], opened, startMs, endMs };
}

export interface EndedGrant {
  index: number;
  before: Grant;
  after: Grant;
}

export interface RevokedGrants {
  /** spec.grants after the change, in the same order, the same length. */
  grants: Grant[];
  /** The grants open at `now`, each now ending at `now`. */
  ended: EndedGrant[];
  /** Grants that have not opened yet: left alone, since revoking ends what is open. */
  pending: Grant[];
}

/**
 * Ends every grant open at `now` by setting its end to `now`, to the millisecond. The grant stays
 * in spec.grants rather than being removed: its start, reason and the end it really had remain in
 * the object (and in a GitOps repository's history of it), where removing it would erase the only
 * record on the schedule itself that access was granted at all. Grants that are malformed are left
 * for the API server and the operator to report; a grant opened in this very millisecond ends one
 * millisecond later, as a grant's end must come after its start.
 */
export function revokeOpenGrants(grants: readonly Grant[] | undefined, now: number): RevokedGrants {
  const ended: EndedGrant[] = [];
  const pending: Grant[] = [];
  const after = (grants ?? []).map((grant, index) => {
    const start = parseInstant(grant.start);
    const end = parseInstant(grant.end);
    if (!start.ok || !end.ok) return grant;
    if (start.ms > now) {
      if (end.ms > start.ms) pending.push(grant);
      return grant;
    }
    if (now >= end.ms) return grant;
    const changed: Grant = { ...grant, end: instantText(Math.max(now, start.ms + 1)) };
    ended.push({ index, before: grant, after: changed });
    return changed;
  });
  return { grants: after, ended, pending };
}

const reasonSuffix = (reason: string | undefined) => (reason ? ` (${reason})` : "");

/** "policy shop/x: suspend false -> true (incident 4711)", or what it already was. */
export function describeSuspend(target: Target, change: SuspendChange, reason?: string): string {
  if (change.before === change.after) {
    return `${describeTarget(target)}: already ${change.after ? "suspended" : "not suspended"}; nothing changed`;
  }
  return `${describeTarget(target)}: suspend ${change.before} -> ${change.after}${reasonSuffix(reason)}`;
}

/** How a schedule reached through a policy or identity is named: "schedule shop/on-call (spec.scheduleRef of policy shop/x)". */
export function describeSchedule(schedule: Target, via?: Target): string {
  return via === undefined
    ? describeTarget(schedule)
    : `${describeTarget(schedule)} (spec.scheduleRef of ${describeTarget(via)})`;
}

/** "schedule shop/x: grant opened 10:00:00Z -> 10:30:00Z (30m, incident 4711)" */
export function describeGrantOpened(
  schedule: Target,
  opened: OpenedGrant,
  now: number,
  via?: Target,
): string {
  const span = spanText(opened.endMs - opened.startMs);
  const why = opened.opened.reason ? `, ${opened.opened.reason}` : "";
  return `${describeSchedule(schedule, via)}: grant opened ${clockText(opened.startMs, now)} -> ${clockText(opened.endMs, now)} (${span}${why})`;
}

/** One line per ended grant: "schedule shop/x: grant 10:00:00Z -> 10:30:00Z (incident 4711) revoked, end 10:30:00Z -> 10:12:03Z" */
export function describeGrantsRevoked(
  schedule: Target,
  revoked: RevokedGrants,
  now: number,
  reason?: string,
  via?: Target,
): string[] {
  const at = (text: string) => {
    const parsed = parseInstant(text);
    return parsed.ok ? clockText(parsed.ms, now) : text;
  };
  const lines = revoked.ended.map(
    ({ before, after }) =>
      `${describeSchedule(schedule, via)}: grant ${at(before.start)} -> ${at(before.end)}${reasonSuffix(before.reason)} revoked, end ${at(before.end)} -> ${at(after.end)}${reasonSuffix(reason)}`,
  );
  for (const grant of revoked.pending) {
    lines.push(
      `${describeSchedule(schedule, via)}: grant ${at(grant.start)} -> ${at(grant.end)}${reasonSuffix(grant.reason)} has not opened yet and stays; remove it from spec.grants to cancel it`,
    );
  }
  return lines;
}
