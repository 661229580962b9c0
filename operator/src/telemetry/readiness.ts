/** The part of a MachineIdentity the readiness gauge reads. */
export interface ReadinessLike {
  metadata?: { namespace?: string | undefined } | undefined;
  status?:
    | { conditions?: readonly { type: string; status: string; reason?: string | undefined }[] | undefined }
    | undefined;
}

export type ReadyStatus = "True" | "False" | "Unknown";

/** How many identities of a namespace have one Ready status for one reason. */
export interface ReadinessCount {
  namespace: string;
  ready: ReadyStatus;
  /** The Ready condition's reason; empty when the identity has no Ready condition yet. */
  reason: string;
  count: number;
}

/**
 * The identities counted by namespace and by the status and reason of their Ready condition, in a
 * stable order. An identity without a Ready condition (not reconciled yet) or with a status other
 * than True or False counts as Unknown.
 */
export function readinessCounts(identities: Iterable<ReadinessLike>): ReadinessCount[] {
  const counts = new Map<string, ReadinessCount>();
  for (const identity of identities) {
    const namespace = identity.metadata?.namespace ?? "";
    const condition = identity.status?.conditions?.find((c) => c.type === "Ready");
    const ready: ReadyStatus =
      condition?.status === "True" || condition?.status === "False" ? condition.status : "Unknown";
    const reason = condition?.reason ?? "";
    const key = JSON.stringify([namespace, ready, reason]);
    const known = counts.get(key);
    if (known) known.count += 1;
    else counts.set(key, { namespace, ready, reason, count: 1 });
  }
  return [...counts].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)).map(([, count]) => count);
}
