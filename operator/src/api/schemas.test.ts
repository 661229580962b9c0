import { readdirSync, readFileSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { describe, expect, it } from "vitest";
import { parseAllDocuments } from "yaml";
import {
  accessSchedule,
  INVALID_CASES,
  machineIdentity,
  VALID_EDGE_CASES,
} from "../../../testing/invalid-manifests.ts";
import { API_VERSION, KINDS, type SignetKind } from "./constants.ts";
import { formatProblems } from "./fields.ts";
import { keySizeOf } from "./machine-identity.ts";
import { checkSemantics, validate, validateAccessSchedule, validateMachineIdentity } from "./validation.ts";

const examplesDir = fileURLToPath(new URL("../../../examples/", import.meta.url));

function exampleObjects(): { file: string; obj: { apiVersion: string; kind: SignetKind } }[] {
  return readdirSync(examplesDir)
    .filter((f) => f.endsWith(".yaml"))
    .flatMap((file) =>
      parseAllDocuments(readFileSync(`${examplesDir}${file}`, "utf8")).map((d) => ({ file, obj: d.toJS() })),
    )
    .filter(({ obj }) => obj.apiVersion === API_VERSION);
}

describe("the examples", () => {
  it("should cover every kind", () => {
    expect(new Set(exampleObjects().map((e) => e.obj.kind))).toEqual(new Set(KINDS));
  });

  it.each(exampleObjects().map((e) => [`${e.file}`, e.obj] as const))("should accept %s", (_, obj) => {
    expect(checkSemantics(obj.kind, obj)).toEqual([]);
  });

  it("should apply the design's defaults to the smallest identity", () => {
    const { value } = validateMachineIdentity(
      exampleObjects().find((e) => e.file === "machineidentity-checkout.yaml")?.obj,
    );
    expect(value?.spec).toEqual({
      serviceAccounts: ["checkout"],
      ttl: "1h",
      privateKey: { algorithm: "ECDSA", size: 256 },
      usages: ["client", "server"],
      suspend: false,
      delivery: "Secret",
    });
  });
});

describe("the zod schemas, on the manifests the API server must reject", () => {
  it.each(INVALID_CASES.map((c) => [c.name, c] as const))("should reject a manifest with %s", (_, c) => {
    const result = validate(c.manifest.kind, c.manifest);
    expect(result.ok).toBe(false);
    expect(result.problems.map((p) => p.field)).toContain(c.field);
    expect(formatProblems(result.problems)).toContain(`${c.field}: `);
  });

  it("should report the same field however often a rule fails", () => {
    const c = INVALID_CASES.find((x) => x.name === "a grant that ends before it starts");
    const fields = () => validate("AccessSchedule", c?.manifest).problems.map((p) => p.field);
    expect([fields(), fields()]).toEqual([["spec.grants[0].end"], ["spec.grants[0].end"]]);
  });

  it.each(VALID_EDGE_CASES.map((c) => [c.name, c.manifest] as const))("should accept %s", (_, manifest) => {
    expect(validate(manifest.kind, manifest).problems).toEqual([]);
  });
});

describe("grant timestamps", () => {
  const withEnd = (end: string) =>
    accessSchedule({
      grants: [
        { start: "2026-11-21T22:00:00Z", end: "2026-11-21T23:00:00Z" },
        { start: "2026-11-21T22:00:00Z", end },
      ],
    });

  it.each([
    ["2027-02-29T00:00:00Z", "2027-02-29T00:00:00Z is not a real instant (February 2027 has 28 days)"],
    ["1900-02-29T00:00:00Z", "1900-02-29T00:00:00Z is not a real instant (February 1900 has 28 days)"],
    ["2100-02-29T00:00:00Z", "2100-02-29T00:00:00Z is not a real instant (February 2100 has 28 days)"],
    ["2026-11-31T00:00:00Z", "2026-11-31T00:00:00Z is not a real instant (November 2026 has 30 days)"],
    ["2026-11-22T24:00:00Z", 'end must be an RFC 3339 date-time such as "2026-11-21T22:00:00Z"'],
    ["2026-11-22T23:60:00Z", 'end must be an RFC 3339 date-time such as "2026-11-21T22:00:00Z"'],
    ["2026-11-22T23:59:60Z", 'end must be an RFC 3339 date-time such as "2026-11-21T22:00:00Z"'],
    ["2026-11-22T10:00:00+25:00", 'end must be an RFC 3339 date-time such as "2026-11-21T22:00:00Z"'],
    ["2026-11-22t10:00:00z", 'end must be an RFC 3339 date-time such as "2026-11-21T22:00:00Z"'],
    ["tomorrow", 'end must be an RFC 3339 date-time such as "2026-11-21T22:00:00Z"'],
  ])("should refuse %s, once, naming the field", (end, message) => {
    expect(formatProblems(checkSemantics("AccessSchedule", withEnd(end)))).toBe(
      `spec.grants[1].end: ${message}`,
    );
  });

  it.each([
    ["2000-02-29T10:00:00Z", "2000-02-29T12:00:00Z"],
    ["2024-02-29T10:00:00Z", "2024-02-29T12:00:00Z"],
    ["2026-11-21T22:00:00Z", "2026-11-22T23:59:59.999999999Z"],
    ["2026-11-22T00:00:00+14:00", "2026-11-21T00:00:00-12:00"],
  ])("should accept a grant from %s to %s", (start, end) => {
    expect(checkSemantics("AccessSchedule", accessSchedule({ grants: [{ start, end }] }))).toEqual([]);
  });
});

describe("window times", () => {
  const withWindow = (start: string, end: string) =>
    accessSchedule({ windows: [{ days: ["Sat", "Sun"], start, end }] });

  it.each([
    ["00:00", "24:00"],
    ["18:00", "24:00"],
    ["22:00", "00:00"],
    ["00:00", "23:59"],
  ])("should accept a window from %s to %s", (start, end) => {
    expect(checkSemantics("AccessSchedule", withWindow(start, end))).toEqual([]);
  });

  it.each([
    ["24:00", "06:00", "spec.windows[0].start: start must be a 24-hour time HH:MM between 00:00 and 23:59"],
    [
      "09:00",
      "24:01",
      "spec.windows[0].end: end must be a 24-hour time HH:MM between 00:00 and 23:59, or 24:00 for midnight at the end of the day",
    ],
    [
      "00:00",
      "00:00",
      'spec.windows[0].end: end must differ from start; an end earlier than start closes the window on the next day, and start "00:00" with end "24:00" is the whole day',
    ],
  ])("should refuse a window from %s to %s", (start, end, message) => {
    expect(formatProblems(checkSemantics("AccessSchedule", withWindow(start, end)))).toBe(message);
  });
});

describe("checkSemantics", () => {
  it.each([
    ["an unknown time zone", { timeZone: "Europe/Berlim" }, ["spec.timeZone"]],
    ["a zone Intl knows in another case", { timeZone: "europe/berlin" }, []],
    ["UTC", { timeZone: "UTC" }, []],
  ])("should check %s against Intl's time-zone database", (_, spec, fields) => {
    const problems = validateAccessSchedule({
      ...INVALID_CASES.find((c) => c.manifest.kind === "AccessSchedule")?.manifest,
      spec,
    }).problems;
    expect(problems.map((p) => p.field)).toEqual(fields);
  });

  it.each([
    [
      "should refuse a SPIFFE ID in another namespace's reserved path",
      "spiffe://cluster.local/ns/finance/id/ledger",
      1,
    ],
    [
      "should accept a SPIFFE ID in the identity's own namespace",
      "spiffe://cluster.local/ns/shop/id/payments-api",
      0,
    ],
    ["should accept a SPIFFE ID outside the /ns/ form", "spiffe://cluster.local/payments", 0],
    ["should not mistake a segment that merely starts with ns", "spiffe://cluster.local/nsx/finance", 0],
  ])("%s", (_, spiffeID, count) => {
    const manifest = machineIdentity({ spiffeID });
    const problems = checkSemantics("MachineIdentity", {
      ...manifest,
      metadata: { ...manifest.metadata, namespace: "shop" },
    });
    expect(problems).toHaveLength(count);
    if (count) expect(problems[0]?.field).toBe("spec.spiffeID");
  });

  it("should say a missing field is required", () => {
    expect(
      checkSemantics("AccessPolicy", {
        apiVersion: API_VERSION,
        kind: "AccessPolicy",
        metadata: { name: "p" },
      }),
    ).toEqual([{ field: "spec", message: "is required" }]);
  });
});

describe("resolved defaults", () => {
  it.each([
    [{ algorithm: "ECDSA" as const }, 256],
    [{ algorithm: "ECDSA" as const, size: 384 as const }, 384],
    [{ algorithm: "RSA" as const }, 2048],
    [{ algorithm: "RSA" as const, size: 4096 as const }, 4096],
    [{ algorithm: "Ed25519" as const }, undefined],
  ])("should size %j keys at %s bits", (key, bits) => {
    expect(keySizeOf(key)).toBe(bits);
  });
});
