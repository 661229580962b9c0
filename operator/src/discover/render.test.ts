import { describe, expect, it } from "vitest";
import type { DiscoverReport, Finding } from "./classify.ts";
import { renderDiscoverReport } from "./render.ts";

const finding: Finding = {
  namespace: "legacy",
  secret: "api-tls",
  type: "kubernetes.io/tls",
  risk: "high",
  reason:
    "certificate in tls.crt with its private key valid for 3650 days (3620 left): a stolen copy stays usable for years",
  credentials: [],
  consumers: [
    { pod: "api-0", serviceAccount: "api", via: ["volume/creds"] },
    { pod: "api-1", serviceAccount: "api", via: ["volume/creds"] },
  ],
  suggestion: {
    identity: "api",
    yaml: null,
    hint: "kubectl apply a MachineIdentity legacy/api for ServiceAccount api.",
  },
};

const report = (findings: Finding[]): DiscoverReport => ({
  generatedAt: "2026-03-02T12:00:00.000Z",
  scanned: { secrets: 5, pods: 3, excluded: 2 },
  summary: { high: findings.length, medium: 0, low: 0 },
  findings,
});

describe("renderDiscoverReport", () => {
  it("should write a table of findings, what to do about each, and the totals", () => {
    expect(renderDiscoverReport(report([finding]), "table")).toBe(
      [
        "RISK  SECRET          TYPE               PODS         REASON",
        `HIGH  legacy/api-tls  kubernetes.io/tls  api-0,api-1  ${finding.reason}`,
        "",
        "What to do:",
        "  legacy/api-tls: kubectl apply a MachineIdentity legacy/api for ServiceAccount api.",
        "",
        "1 high, 0 medium, 0 low in 5 Secrets and 3 pods (2 of Signet's own Secrets skipped).",
        "",
      ].join("\n"),
    );
  });

  it("should say plainly when nothing was found", () => {
    expect(renderDiscoverReport(report([]), "table")).toBe(
      "No static credentials found: 0 high, 0 medium, 0 low in 5 Secrets and 3 pods (2 of Signet's own Secrets skipped).\n",
    );
  });

  it("should write JSON that parses back to the report exactly", () => {
    expect(JSON.parse(renderDiscoverReport(report([finding]), "json"))).toEqual(report([finding]));
  });
});
