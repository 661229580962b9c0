import type * as k8s from "@kubernetes/client-node";
import type { Scope } from "./gather.ts";

export class UsageError extends Error {}

/**
 * kubectl's rules: --all-namespaces wins over nothing else, so both together is an error; without
 * either, the namespace of the kubeconfig's current context, else "default".
 */
export function scopeOf(
  flags: { namespace?: string | undefined; allNamespaces?: boolean | undefined },
  kc: k8s.KubeConfig,
): Scope {
  if (flags.allNamespaces === true) {
    if (flags.namespace !== undefined)
      throw new UsageError("--namespace and --all-namespaces exclude each other");
    return { allNamespaces: true };
  }
  if (flags.namespace !== undefined) return { namespace: flags.namespace };
  const context = kc.getContextObject(kc.getCurrentContext());
  return { namespace: context?.namespace ?? "default" };
}

/** The one value of a closed set, or a UsageError naming the flag and the choices. */
export function oneOf<T extends string>(flag: string, value: string, choices: readonly T[]): T {
  if ((choices as readonly string[]).includes(value)) return value as T;
  throw new UsageError(`--${flag} must be one of ${choices.join(", ")}; got ${JSON.stringify(value)}`);
}

/** What an API error means to the person running the command, without dumping a response body. */
export function describeApiError(err: unknown): string {
  const e = err as { code?: number; body?: unknown; message?: string };
  if (typeof e.code === "number") {
    let detail = "";
    try {
      const body = typeof e.body === "string" ? JSON.parse(e.body) : e.body;
      if (typeof (body as { message?: unknown })?.message === "string")
        detail = `: ${(body as { message: string }).message}`;
    } catch {
      // A body that is not JSON carries nothing worth showing.
    }
    return `the API server answered ${e.code}${detail}`;
  }
  return e.message ?? String(err);
}
