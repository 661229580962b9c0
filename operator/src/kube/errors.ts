/**
 * The HTTP status of a failed API call: ApiError (kube/client.ts) and client-node's ApiException
 * carry it in `code`, client-node's Watch errors in `statusCode`.
 */
export function statusCodeOf(error: unknown): number | undefined {
  if (typeof error !== "object" || error === null) return undefined;
  const { code, statusCode } = error as { code?: unknown; statusCode?: unknown };
  if (typeof code === "number") return code;
  if (typeof statusCode === "number") return statusCode;
  return undefined;
}

export function isNotFound(error: unknown): boolean {
  return statusCodeOf(error) === 404;
}

/** 409: a resourceVersion-guarded write lost a race, a create found the object, or an apply conflicts. */
export function isConflict(error: unknown): boolean {
  return statusCodeOf(error) === 409;
}
