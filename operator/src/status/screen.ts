import type { Condition } from "../api/index.ts";
import {
  type AuditIdentityObject,
  type AuditInput,
  type AuditPolicyObject,
  type AuditScheduleObject,
  buildAuditReport,
  type IdentityReport,
  policyState,
} from "../audit/report.ts";
import { compareStrings, formatSpan } from "../audit/time.ts";
import { accessPolicyDecision } from "../policy/index.ts";
import { type ScheduleState, scheduleState } from "../schedule/index.ts";

// `signet status`: one screen of what needs attention and what holds now, built from what
// `signet audit` gathers, as a pure function of it and the time.

/** An identity as listed, with the status fields the audit does not read. */
export interface StatusIdentityObject extends AuditIdentityObject {
  spec?: AuditIdentityObject["spec"] & { scheduleRef?: { name: string } };
  status?: AuditIdentityObject["status"] & { renewalTime?: string };
}

/** A policy as listed, with the status fields the audit does not read. */
export interface StatusPolicyObject extends AuditPolicyObject {
  status?: AuditPolicyObject["status"] & { nextTransition?: string; conditions?: Condition[] };
}

export interface StatusInput extends Omit<AuditInput, "identities" | "policies"> {
  identities: readonly StatusIdentityObject[];
  policies: readonly StatusPolicyObject[];
}

/**
 * How long past its renewal time a certificate in use may go unrenewed before it is a problem: the
 * operator renews at that time, so a minute later the old certificate should have been replaced.
 */
export const RENEWAL_GRACE_MS = 60_000;

/** Not Ready for these reasons is the identity working as specified, not a fault. */
const EXPECTED_NOT_READY: ReadonlySet<string> = new Set(["Suspended", "OutsideWindow"]);

/** A policy closed for these reasons is closed against its owner's intent: something is missing or cut. */
const DENIED_REASONS: ReadonlySet<string> = new Set([
  "ScheduleNotFound",
  "TargetSuspended",
  "SourcesSuspended",
  "NoSources",
]);

const INVALID_SCHEDULE_REASONS: ReadonlySet<string> = new Set([
  "InvalidTimeZone",
  "InvalidWindow",
  "InvalidGrant",
]);

/** `failing`: something does not work as specified; `suspended`: someone cut it on purpose. */
export type ProblemKind = "failing" | "suspended";

export interface Problem {
  kind: ProblemKind;
  /** "identity shop/payments", "policy shop/checkout-to-payments", "schedule shop/on-call". */
  object: string;
  problem: string;
}

export interface IdentityRow {
  namespace: string;
  name: string;
  ready: boolean;
  readyReason: string;
  suspended: boolean;
  notAfter: string | null;
  renewalTime: string | null;
  consumers: number;
  delivery: string;
  podCertificates: IdentityReport["podCertificates"];
}

export interface PolicyRow {
  namespace: string;
  name: string;
  target: string;
  /** The sources as namespace/identity, sorted. */
  from: string[];
  active: boolean;
  reason: string;
  /** When `active` next changes, if anything in the spec will change it. */
  nextTransition: string | null;
}

export interface ScheduleRow {
  namespace: string;
  name: string;
  active: boolean;
  reason: string;
  /** While active: when the open window or grant (merged with any adjoining) closes. */
  openUntil: string | null;
  /** The reasons of the grants open now, in spec order ("" for a grant without one). */
  openGrants: string[];
  nextTransition: string | null;
  /** Grants that have not opened yet. */
  upcomingGrants: number;
  message: string;
}

export interface StatusScreen {
  generatedAt: string;
  /** "namespace shop" or "all namespaces". */
  scope: string;
  problems: Problem[];
  identities: IdentityRow[];
  policies: PolicyRow[];
  schedules: ScheduleRow[];
}

function namespaceOf(meta: { namespace?: string }): string {
  return meta.namespace ?? "default";
}

const iso = (date: Date | undefined) => (date === undefined ? null : date.toISOString());

function instant(text: string | undefined): number | undefined {
  if (text === undefined) return undefined;
  const ms = Date.parse(text);
  return Number.isNaN(ms) ? undefined : ms;
}

/** A timestamp of the API as an ISO instant, or null when it is absent or not one. */
function isoOf(text: string | undefined): string | null {
  const ms = instant(text);
  return ms === undefined ? null : new Date(ms).toISOString();
}

function condition(conditions: readonly Condition[] | undefined, type: string): Condition | undefined {
  return conditions?.find((c) => c.type === type);
}

const byObject = <T extends { namespace: string; name: string }>(a: T, b: T) =>
  compareStrings(a.namespace, b.namespace) || compareStrings(a.name, b.name);

function identityProblems(
  row: IdentityReport,
  object: StatusIdentityObject,
  now: number,
  windowEnd: (namespace: string, schedule: string) => number | undefined,
): Problem[] {
  const name = `identity ${row.namespace}/${row.name}`;
  if (row.suspended) {
    return [
      { kind: "suspended", object: name, problem: "suspended (spec.suspend): no credential, no access" },
    ];
  }
  const problems: Problem[] = [];
  const conditions = object.status?.conditions;
  const ready = condition(conditions, "Ready");
  if (!row.ready && !EXPECTED_NOT_READY.has(row.readyReason)) {
    problems.push({
      kind: "failing",
      object: name,
      problem:
        ready === undefined
          ? "not Ready: the operator has reported no status yet"
          : `not Ready (${ready.reason}): ${ready.message}`,
    });
  }
  const issuing = condition(conditions, "Issuing");
  if (row.ready && issuing?.reason === "IssuanceFailed") {
    problems.push({ kind: "failing", object: name, problem: `issuance failing: ${issuing.message}` });
  }
  const renewal = instant(object.status?.renewalTime);
  const notAfter = instant(row.notAfter ?? undefined);
  if (row.ready && renewal !== undefined && notAfter !== undefined && now >= renewal + RENEWAL_GRACE_MS) {
    // A certificate that already reaches the end of its access window is not renewed on purpose:
    // no new one could outlive it.
    const scheduleName = object.spec?.scheduleRef?.name;
    const end = scheduleName === undefined ? undefined : windowEnd(row.namespace, scheduleName);
    if (end === undefined || notAfter < end - 2_000) {
      problems.push({
        kind: "failing",
        object: name,
        problem: `renewal overdue: it was due ${formatSpan(now - renewal)} ago, and the certificate ${notAfter > now ? `expires in ${formatSpan(notAfter - now)}` : `expired ${formatSpan(now - notAfter)} ago`}`,
      });
    }
  }
  return problems;
}

function policyProblems(row: PolicyRow, object: StatusPolicyObject): Problem[] {
  const name = `policy ${row.namespace}/${row.name}`;
  if (object.spec.suspend === true) {
    return [
      { kind: "suspended", object: name, problem: "suspended (spec.suspend): its allow rule is removed" },
    ];
  }
  const problems: Problem[] = [];
  if (!row.active && DENIED_REASONS.has(row.reason)) {
    problems.push({ kind: "failing", object: name, problem: `denied (${row.reason}): ${deniedText(row)}` });
  }
  const ready = condition(object.status?.conditions, "Ready");
  if (ready?.status === "False" && ready.reason !== "ScheduleNotFound") {
    problems.push({
      kind: "failing",
      object: name,
      problem: `not in force (${ready.reason}): ${ready.message}`,
    });
  }
  return problems;
}

function deniedText(row: PolicyRow): string {
  switch (row.reason) {
    case "ScheduleNotFound":
      return "its spec.scheduleRef names no AccessSchedule";
    case "TargetSuspended":
      return `its target identity ${row.target} is suspended`;
    case "SourcesSuspended":
      return "every source identity is suspended";
    default:
      return "spec.allowFrom is empty";
  }
}

function scheduleProblems(row: ScheduleRow): Problem[] {
  const name = `schedule ${row.namespace}/${row.name}`;
  if (row.reason === "Suspended") {
    return [
      {
        kind: "suspended",
        object: name,
        problem: "suspended (spec.suspend): every policy and identity that follows it is closed",
      },
    ];
  }
  if (INVALID_SCHEDULE_REASONS.has(row.reason)) {
    return [{ kind: "failing", object: name, problem: `invalid (${row.reason}): ${row.message}` }];
  }
  return [];
}

function scheduleRow(schedule: AuditScheduleObject, state: ScheduleState, now: number): ScheduleRow {
  const grants = schedule.spec.grants ?? [];
  const open = grants.filter((g) => {
    const [start, end] = [instant(g.start), instant(g.end)];
    return start !== undefined && end !== undefined && start <= now && now < end;
  });
  return {
    namespace: namespaceOf(schedule.metadata),
    name: schedule.metadata.name,
    active: state.active,
    reason: state.reason,
    openUntil: iso(state.currentWindowEnd),
    openGrants: state.active && schedule.spec.suspend !== true ? open.map((g) => g.reason ?? "") : [],
    nextTransition: iso(state.nextTransition),
    upcomingGrants: grants.filter((g) => (instant(g.start) ?? Number.NEGATIVE_INFINITY) > now).length,
    message: state.message,
  };
}

const PROBLEM_ORDER: Readonly<Record<ProblemKind, number>> = { failing: 0, suspended: 1 };
const KIND_ORDER = ["identity", "policy", "schedule"];

function compareProblems(a: Problem, b: Problem): number {
  const kindOf = (p: Problem) => KIND_ORDER.indexOf(p.object.split(" ")[0] ?? "");
  return (
    PROBLEM_ORDER[a.kind] - PROBLEM_ORDER[b.kind] ||
    kindOf(a) - kindOf(b) ||
    compareStrings(a.object, b.object) ||
    compareStrings(a.problem, b.problem)
  );
}

/**
 * The status screen at `input.now`: problems (what fails first, then what is suspended), then every
 * identity, policy and schedule of the scope. Identities come from the audit's report; a policy's
 * state is the operator's when its status is about the current spec, else computed as the operator
 * would; a schedule's state is always computed, being a pure function of its spec and the time.
 */
export function buildStatusScreen(input: StatusInput): StatusScreen {
  const now = input.now.getTime();
  const only = input.namespace;
  const inScope = (meta: { namespace?: string }) => only === undefined || namespaceOf(meta) === only;
  const report = buildAuditReport(input);

  const scheduleStates = new Map<string, ScheduleState>();
  for (const schedule of input.schedules) {
    scheduleStates.set(
      `${namespaceOf(schedule.metadata)}/${schedule.metadata.name}`,
      scheduleState(schedule.spec, input.now),
    );
  }
  const stateOf = (namespace: string, name: string) => scheduleStates.get(`${namespace}/${name}`);
  const suspendedIdentities = new Set(
    input.identities
      .filter((i) => i.spec?.suspend === true)
      .map((i) => `${namespaceOf(i.metadata)}/${i.metadata.name}`),
  );
  const identitySuspended = (namespace: string, name: string) =>
    suspendedIdentities.has(`${namespace}/${name}`);

  const objects = new Map(input.identities.map((i) => [`${namespaceOf(i.metadata)}/${i.metadata.name}`, i]));
  const problems: Problem[] = [];
  const identities = report.identities.map((row): IdentityRow => {
    const object = objects.get(`${row.namespace}/${row.name}`) ?? { metadata: { name: row.name } };
    problems.push(
      ...identityProblems(row, object, now, (ns, name) => stateOf(ns, name)?.currentWindowEnd?.getTime()),
    );
    return {
      namespace: row.namespace,
      name: row.name,
      ready: row.ready,
      readyReason: row.readyReason,
      suspended: row.suspended,
      notAfter: row.notAfter,
      renewalTime: isoOf(object.status?.renewalTime),
      consumers: row.consumers.length,
      delivery: row.delivery,
      podCertificates: row.podCertificates,
    };
  });

  const policies = input.policies
    .filter((p) => inScope(p.metadata))
    .map((policy): PolicyRow => {
      const namespace = namespaceOf(policy.metadata);
      const state = policyState(policy, input.schedules, input.now, identitySuspended);
      const decision = accessPolicyDecision(
        { metadata: { name: policy.metadata.name, namespace }, spec: policy.spec },
        stateOf,
        identitySuspended,
      );
      const next =
        state.activeFrom === "status" ? isoOf(policy.status?.nextTransition) : iso(decision.nextTransition);
      const row: PolicyRow = {
        namespace,
        name: policy.metadata.name,
        target: `${namespace}/${policy.spec.target.identity}`,
        from: [
          ...new Set(policy.spec.allowFrom.map((s) => `${s.namespace ?? namespace}/${s.identity}`)),
        ].sort(compareStrings),
        active: state.active,
        reason: state.reason,
        nextTransition: next,
      };
      problems.push(...policyProblems(row, policy));
      return row;
    })
    .sort(byObject);

  const schedules = input.schedules
    .filter((s) => inScope(s.metadata))
    .map((schedule) =>
      scheduleRow(
        schedule,
        stateOf(namespaceOf(schedule.metadata), schedule.metadata.name) ??
          scheduleState(schedule.spec, input.now),
        now,
      ),
    )
    .sort(byObject);
  for (const row of schedules) problems.push(...scheduleProblems(row));

  return {
    generatedAt: input.now.toISOString(),
    scope: only === undefined ? "all namespaces" : `namespace ${only}`,
    problems: problems.sort(compareProblems),
    identities,
    policies,
    schedules,
  };
}
