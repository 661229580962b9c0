import { describe, expect, it } from "vitest";
import { crdFor } from "../api/crd.ts";
import {
  describeTarget,
  KIND_NAMES,
  kindOf,
  parseGrantTarget,
  parseTarget,
  TARGET_KINDS,
  TargetError,
} from "./target.ts";

describe("kindOf", () => {
  it.each(TARGET_KINDS)("should accept every name the %s CRD defines, with and without the group", (kind) => {
    const names = (crdFor(kind) as { spec: { names: Record<string, unknown> } }).spec.names;
    const all = [names.kind, names.singular, names.plural, ...(names.shortNames as string[])] as string[];
    for (const name of all) {
      expect(kindOf(name)).toBe(kind);
      expect(kindOf(`${name}.signet.dev`)).toBe(kind);
    }
  });

  it.each([
    ["identity", "MachineIdentity"],
    ["mi", "MachineIdentity"],
    ["MID", "MachineIdentity"],
    ["MachineIdentity", "MachineIdentity"],
    ["policy", "AccessPolicy"],
    ["policies", "AccessPolicy"],
    ["ap", "AccessPolicy"],
    ["schedule", "AccessSchedule"],
    ["as", "AccessSchedule"],
    ["AccessSchedules.signet.dev", "AccessSchedule"],
  ])("should read %s as %s", (text, kind) => {
    expect(kindOf(text)).toBe(kind);
  });

  it.each(["pod", "issuancepolicy", "isp", "", "signet.dev", "policy.example.com"])(
    "should know no kind called %j",
    (text) => {
      expect(kindOf(text)).toBeUndefined();
    },
  );

  it("should give no name to two kinds", () => {
    const all = TARGET_KINDS.flatMap((k) => KIND_NAMES[k]);
    expect(new Set(all).size).toBe(all.length);
  });
});

describe("parseTarget", () => {
  it("should read kind, namespace and name", () => {
    expect(parseTarget("policy/shop/checkout-to-payments", "default")).toEqual({
      kind: "AccessPolicy",
      namespace: "shop",
      name: "checkout-to-payments",
    });
    expect(parseTarget("identity/shop/checkout", "default")).toEqual({
      kind: "MachineIdentity",
      namespace: "shop",
      name: "checkout",
    });
  });

  it("should put a target without a namespace into the default namespace", () => {
    expect(parseTarget("as/on-call", "finance")).toEqual({
      kind: "AccessSchedule",
      namespace: "finance",
      name: "on-call",
    });
  });

  it.each([
    ["checkout", "must be <kind>/<namespace>/<name> or <kind>/<name>"],
    ["policy/shop/x/y", "must be <kind>/<namespace>/<name> or <kind>/<name>"],
    ["pod/shop/x", 'unknown kind "pod"; use identity, policy, schedule'],
    ["policy//x", "has an empty part"],
    ["policy/shop/", "has an empty part"],
    ["/shop/x", "has an empty part"],
  ])("should refuse %j, saying it %s", (text, message) => {
    expect(() => parseTarget(text, "default")).toThrow(TargetError);
    expect(() => parseTarget(text, "default")).toThrow(message);
  });
});

describe("parseGrantTarget", () => {
  it("should read namespace/name as a schedule or a policy of that name", () => {
    expect(parseGrantTarget("shop/on-call", "default")).toEqual({ namespace: "shop", name: "on-call" });
  });

  it("should read a bare name in the default namespace", () => {
    expect(parseGrantTarget("on-call", "shop")).toEqual({ namespace: "shop", name: "on-call" });
  });

  it("should read kind/namespace/name as that kind", () => {
    expect(parseGrantTarget("policy/shop/checkout-to-payments", "default")).toEqual({
      kind: "AccessPolicy",
      namespace: "shop",
      name: "checkout-to-payments",
    });
    expect(parseGrantTarget("schedule/shop/on-call", "default")).toEqual({
      kind: "AccessSchedule",
      namespace: "shop",
      name: "on-call",
    });
  });

  it("should read two parts as namespace and name, even when the first is a kind's name", () => {
    expect(parseGrantTarget("policy/on-call", "default")).toEqual({ namespace: "policy", name: "on-call" });
  });

  it.each(["a/b/c/d", "shop/", "//"])("should refuse %j", (text) => {
    expect(() => parseGrantTarget(text, "default")).toThrow(TargetError);
  });
});

describe("describeTarget", () => {
  it("should name a target by its word, namespace and name", () => {
    expect(describeTarget({ kind: "AccessPolicy", namespace: "shop", name: "x" })).toBe("policy shop/x");
    expect(describeTarget({ kind: "MachineIdentity", namespace: "shop", name: "x" })).toBe("identity shop/x");
    expect(describeTarget({ kind: "AccessSchedule", namespace: "shop", name: "x" })).toBe("schedule shop/x");
  });
});
