import { statusCodeOf } from "../../kube/errors.ts";

/** The read side of an informer, as reconcilers see it. */
export interface ObjectCache<T> {
  get(namespace: string, name: string): T | undefined;
  list(namespace?: string): T[];
}

export function isApiStatus(err: unknown, code: number): boolean {
  return statusCodeOf(err) === code;
}
