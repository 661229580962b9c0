import { describe, expect, it } from "vitest";
import type { AuditLine } from "../proxy/audit.ts";
import { Concern, type ProofAuditSummary, parseAuditLine, summariseProofAudit } from "./proofs.ts";
import { MALFORMED_SHOWN, renderProofAudit } from "./proofs-render.ts";

// Audit lines as signet proxy writes them (operator/src/proxy/audit.ts), a few changed at a time.

const CHECKOUT = "spiffe://cluster.local/ns/shop/id/checkout";
const CART = "spiffe://cluster.local/ns/shop/id/cart";
const PAYMENTS = "spiffe://cluster.local/ns/shop/id/payments-api";
const ORDERS = "spiffe://cluster.local/ns/shop/id/orders";

function line(over: Partial<AuditLine> = {}): string {
  const base: AuditLine = {
    time: "2026-11-21T10:00:00.000Z",
    caller: CHECKOUT,
    peer: CHECKOUT,
    target: PAYMENTS,
    method: "POST",
    path: "/v1/charges",
    outcome: "accepted",
    reason: "Allowed",
    policy: "checkout-to-payments",
    status: 200,
  };
  return JSON.stringify({ ...base, ...over });
}

const refusedProof = (reason: string, time = "2026-11-21T10:00:00.000Z") =>
  line({
    caller: null,
    peer: null,
    policy: null,
    outcome: "refused",
    reason,
    status: reason === "ReplayCacheFull" ? 503 : 401,
    time,
  });

const text = (...lines: string[]) => `${lines.join("\n")}\n`;

describe("summariseProofAudit: calls per caller, target and policy", () => {
  const cases: {
    name: string;
    input: string;
    calls: Partial<ProofAuditSummary["calls"][number]>[];
  }[] = [
    {
      name: "should count the accepted requests of one caller under its policy, with the earliest and latest time whatever the order of the lines",
      input: text(
        line({ time: "2026-11-21T10:00:05.000Z" }),
        line({ time: "2026-11-21T10:00:01.000Z" }),
        line({ time: "2026-11-21T10:00:09.000Z" }),
        line({ time: "2026-11-21T10:00:02.000Z" }),
      ),
      calls: [
        {
          caller: CHECKOUT,
          target: PAYMENTS,
          policy: "checkout-to-payments",
          accepted: 4,
          refused: {},
          failed: {},
          first: "2026-11-21T10:00:01.000Z",
          last: "2026-11-21T10:00:09.000Z",
        },
      ],
    },
    {
      name: "should keep apart the same caller under two policies, two callers, and two targets, ordered by target, caller and policy",
      input: text(
        line(),
        line({ policy: "checkout-refunds" }),
        line({ caller: CART, policy: "cart-to-payments" }),
        line({ target: ORDERS, policy: "checkout-to-orders" }),
        line(),
      ),
      calls: [
        { caller: CHECKOUT, target: ORDERS, policy: "checkout-to-orders", accepted: 1 },
        { caller: CART, target: PAYMENTS, policy: "cart-to-payments", accepted: 1 },
        { caller: CHECKOUT, target: PAYMENTS, policy: "checkout-refunds", accepted: 1 },
        { caller: CHECKOUT, target: PAYMENTS, policy: "checkout-to-payments", accepted: 2 },
      ],
    },
    {
      name: "should count refusals by reason next to the acceptances of the same caller and policy",
      input: text(
        line(),
        line({ outcome: "refused", reason: "PathNotAllowed", status: 403 }),
        line({ outcome: "refused", reason: "PathNotAllowed", status: 403 }),
        line({ outcome: "refused", reason: "MethodNotAllowed", status: 403 }),
      ),
      calls: [
        {
          caller: CHECKOUT,
          policy: "checkout-to-payments",
          accepted: 1,
          refused: { PathNotAllowed: 2, MethodNotAllowed: 1 },
        },
      ],
    },
    {
      name: "should put refused proofs, which name no caller, under a null caller and no policy",
      input: text(refusedProof("ProofExpired"), refusedProof("ProofExpired"), refusedProof("ProofMissing")),
      calls: [{ caller: null, policy: null, accepted: 0, refused: { ProofExpired: 2, ProofMissing: 1 } }],
    },
    {
      name: "should count an accepted request the workload did not answer as accepted and as failed",
      input: text(line(), line({ reason: "UpstreamUnavailable", status: 502 })),
      calls: [{ caller: CHECKOUT, accepted: 2, refused: {}, failed: { UpstreamUnavailable: 1 } }],
    },
  ];
  it.each(cases)("$name", ({ input, calls }) => {
    const summary = summariseProofAudit(input);
    expect(summary.calls).toHaveLength(calls.length);
    calls.forEach((expected, i) => {
      expect(summary.calls[i]).toMatchObject(expected);
    });
  });

  it("should total the lines, the accepted and the refused over all calls, and the time they span", () => {
    const summary = summariseProofAudit(
      text(
        line({ time: "2026-11-21T10:00:03.000Z" }),
        refusedProof("ProofReplayed", "2026-11-21T09:59:00.000Z"),
        line({ caller: CART, outcome: "refused", reason: "CallerNotAllowed", status: 403, policy: null }),
        line({ time: "2026-11-21T11:00:00.000Z" }),
      ),
    );
    expect(summary).toMatchObject({
      lines: 4,
      accepted: 2,
      refused: 2,
      malformed: [],
      first: "2026-11-21T09:59:00.000Z",
      last: "2026-11-21T11:00:00.000Z",
    });
  });

  it("should give an empty summary of no input", () => {
    expect(summariseProofAudit("")).toEqual({
      lines: 0,
      accepted: 0,
      refused: 0,
      malformed: [],
      calls: [],
      reasons: [],
      first: null,
      last: null,
    });
  });
});

describe("summariseProofAudit: refusals by reason, problems first", () => {
  it("should put a refusal no proof authenticated down to whoever held the connection, and read lines without peer", () => {
    const summary = summariseProofAudit(
      text(
        line({
          caller: null,
          peer: CART,
          outcome: "refused",
          reason: "ProofReplayed",
          status: 401,
          policy: null,
        }),
        line({
          caller: null,
          peer: CART,
          outcome: "refused",
          reason: "ProofReplayed",
          status: 401,
          policy: null,
        }),
        JSON.stringify({ ...JSON.parse(refusedProof("ProofReplayed")), peer: undefined }),
      ),
    );
    expect(summary.reasons[0]?.callers).toEqual([
      { caller: CART, count: 2 },
      { caller: null, count: 1 },
    ]);
    expect(summary.malformed).toEqual([]);
  });

  it("should refuse a line whose peer is neither a string nor null", () => {
    expect(parseAuditLine(line({ peer: 7 as unknown as string }))).toBe("peer is neither a string nor null");
  });

  it("should list ProofReplayed first as a possible theft, with the callers and targets it came from, though rarer than every other reason", () => {
    const summary = summariseProofAudit(
      text(
        refusedProof("ProofMissing"),
        refusedProof("ProofMissing"),
        refusedProof("ProofMissing"),
        refusedProof("ProofExpired"),
        refusedProof("ProofExpired"),
        line({ caller: CART, outcome: "refused", reason: "CallerNotAllowed", status: 403, policy: null }),
        line({ caller: CART, outcome: "refused", reason: "CallerNotAllowed", status: 403, policy: null }),
        refusedProof("ProofReplayed", "2026-11-21T10:00:07.000Z"),
        line({
          target: ORDERS,
          caller: null,
          peer: null,
          policy: null,
          outcome: "refused",
          reason: "ProofReplayed",
          status: 401,
        }),
        line({ caller: CHECKOUT, outcome: "refused", reason: "ProofReplayed", status: 401 }),
      ),
    );
    expect(summary.reasons.map((r) => r.reason)).toEqual([
      "ProofReplayed",
      "CallerNotAllowed",
      "ProofExpired",
      "ProofMissing",
    ]);
    expect(summary.reasons[0]).toEqual({
      reason: "ProofReplayed",
      concern: Concern.PossibleTheft,
      meaning: expect.any(String),
      count: 3,
      callers: [
        { caller: null, count: 2 },
        { caller: CHECKOUT, count: 1 },
      ],
      targets: [
        { target: PAYMENTS, count: 2 },
        { target: ORDERS, count: 1 },
      ],
      first: "2026-11-21T10:00:00.000Z",
      last: "2026-11-21T10:00:07.000Z",
    });
    expect(summary.reasons[1]).toMatchObject({
      concern: Concern.Denied,
      callers: [{ caller: CART, count: 2 }],
    });
  });

  const order: { name: string; reasons: string[]; expected: string[] }[] = [
    {
      name: "should rank a channel mismatch with a replay, above a forged signature, above a denial, above a clock problem",
      reasons: ["ProofExpired", "CallerNotAllowed", "ProofSignatureInvalid", "ProofChannelMismatch"],
      expected: ["ProofChannelMismatch", "ProofSignatureInvalid", "CallerNotAllowed", "ProofExpired"],
    },
    {
      name: "should rank a misdirected proof above a clock problem, above a full cache and an unanswered request, above a caller's mistake",
      reasons: ["ProofMalformed", "UpstreamUnavailable", "ProofNotYetValid", "ProofAudienceMismatch"],
      expected: ["ProofAudienceMismatch", "ProofNotYetValid", "UpstreamUnavailable", "ProofMalformed"],
    },
    {
      name: "should put a reason this version does not know last",
      reasons: ["SomethingNew", "ProofMissing"],
      expected: ["ProofMissing", "SomethingNew"],
    },
  ];
  it.each(order)("$name", ({ reasons, expected }) => {
    const summary = summariseProofAudit(text(...reasons.map((r) => refusedProof(r))));
    expect(summary.reasons.map((r) => r.reason)).toEqual(expected);
  });

  it("should order reasons of one concern by count, the most frequent first", () => {
    const summary = summariseProofAudit(
      text(
        line({ outcome: "refused", reason: "MethodNotAllowed", status: 403 }),
        line({ outcome: "refused", reason: "PathNotAllowed", status: 403 }),
        line({ outcome: "refused", reason: "PathNotAllowed", status: 403 }),
      ),
    );
    expect(summary.reasons.map((r) => [r.reason, r.count])).toEqual([
      ["PathNotAllowed", 2],
      ["MethodNotAllowed", 1],
    ]);
  });

  it("should leave accepted requests out of the refusals", () => {
    const summary = summariseProofAudit(text(line(), line()));
    expect(summary.reasons).toEqual([]);
  });
});

describe("summariseProofAudit: lines that are not audit lines", () => {
  const cases: { name: string; input: string; problem: string }[] = [
    { name: "should report a line that is not JSON", input: "signet proxy started", problem: "not JSON" },
    { name: "should report a JSON array", input: "[1,2]", problem: "not a JSON object" },
    { name: "should report JSON null", input: "null", problem: "not a JSON object" },
    { name: "should report a line cut short", input: line().slice(0, 40), problem: "not JSON" },
    {
      name: "should report a time that is no date",
      input: line({ time: "yesterday" }),
      problem: "time is not a date",
    },
    {
      name: "should report a missing time",
      input: JSON.stringify({ ...JSON.parse(line()), time: undefined }),
      problem: "time is not a date",
    },
    {
      name: "should report a caller that is a number",
      input: line({ caller: 7 as unknown as string }),
      problem: "caller is neither a string nor null",
    },
    { name: "should report an empty target", input: line({ target: "" }), problem: "target is not a string" },
    {
      name: "should report an outcome other than accepted or refused",
      input: line({ outcome: "maybe" as AuditLine["outcome"] }),
      problem: 'outcome is neither "accepted" nor "refused"',
    },
    { name: "should report an empty reason", input: line({ reason: "" }), problem: "reason is not a string" },
    {
      name: "should report a policy that is an object",
      input: line({ policy: {} as unknown as string }),
      problem: "policy is neither a string nor null",
    },
  ];
  it.each(cases)("$name", ({ input, problem }) => {
    expect(parseAuditLine(input)).toBe(problem);
    const summary = summariseProofAudit(text(line(), input, line()));
    expect(summary.malformed).toEqual([{ line: 2, problem }]);
    expect(summary).toMatchObject({ lines: 3, accepted: 2, refused: 0 });
  });

  it("should number lines as an editor does, blank lines and CRLF line ends included, and not count blank lines as read", () => {
    const summary = summariseProofAudit(`${line()}\r\n\r\n{oops\r\n   \r\n${line()}\r\nnope\n`);
    expect(summary.malformed).toEqual([
      { line: 3, problem: "not JSON" },
      { line: 6, problem: "not JSON" },
    ]);
    expect(summary).toMatchObject({ lines: 4, accepted: 2 });
  });

  it("should survive input that is nothing but garbage", () => {
    const garbage = Array.from({ length: 50 }, (_, i) => String.fromCharCode(0, 1, 0xfffd, 34, 123, i));
    const summary = summariseProofAudit(text(...garbage));
    expect(summary.malformed).toHaveLength(50);
    expect(summary.calls).toEqual([]);
  });
});

describe("renderProofAudit", () => {
  const summary = summariseProofAudit(
    text(
      line(),
      refusedProof("ProofExpired"),
      refusedProof("ProofReplayed"),
      ...Array.from({ length: MALFORMED_SHOWN + 3 }, () => "not json"),
    ),
  );

  it("should list the refusals with the possible theft above the clock problem, then the calls", () => {
    const table = renderProofAudit(summary, "table");
    expect(table.indexOf("ProofReplayed")).toBeGreaterThan(table.indexOf("REFUSALS"));
    expect(table.indexOf("ProofReplayed")).toBeLessThan(table.indexOf("ProofExpired"));
    expect(table.indexOf("REFUSALS")).toBeLessThan(table.indexOf("CALLS"));
    expect(table).toMatch(/^PossibleTheft +ProofReplayed +1 +\(unauthenticated\)=1 /m);
    expect(table).toMatch(new RegExp(`^${CHECKOUT} +${PAYMENTS} +checkout-to-payments +1 +- `, "m"));
    expect(table.split("\n")[0]).toBe(
      "26 lines, 2026-11-21T10:00:00.000Z to 2026-11-21T10:00:00.000Z: 1 accepted, 2 refused, 23 malformed",
    );
  });

  it(`should list the first ${MALFORMED_SHOWN} malformed lines by number and say how many more there are`, () => {
    const table = renderProofAudit(summary, "table");
    expect(table).toMatch(/^4 +not JSON$/m);
    expect(table).toMatch(new RegExp(`^${3 + MALFORMED_SHOWN} +not JSON$`, "m"));
    expect(table).not.toMatch(new RegExp(`^${4 + MALFORMED_SHOWN} +not JSON$`, "m"));
    expect(table).toContain("and 3 more (--format json lists them all)");
  });

  it("should write the whole summary as JSON, every malformed line included", () => {
    const json = JSON.parse(renderProofAudit(summary, "json"));
    expect(json).toEqual(summary);
    expect(json.malformed).toHaveLength(MALFORMED_SHOWN + 3);
  });

  it("should show refusals of an accepted call's failed upstream beside its refusals", () => {
    const table = renderProofAudit(
      summariseProofAudit(
        text(
          line({ reason: "UpstreamUnavailable", status: 502 }),
          line({ outcome: "refused", reason: "PathNotAllowed" }),
        ),
      ),
      "table",
    );
    expect(table).toContain("PathNotAllowed=1 (accepted, then UpstreamUnavailable=1)");
  });
});
