import type { JsonPatchOperation } from "../decide.ts";

function unescapeToken(token: string): string {
  return token.replaceAll("~1", "/").replaceAll("~0", "~");
}

/**
 * Applies RFC 6902 add and replace operations the way the API server does, on a copy, and throws
 * where the API server would reject the patch (missing parent, replace of an absent member, index
 * out of range): unit tests use it to see the pod the API server would store.
 */
export function applyJsonPatch<T>(document: T, patch: readonly JsonPatchOperation[]): T {
  const root = structuredClone(document) as unknown;
  for (const { op, path, value } of patch) {
    const tokens = path.split("/").slice(1).map(unescapeToken);
    const last = tokens.pop();
    if (last === undefined) throw new Error(`patch path "${path}" has no member`);
    let parent = root;
    for (const token of tokens) {
      const next: unknown = Array.isArray(parent)
        ? parent[Number(token)]
        : (parent as Record<string, unknown> | null)?.[token];
      if (next === undefined || next === null || typeof next !== "object") {
        throw new Error(`patch path "${path}": "${token}" does not exist`);
      }
      parent = next;
    }
    const copy = structuredClone(value);
    if (Array.isArray(parent)) {
      const index = last === "-" ? parent.length : Number(last);
      if (
        !Number.isInteger(index) ||
        index < 0 ||
        index > parent.length ||
        (op === "replace" && index === parent.length)
      ) {
        throw new Error(`patch path "${path}": index out of range`);
      }
      parent.splice(index, op === "replace" ? 1 : 0, copy);
    } else {
      const object = parent as Record<string, unknown>;
      if (op === "replace" && !(last in object)) throw new Error(`patch path "${path}": nothing to replace`);
      object[last] = copy;
    }
  }
  return root as T;
}
