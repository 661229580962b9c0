import type { AccessSchedule, IssuancePolicy, MachineIdentity } from "../../api/index.ts";
import { formatProblems, spiffeIDOf } from "../../api/index.ts";
import type { Claimants } from "../../issuance/claim-index.ts";
import { claimOf, claimProblems, spiffeIdConflict } from "../../issuance/claims.ts";
import { scheduleState } from "../../schedule/index.ts";
import { Reason } from "./status.ts";

/**
 * What the MachineIdentity controller and the PodCertificate signer both ask before issuing
 * anything for an identity: may its namespace claim what it names, and is its access window open.
 * One answer for both deliveries, so a Secret and a pod certificate are refused alike.
 */
export interface IssuanceRules {
  trustDomain: string;
  clusterDomain: string;
  policies: () => readonly IssuancePolicy[];
  /** Undefined when the namespace is not known: then only the default rule grants anything. */
  namespaceLabels: (namespace: string) => Readonly<Record<string, string>> | undefined;
  /** The identities that claim the same SPIFFE ID. */
  claimants: Pick<Claimants, "bySpiffeId">;
}

/** Why nothing may be issued for what the identity claims, or undefined when it may. */
export function issuanceRefusal(
  mi: MachineIdentity,
  rules: IssuanceRules,
): { reason: string; message: string } | undefined {
  const { trustDomain } = rules;
  const namespace = mi.metadata.namespace ?? "";
  const where = `MachineIdentity ${namespace}/${mi.metadata.name}`;
  const problems = claimProblems(claimOf(mi, trustDomain), {
    trustDomain,
    clusterDomain: rules.clusterDomain,
    policies: rules.policies(),
    namespaceLabels: rules.namespaceLabels(namespace),
  });
  if (problems.length > 0) {
    return { reason: Reason.ClaimNotPermitted, message: `${where}: ${formatProblems(problems)}` };
  }
  const rivals = rules.claimants.bySpiffeId(spiffeIDOf(mi, trustDomain));
  const conflict = spiffeIdConflict(mi, rivals, trustDomain);
  if (conflict) return { reason: Reason.SpiffeIDConflict, message: `${where}: ${conflict.message}` };
  return undefined;
}

export type WindowState =
  | { open: true; windowEnd?: Date | undefined; nextTransition?: Date | undefined }
  | {
      open: false;
      reason: typeof Reason.OutsideWindow | typeof Reason.ScheduleNotFound;
      message: string;
      nextTransition?: Date | undefined;
    };

/**
 * Whether the identity's access window is open at `now`: always, without spec.scheduleRef; never
 * while the AccessSchedule it names is missing (`schedule` undefined).
 */
export function windowOf(mi: MachineIdentity, schedule: AccessSchedule | undefined, now: Date): WindowState {
  const ref = mi.spec.scheduleRef;
  if (!ref) return { open: true };
  const namespace = mi.metadata.namespace ?? "";
  if (!schedule) {
    return {
      open: false,
      reason: Reason.ScheduleNotFound,
      message: `AccessSchedule ${namespace}/${ref.name} named in spec.scheduleRef does not exist; no credential is issued until it does`,
    };
  }
  const state = scheduleState(schedule.spec, now);
  if (!state.active) {
    return {
      open: false,
      reason: Reason.OutsideWindow,
      message: `outside the access windows of AccessSchedule ${namespace}/${ref.name}${state.nextWindowStart ? `; the next window opens at ${state.nextWindowStart.toISOString()}` : "; no window is ahead"}`,
      nextTransition: state.nextTransition,
    };
  }
  return { open: true, windowEnd: state.currentWindowEnd, nextTransition: state.nextTransition };
}
