import type { KubernetesListObject, V1Secret } from "@kubernetes/client-node";
import { describe, expect, it } from "vitest";
import { withoutManagedFields } from "./informer.ts";
import { listInPages, type PageRequest } from "./pages.ts";

function secret(name: string): V1Secret {
  return {
    metadata: {
      name,
      namespace: "ns",
      resourceVersion: "5",
      managedFields: [{ manager: "signet", operation: "Update" }],
    },
  };
}

/** A collection served in pages as the API server does, with the token in the typed or the wire field. */
function server(
  names: string[],
  options: { tokenField: "_continue" | "continue"; resourceVersion?: string },
) {
  const requests: PageRequest[] = [];
  const listPage = async (request: PageRequest): Promise<KubernetesListObject<V1Secret>> => {
    requests.push(request);
    const start = request.continue ? Number(request.continue.replace("after-", "")) : 0;
    const end = Math.min(start + request.limit, names.length);
    // A later page says the collection's current version; the snapshot is the first page's.
    const resourceVersion = start === 0 ? (options.resourceVersion ?? "100") : `${100 + start}`;
    return {
      items: names.slice(start, end).map(secret),
      metadata: { resourceVersion, ...(end < names.length ? { [options.tokenField]: `after-${end}` } : {}) },
    };
  };
  return { listPage, requests };
}

const names = (n: number) => Array.from({ length: n }, (_, i) => `s${i}`);

describe("listInPages", () => {
  it.each([
    { case: "should list an empty collection in one request", total: 0, pages: 1 },
    { case: "should list a collection smaller than a page in one request", total: 3, pages: 1 },
    { case: "should list a collection of exactly one page in one request", total: 4, pages: 1 },
    { case: "should follow continue tokens to the last page", total: 9, pages: 3 },
  ])("$case", async ({ total, pages }) => {
    const { listPage, requests } = server(names(total), { tokenField: "_continue" });
    const list = await listInPages(listPage, undefined, 4);
    expect(list.items.map((s) => s.metadata?.name)).toEqual(names(total));
    expect(requests).toHaveLength(pages);
    expect(requests.every((r) => r.limit === 4)).toBe(true);
    expect(requests[0]).not.toHaveProperty("continue");
  });

  it("should follow the wire name of the token, as custom objects return it", async () => {
    const { listPage, requests } = server(names(9), { tokenField: "continue" });
    const list = await listInPages(listPage, undefined, 4);
    expect(list.items).toHaveLength(9);
    expect(requests.map((r) => r.continue)).toEqual([undefined, "after-4", "after-8"]);
  });

  it("should take a page without items as empty, as a metadata-only list of nothing comes", async () => {
    const listPage = async () =>
      ({
        kind: "PartialObjectMetadataList",
        metadata: { resourceVersion: "5" },
      }) as unknown as KubernetesListObject<V1Secret>;
    const list = await listInPages(listPage);
    expect(list).toEqual({ items: [], metadata: { resourceVersion: "5" } });
  });

  it("should carry the first page's resourceVersion, where the snapshot and so the watch start", async () => {
    const { listPage } = server(names(9), { tokenField: "_continue", resourceVersion: "77" });
    expect((await listInPages(listPage, undefined, 4)).metadata?.resourceVersion).toBe("77");
  });

  it("should pass every object through keep as its page arrives", async () => {
    const { listPage } = server(names(9), { tokenField: "_continue" });
    const list = await listInPages(listPage, withoutManagedFields, 4);
    for (const s of list.items) expect(s.metadata).not.toHaveProperty("managedFields");
  });

  it("should fail, not return part of the collection, when a page fails", async () => {
    const { listPage } = server(names(9), { tokenField: "_continue" });
    const failing = (request: PageRequest) =>
      request.continue === "after-4"
        ? Promise.reject(Object.assign(new Error("continue token expired"), { code: 410 }))
        : listPage(request);
    await expect(listInPages(failing, undefined, 4)).rejects.toThrow(/expired/);
  });
});
