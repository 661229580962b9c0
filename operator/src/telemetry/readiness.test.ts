import { describe, expect, it } from "vitest";
import { type ReadinessCount, type ReadinessLike, readinessCounts } from "./readiness.ts";

const identity = (namespace: string, ready?: { status: string; reason?: string }): ReadinessLike => ({
  metadata: { namespace },
  status: {
    conditions: [
      { type: "Suspended", status: "False", reason: "Active" },
      ...(ready ? [{ type: "Ready", ...ready }] : []),
    ],
  },
});

describe("readinessCounts", () => {
  it.each<[string, ReadinessLike[], ReadinessCount[]]>([
    ["should count nothing without identities", [], []],
    [
      "should count an identity without a Ready condition or without a status as Unknown, with no reason",
      [identity("shop"), { metadata: { namespace: "shop" } }],
      [{ namespace: "shop", ready: "Unknown", reason: "", count: 2 }],
    ],
    [
      "should count a Ready status other than True or False as Unknown, keeping its reason",
      [identity("shop", { status: "Unknown", reason: "Pending" })],
      [{ namespace: "shop", ready: "Unknown", reason: "Pending", count: 1 }],
    ],
    [
      "should count by namespace, status and reason, and read only the Ready condition",
      [
        identity("shop", { status: "True", reason: "Issued" }),
        identity("shop", { status: "True", reason: "Rotated" }),
        identity("shop", { status: "True", reason: "Issued" }),
        identity("shop", { status: "False", reason: "Suspended" }),
        identity("finance", { status: "True", reason: "Issued" }),
        identity("finance", { status: "False", reason: "IssuanceFailed" }),
        identity("finance", { status: "False", reason: "IssuanceFailed" }),
      ],
      [
        { namespace: "finance", ready: "False", reason: "IssuanceFailed", count: 2 },
        { namespace: "finance", ready: "True", reason: "Issued", count: 1 },
        { namespace: "shop", ready: "False", reason: "Suspended", count: 1 },
        { namespace: "shop", ready: "True", reason: "Issued", count: 2 },
        { namespace: "shop", ready: "True", reason: "Rotated", count: 1 },
      ],
    ],
    [
      "should count a Ready condition without a reason under an empty reason",
      [identity("shop", { status: "True" })],
      [{ namespace: "shop", ready: "True", reason: "", count: 1 }],
    ],
  ])("%s", (_name, identities, expected) => {
    expect(readinessCounts(identities)).toEqual(expected);
  });

  it("should give the same order whatever order the cache lists the identities in", () => {
    const identities = [
      identity("b", { status: "True", reason: "Issued" }),
      identity("a", { status: "False", reason: "OutsideWindow" }),
      identity("a", { status: "True", reason: "Issued" }),
      identity("b"),
    ];
    expect(readinessCounts([...identities].reverse())).toEqual(readinessCounts(identities));
  });
});
