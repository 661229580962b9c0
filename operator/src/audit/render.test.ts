import { describe, expect, it } from "vitest";
import { parse } from "yaml";
import { alignColumns, renderAuditReport } from "./render.ts";
import type { AuditReport } from "./report.ts";

const report: AuditReport = {
  generatedAt: "2026-03-02T12:00:00.000Z",
  identities: [
    {
      namespace: "shop",
      name: "checkout",
      spiffeID: "spiffe://cluster.local/ns/shop/id/checkout",
      ready: false,
      readyReason: "IssuanceFailed",
      suspended: false,
      consumers: [],
      notAfter: null,
      expiry: null,
      rotations: 0,
      delivery: "PodCertificate",
      podCertificates: {
        issued: 4,
        denied: 1,
        lastDenial: {
          time: "2026-03-02T11:58:00Z",
          pod: "shop/checkout-x",
          reason: "ServiceAccountNotListed",
          message: "MachineIdentity shop/checkout does not list ServiceAccount default",
        },
      },
      inbound: [],
      outbound: [
        {
          policy: "shop/to-payments",
          peer: "shop/payments",
          active: true,
          reason: "Active",
          activeFrom: "status",
        },
      ],
    },
    {
      namespace: "shop",
      name: "payments",
      spiffeID: "spiffe://cluster.local/ns/shop/id/payments",
      ready: true,
      readyReason: "Issued",
      suspended: false,
      consumers: ["payments-a", "payments-b"],
      notAfter: "2026-03-02T12:42:00.000Z",
      expiry: "in 42m",
      rotations: 3,
      delivery: "Secret",
      podCertificates: null,
      inbound: [
        {
          policy: "shop/to-payments",
          peer: "shop/checkout",
          active: true,
          reason: "Active",
          activeFrom: "status",
        },
        {
          policy: "shop/night-batch",
          peer: "ops/batch",
          active: false,
          reason: "ScheduleInactive",
          activeFrom: "computed",
        },
      ],
      outbound: [],
    },
  ],
  edges: [
    {
      from: "ops/batch",
      to: "shop/payments",
      policy: "shop/night-batch",
      active: false,
      activeFrom: "computed",
      reason: "ScheduleInactive",
      ports: [],
    },
    {
      from: "shop/checkout",
      to: "shop/payments",
      policy: "shop/to-payments",
      active: true,
      activeFrom: "status",
      reason: "Active",
      ports: ["8443/TCP"],
    },
  ],
};

const empty: AuditReport = { generatedAt: "2026-03-02T12:00:00.000Z", identities: [], edges: [] };

describe("alignColumns", () => {
  it("should pad every column but the last to its widest cell, two spaces apart", () => {
    expect(
      alignColumns([
        ["A", "BB", "C"],
        ["aaa", "b", "c"],
      ]),
    ).toBe("A    BB  C\naaa  b   c");
  });

  it("should leave no trailing blanks when the last cells are empty", () => {
    expect(alignColumns([["x", ""]])).toBe("x");
  });
});

describe("renderAuditReport", () => {
  it("should write JSON that parses back to the report exactly", () => {
    expect(JSON.parse(renderAuditReport(report, "json"))).toEqual(report);
  });

  it("should write YAML that parses back to the report exactly", () => {
    expect(parse(renderAuditReport(report, "yaml"))).toEqual(report);
  });

  it("should render the table with aligned identity and edge sections", () => {
    expect(renderAuditReport(report, "table")).toBe(
      [
        "NAMESPACE  NAME      SPIFFE ID                                   READY                  DELIVERY                                                     CONSUMERS              EXPIRES  ROTATIONS  IN                                                   OUT",
        "shop       checkout  spiffe://cluster.local/ns/shop/id/checkout  False(IssuanceFailed)  PodCertificate(issued 4, denied 1: ServiceAccountNotListed)  -                      -        0          -                                                    shop/to-payments(active)",
        "shop       payments  spiffe://cluster.local/ns/shop/id/payments  True                   Secret                                                       payments-a,payments-b  in 42m   3          shop/to-payments(active),shop/night-batch(inactive)  -",
        "",
        "FROM           TO             POLICY            ACTIVE                   PORTS",
        "ops/batch      shop/payments  shop/night-batch  false(ScheduleInactive)  all",
        "shop/checkout  shop/payments  shop/to-payments  true                     8443/TCP",
        "",
      ].join("\n"),
    );
  });

  it("should show a suspended identity as Suspended rather than not ready", () => {
    const [first] = report.identities;
    if (first === undefined) throw new Error("fixture");
    const suspended = { ...empty, identities: [{ ...first, suspended: true }] };
    expect(renderAuditReport(suspended, "table").split("\n")[1]).toContain("Suspended");
  });

  it("should say so when there is nothing to list", () => {
    expect(renderAuditReport(empty, "table")).toBe("No MachineIdentities.\n\nNo AccessPolicies.\n");
  });

  it("should draw active edges solid and inactive ones dashed in Mermaid, marking missing identities", () => {
    expect(renderAuditReport(report, "mermaid")).toBe(
      [
        "flowchart LR",
        '  n0["ops/batch (no MachineIdentity)"]',
        '  n1["shop/checkout"]',
        '  n2["shop/payments"]',
        '  n0 -.->|"shop/night-batch"| n2',
        '  n1 -->|"shop/to-payments 8443/TCP"| n2',
        "",
      ].join("\n"),
    );
  });

  it("should draw active edges solid and inactive ones dashed in DOT, missing identities dotted", () => {
    expect(renderAuditReport(report, "dot")).toBe(
      [
        "digraph signet {",
        "  rankdir=LR;",
        "  node [shape=box];",
        '  "ops/batch" [style=dotted];',
        '  "shop/checkout";',
        '  "shop/payments";',
        '  "ops/batch" -> "shop/payments" [label="shop/night-batch", style=dashed];',
        '  "shop/checkout" -> "shop/payments" [label="shop/to-payments 8443/TCP", style=solid];',
        "}",
        "",
      ].join("\n"),
    );
  });

  it("should render an empty graph that is still valid input for each tool", () => {
    expect(renderAuditReport(empty, "mermaid")).toBe("flowchart LR\n");
    expect(renderAuditReport(empty, "dot")).toBe("digraph signet {\n  rankdir=LR;\n  node [shape=box];\n}\n");
  });
});
