/** A status condition as Kubernetes API conventions define it. */
export interface Condition {
  type: string;
  status: "True" | "False" | "Unknown";
  reason: string;
  message: string;
  lastTransitionTime: string;
  observedGeneration?: number | undefined;
}

export type ConditionInput = Omit<Condition, "lastTransitionTime" | "observedGeneration">;

/**
 * Returns the conditions with `next` merged in by type. lastTransitionTime moves only when the
 * status changes, so a reconcile that finds nothing new writes nothing new. Sorted by type for
 * deterministic output.
 */
export function setConditions(
  current: readonly Condition[] | undefined,
  next: readonly ConditionInput[],
  now: Date,
  observedGeneration: number | undefined,
): Condition[] {
  const byType = new Map((current ?? []).map((c) => [c.type, c]));
  for (const input of next) {
    const previous = byType.get(input.type);
    byType.set(input.type, {
      ...input,
      lastTransitionTime:
        previous && previous.status === input.status ? previous.lastTransitionTime : now.toISOString(),
      ...(observedGeneration === undefined ? {} : { observedGeneration }),
    });
  }
  return [...byType.values()].sort((a, b) => a.type.localeCompare(b.type));
}

/** Deep equality for JSON-shaped values, independent of key order. */
export function jsonEqual(a: unknown, b: unknown): boolean {
  return canonicalJson(a) === canonicalJson(b);
}

export function canonicalJson(value: unknown): string {
  return JSON.stringify(value, (_key, v: unknown) =>
    v && typeof v === "object" && !Array.isArray(v)
      ? Object.fromEntries(
          Object.entries(v as Record<string, unknown>)
            .filter(([, x]) => x !== undefined)
            .sort(([x], [y]) => (x < y ? -1 : x > y ? 1 : 0)),
        )
      : v,
  );
}
