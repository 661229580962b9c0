import { randomBytes } from "node:crypto";
import { parseArgs } from "node:util";
import type * as k8s from "@kubernetes/client-node";
import {
  describeGrantOpened,
  describeGrantsRevoked,
  describeSchedule,
  describeSuspend,
  instantText,
  openGrant,
  parseGrantSpan,
  revokeOpenGrants,
  suspendChange,
} from "../access/changes.ts";
import { AccessApi, type AccessObject, retryOnConflict } from "../access/cluster.ts";
import { AccessCommandReason, accessEvent, type ChangedObject } from "../access/record.ts";
import {
  describeTarget,
  type GrantTarget,
  parseGrantTarget,
  parseTarget,
  type Target,
  TargetError,
  WORD_OF,
} from "../access/target.ts";
import { describeApiError, UsageError } from "../audit/cli-scope.ts";
import { KUBE_FLAG_OPTIONS, KUBE_FLAG_USAGE, kubeConfigFromFlags } from "./kube-flags.ts";

export const ACCESS_COMMANDS = ["suspend", "resume", "grant", "revoke"] as const;
export type AccessCommand = (typeof ACCESS_COMMANDS)[number];

export const ACCESS_USAGE = `usage: signet suspend <kind>/<namespace>/<name> [--reason TEXT] [--dry-run]
       signet resume  <kind>/<namespace>/<name> [--reason TEXT] [--dry-run]
       signet grant   <namespace>/<schedule-or-policy> --for DURATION [--reason TEXT] [--dry-run]
       signet revoke  <namespace>/<schedule-or-policy> [--reason TEXT] [--dry-run]

suspend and resume set spec.suspend of a MachineIdentity, AccessPolicy or AccessSchedule. grant
adds a just-in-time grant that opens now to an AccessSchedule's spec.grants; on a policy (or an
identity) it is added to the schedule its spec.scheduleRef names. revoke ends the grants open now,
keeping them in spec.grants with the end they really had. Each change is a write guarded by the
resourceVersion it was computed from, prints what changed, and leaves an events.k8s.io Event on the
changed object (reportingController signet.dev/cli) naming the user the API server authenticated.

kinds: identity (mi, mid, machineidentity), policy (ap, accesspolicy), schedule (as, accessschedule);
<kind>/<name> and a grant target <name> are in the namespace of -n, else the context's.
A grant target <namespace>/<name> is the schedule or the policy of that name; write
schedule/<namespace>/<name> or policy/<namespace>/<name> when both exist.

flags:
  -n, --namespace NS       namespace of targets written without one
      --for DURATION       (grant) how long: 30m, 2h, 1h30m, 1d12h; the API server allows at most 7 days
      --reason TEXT        why: in the Event, and in the grant itself for grant
      --dry-run            the API server checks the change but makes none; no Event
${KUBE_FLAG_USAGE}

exit status: 0 changed or nothing to change, 1 refused (by the API server, or nothing to grant on or
to revoke), 2 usage error. The person running it needs patch on the object and create on
events.k8s.io Events in its namespace; nothing is changed without the right to record it.
`;

/** A refusal that is not the API server's: nothing to grant on, nothing to revoke. */
class RefusedError extends Error {}

export interface AccessOptions {
  namespace: string | undefined;
  reason: string | undefined;
  dryRun: boolean;
  kubeconfig: string | undefined;
  context: string | undefined;
}

export type AccessArgs =
  | { help: true }
  | {
      help: false;
      /** The one positional argument, read as a target once the default namespace is known. */
      target: string;
      /** grant's --for in milliseconds; 0 for the other commands. */
      spanMs: number;
      options: AccessOptions;
    };

/** The command line of an access command; a UsageError says what is wrong with it. */
export function parseAccessArgs(command: AccessCommand, args: string[]): AccessArgs {
  let parsed: ReturnType<typeof parse>;
  try {
    parsed = parse(args);
  } catch (err) {
    throw new UsageError((err as Error).message);
  }
  const { values, positionals } = parsed;
  if (values.help) return { help: true };
  if (positionals.length !== 1) {
    throw new UsageError(`${command} takes exactly one target; got ${positionals.length}`);
  }
  if (command === "grant" && values.for === undefined)
    throw new UsageError("grant needs --for, e.g. --for 30m");
  if (command !== "grant" && values.for !== undefined)
    throw new UsageError(`--for belongs to grant, not ${command}`);
  if (values.reason !== undefined && values.reason.trim() === "") throw new UsageError("--reason is empty");
  return {
    help: false,
    target: positionals[0] ?? "",
    spanMs: command === "grant" ? grantSpan(values.for ?? "") : 0,
    options: {
      namespace: values.namespace,
      reason: values.reason,
      dryRun: values["dry-run"] === true,
      kubeconfig: values.kubeconfig,
      context: values.context,
    },
  };
}

function parse(args: string[]) {
  return parseArgs({
    args,
    options: {
      namespace: { type: "string", short: "n" },
      reason: { type: "string" },
      for: { type: "string" },
      "dry-run": { type: "boolean", default: false },
      ...KUBE_FLAG_OPTIONS,
      help: { type: "boolean", short: "h" },
    },
    strict: true,
    allowPositionals: true,
  });
}

/** Where the commands write, and their clock. */
export interface Io {
  out: (line: string) => void;
  err: (line: string) => void;
  now: () => number;
}

const processIo: Io = {
  out: (line) => process.stdout.write(`${line}\n`),
  err: (line) => process.stderr.write(`${line}\n`),
  now: () => Date.now(),
};

const usageError = (command: AccessCommand, err: Error) =>
  `signet ${command}: ${err.message}\n\n${ACCESS_USAGE.trimEnd()}`;

/** `signet suspend|resume|grant|revoke`: returns the process exit code. */
export async function runAccess(command: AccessCommand, args: string[], io: Io = processIo): Promise<number> {
  let parsed: AccessArgs;
  try {
    parsed = parseAccessArgs(command, args);
  } catch (err) {
    io.err(usageError(command, err as Error));
    return 2;
  }
  if (parsed.help) {
    io.out(ACCESS_USAGE.trimEnd());
    return 0;
  }
  const { target: positional, spanMs, options } = parsed;
  try {
    const kc = kubeConfigFromFlags(options);
    const defaultNamespace = options.namespace ?? contextNamespace(kc);
    const api = new AccessApi(kc);
    if (command === "suspend" || command === "resume") {
      const target = parseTarget(positional, defaultNamespace);
      await setSuspend(api, target, command === "suspend", options, io);
    } else {
      const target = parseGrantTarget(positional, defaultNamespace);
      const scheduleOf = await scheduleFor(api, target);
      if (command === "grant") await grant(api, scheduleOf, spanMs, options, io);
      else await revoke(api, scheduleOf, options, io);
    }
    return 0;
  } catch (err) {
    if (err instanceof UsageError || err instanceof TargetError) {
      io.err(usageError(command, err));
      return 2;
    }
    if (err instanceof RefusedError) {
      io.err(`signet ${command}: ${err.message}`);
      return 1;
    }
    io.err(`signet ${command}: ${describeFailure(err)}`);
    return 1;
  }
}

/** An API error with the object it was about, from wherever it was thrown. */
class TargetApiError extends Error {
  constructor(target: Target, cause: unknown) {
    super(`${describeTarget(target)}: ${describeApiError(cause)}`);
  }
}

function describeFailure(err: unknown): string {
  return err instanceof TargetApiError ? err.message : describeApiError(err);
}

async function about<T>(target: Target, call: () => Promise<T>): Promise<T> {
  try {
    return await call();
  } catch (err) {
    if (err instanceof RefusedError || err instanceof TargetApiError) throw err;
    throw new TargetApiError(target, err);
  }
}

function grantSpan(text: string): number {
  try {
    return parseGrantSpan(text);
  } catch (err) {
    throw new UsageError((err as Error).message);
  }
}

function contextNamespace(kc: k8s.KubeConfig): string {
  return kc.getContextObject(kc.getCurrentContext())?.namespace ?? "default";
}

function changedObject(target: Target, object: AccessObject): ChangedObject {
  const { uid, resourceVersion } = object.metadata;
  return {
    kind: target.kind,
    metadata: {
      name: target.name,
      namespace: target.namespace,
      ...(uid === undefined ? {} : { uid }),
      ...(resourceVersion === undefined ? {} : { resourceVersion }),
    },
  };
}

/**
 * Who is asking, and whether the change can be recorded: both before anything is written, so that
 * no change is made that leaves no Event.
 */
async function requester(api: AccessApi, namespace: string, options: AccessOptions, io: Io): Promise<string> {
  const [user, allowed] = await Promise.all([api.whoAmI(), api.mayRecord(namespace)]);
  if (!allowed) {
    const why = `user ${user} may not create events.k8s.io Events in namespace ${namespace}, so the change could not be recorded`;
    if (!options.dryRun) {
      throw new RefusedError(`${why}; nothing was changed. Ask for create on events.events.k8s.io there.`);
    }
    io.err(`signet: warning: ${why}`);
  }
  return user;
}

async function setSuspend(api: AccessApi, target: Target, suspend: boolean, options: AccessOptions, io: Io) {
  const user = await requester(api, target.namespace, options, io);
  const result = await about(target, () =>
    retryOnConflict(async () => {
      const object = await api.get(target);
      const change = suspendChange(object.spec, suspend);
      if (change.before === change.after) return { change, written: undefined };
      const written = await api.patchSpec(
        target,
        object.metadata.resourceVersion,
        { suspend },
        options.dryRun,
      );
      return { change, written };
    }),
  );
  io.out(`${describeSuspend(target, result.change, options.reason)}${dryRunMark(options)}`);
  if (result.written === undefined || options.dryRun) return;
  await recordChange(api, io, {
    object: changedObject(target, result.written),
    reason: suspend ? AccessCommandReason.Suspended : AccessCommandReason.Resumed,
    what: suspend ? "suspended" : "resumed",
    user,
    ...(options.reason ? { why: options.reason } : {}),
    now: io.now(),
  });
}

const dryRunMark = (options: AccessOptions) => (options.dryRun ? " (dry run: nothing changed)" : "");

interface ScheduleOf {
  schedule: Target;
  /** The policy or identity named instead of the schedule, as read. */
  via?: { target: Target; object: AccessObject };
}

/**
 * The schedule a grant or revoke acts on, and the policy or identity it was reached through. A
 * target without a kind is the schedule of that name, else the policy; both existing is ambiguous.
 */
async function scheduleFor(api: AccessApi, target: GrantTarget): Promise<ScheduleOf> {
  const { namespace, name } = target;
  const asSchedule: Target = { kind: "AccessSchedule", namespace, name };
  if (target.kind === "AccessSchedule") return { schedule: asSchedule };
  let via: Target;
  let object: AccessObject;
  if (target.kind === undefined) {
    const asPolicy: Target = { kind: "AccessPolicy", namespace, name };
    const [schedule, policy] = await Promise.all([
      about(asSchedule, () => api.find(asSchedule)),
      about(asPolicy, () => api.find(asPolicy)),
    ]);
    if (schedule !== undefined && policy !== undefined) {
      throw new UsageError(
        `${namespace}/${name} is both an AccessSchedule and an AccessPolicy; write schedule/${namespace}/${name} or policy/${namespace}/${name}`,
      );
    }
    if (schedule !== undefined) return { schedule: asSchedule };
    if (policy === undefined) {
      throw new RefusedError(
        `namespace ${namespace} has no AccessSchedule and no AccessPolicy named ${name}`,
      );
    }
    via = asPolicy;
    object = policy;
  } else {
    via = { kind: target.kind, namespace, name };
    const viaTarget = via;
    object = await about(viaTarget, () => api.get(viaTarget));
  }
  const scheduleName = object.spec?.scheduleRef?.name;
  if (!scheduleName) throw new RefusedError(noSchedule(via));
  return {
    schedule: { kind: "AccessSchedule", namespace, name: scheduleName },
    via: { target: via, object },
  };
}

/** What to do about a grant on a policy or identity that follows no schedule. */
function noSchedule(via: Target): string {
  const always =
    via.kind === "AccessPolicy"
      ? "its access stands whenever it is not suspended"
      : "its credential exists whenever it is not suspended";
  return `${describeTarget(via)} has no spec.scheduleRef: ${always}, so no grant opens or ends on it. For access only for a while, create an AccessSchedule without windows, set spec.scheduleRef.name of the ${WORD_OF[via.kind]} to it, and grant on that schedule; to cut the access now instead, run signet suspend ${WORD_OF[via.kind]}/${via.namespace}/${via.name}`;
}

async function grant(
  api: AccessApi,
  { schedule, via }: ScheduleOf,
  spanMs: number,
  options: AccessOptions,
  io: Io,
) {
  const user = await requester(api, schedule.namespace, options, io);
  const result = await about(schedule, () =>
    retryOnConflict(async () => {
      const object = await api.get(schedule);
      const now = io.now();
      const opened = openGrant(object.spec?.grants, now, spanMs, options.reason);
      const written = await api.patchSpec(
        schedule,
        object.metadata.resourceVersion,
        { grants: opened.grants },
        options.dryRun,
      );
      return { opened, now, written };
    }),
  );
  io.out(`${describeGrantOpened(schedule, result.opened, result.now, via?.target)}${dryRunMark(options)}`);
  if (result.written.spec?.suspend === true) {
    io.err(
      `signet grant: warning: ${describeTarget(schedule)} is suspended, so the grant opens nothing until signet resume schedule/${schedule.namespace}/${schedule.name}`,
    );
  }
  if (options.dryRun) return;
  await recordChange(api, io, {
    object: changedObject(schedule, result.written),
    ...(via === undefined ? {} : { related: changedObject(via.target, via.object) }),
    reason: AccessCommandReason.GrantOpened,
    what: `grant ${result.opened.opened.start} to ${result.opened.opened.end} opened`,
    user,
    ...(options.reason ? { why: options.reason } : {}),
    now: io.now(),
  });
}

async function revoke(api: AccessApi, { schedule, via }: ScheduleOf, options: AccessOptions, io: Io) {
  const user = await requester(api, schedule.namespace, options, io);
  const result = await about(schedule, () =>
    retryOnConflict(async () => {
      const object = await api.get(schedule);
      const now = io.now();
      const revoked = revokeOpenGrants(object.spec?.grants, now);
      if (revoked.ended.length === 0) return { revoked, now, written: undefined };
      const written = await api.patchSpec(
        schedule,
        object.metadata.resourceVersion,
        { grants: revoked.grants },
        options.dryRun,
      );
      return { revoked, now, written };
    }),
  );
  const lines = describeGrantsRevoked(schedule, result.revoked, result.now, options.reason, via?.target);
  for (const line of lines) io.out(`${line}${dryRunMark(options)}`);
  if (result.written === undefined) {
    throw new RefusedError(
      `${describeSchedule(schedule, via?.target)} has no grant open at ${instantText(result.now)}`,
    );
  }
  if (options.dryRun) return;
  const ended = result.revoked.ended
    .map(
      ({ before, after }) =>
        `${before.start} to ${before.end}${before.reason ? ` (${before.reason})` : ""} ended at ${after.end}`,
    )
    .join("; ");
  await recordChange(api, io, {
    object: changedObject(schedule, result.written),
    ...(via === undefined ? {} : { related: changedObject(via.target, via.object) }),
    reason: AccessCommandReason.GrantRevoked,
    what: `grant ${ended}`,
    user,
    ...(options.reason ? { why: options.reason } : {}),
    now: io.now(),
  });
}

/** The Event of a change already made: a failure to write it is reported, the change stands. */
async function recordChange(
  api: AccessApi,
  io: Io,
  input: Omit<Parameters<typeof accessEvent>[0], "suffix">,
) {
  const event = accessEvent({ ...input, suffix: randomBytes(8).toString("hex") });
  try {
    const name = await api.record(event);
    io.out(`recorded Event ${input.object.metadata.namespace}/${name}: ${event.reason} by ${input.user}`);
  } catch (err) {
    throw new RefusedError(
      `the change was made, but its Event could not be recorded: ${describeApiError(err)}`,
    );
  }
}
