import fc from "fast-check";
import { beforeAll, describe, expect, it } from "vitest";
import { DAY_MS, pod, secret, selfSignedCertificate } from "../../../testing/discover-fixtures.ts";
import { buildDiscoverReport, type DiscoverReport } from "../discover/classify.ts";
import { type AuditPage, renderAuditHtml } from "./html.ts";
import {
  type AuditIdentityObject,
  type AuditInput,
  type AuditPolicyObject,
  type AuditScheduleObject,
  buildAuditReport,
} from "./report.ts";

// Monday 2026-03-02: 12:00 UTC is inside the weekday window below, 20:00 outside it.
const noon = new Date("2026-03-02T12:00:00Z");
const evening = new Date("2026-03-02T20:00:00Z");

function identity(
  namespace: string,
  name: string,
  extra: Partial<AuditIdentityObject> = {},
): AuditIdentityObject {
  return {
    metadata: { name, namespace },
    spec: {},
    status: {
      notAfter: "2026-03-02T12:42:00Z",
      rotations: 2,
      conditions: [
        {
          type: "Ready",
          status: "True",
          reason: "Issued",
          message: "",
          lastTransitionTime: "2026-03-02T11:00:00Z",
        },
      ],
    },
    ...extra,
  };
}

function policy(
  namespace: string,
  name: string,
  target: string,
  from: { identity: string; namespace?: string }[],
  extra: Partial<AuditPolicyObject["spec"]> = {},
): AuditPolicyObject {
  return { metadata: { name, namespace }, spec: { target: { identity: target }, allowFrom: from, ...extra } };
}

const schedules: AuditScheduleObject[] = [
  {
    metadata: { name: "office", namespace: "shop" },
    spec: { windows: [{ days: ["Mon", "Tue", "Wed", "Thu", "Fri"], start: "08:00", end: "18:00" }] },
  },
];

const cluster: Omit<AuditInput, "now"> = {
  trustDomain: "cluster.local",
  identities: [
    identity("shop", "payments"),
    identity("shop", "checkout"),
    identity("shop", "support"),
    identity("shop", "batch"),
    identity("finance", "ledger"),
  ],
  policies: [
    policy("shop", "checkout-to-payments", "payments", [{ identity: "checkout" }], {
      target: { identity: "payments", ports: [{ port: 8443, protocol: "TCP" }] },
    }),
    policy("shop", "support-to-payments", "payments", [{ identity: "support" }], {
      scheduleRef: { name: "office" },
    }),
    policy("shop", "batch-to-payments", "payments", [{ identity: "batch" }], { suspend: true }),
    policy("finance", "payments-to-ledger", "ledger", [{ identity: "payments", namespace: "shop" }]),
  ],
  schedules,
  pods: [
    { metadata: { name: "payments-0", namespace: "shop", labels: { "signet.dev/identity": "payments" } } },
  ],
};

const noFindings: DiscoverReport = {
  generatedAt: noon.toISOString(),
  scanned: { secrets: 0, pods: 0, excluded: 0 },
  summary: { high: 0, medium: 0, low: 0 },
  findings: [],
};

function page(now: Date, input: Omit<AuditInput, "now"> = cluster, extra: Partial<AuditPage> = {}): string {
  return renderAuditHtml({
    audit: buildAuditReport({ ...input, now }),
    scope: { allNamespaces: true },
    discover: noFindings,
    warnings: [],
    ...extra,
  });
}

const decode = (value: string) =>
  value
    .replaceAll("&lt;", "<")
    .replaceAll("&gt;", ">")
    .replaceAll("&quot;", '"')
    .replaceAll("&#39;", "'")
    .replaceAll("&amp;", "&");

/** The value of `attribute` on every element that has it, decoded, in document order. */
function values(html: string, attribute: string): string[] {
  return [...html.matchAll(new RegExp(` ${attribute}="([^"]*)"`, "g"))].map((m) => decode(m[1] ?? ""));
}

/** [data-edge, data-state] of every edge of the graph. */
function graphEdges(html: string): string[][] {
  return [
    ...html.matchAll(
      /<g class="edge [a-z]+" data-edge="([^"]*)" data-policy="([^"]*)" data-state="([a-z]+)"/g,
    ),
  ].map((m) => [decode(m[1] ?? ""), decode(m[2] ?? ""), m[3] ?? ""]);
}

/** The cells of the table row whose `attribute` is `value`, as text. */
function row(html: string, attribute: string, value: string): Record<string, string> {
  const start = html.indexOf(`<tr ${attribute}="${value}"`);
  if (start < 0) throw new Error(`no row ${attribute}=${value}`);
  const tr = html.slice(start, html.indexOf("</tr>", start));
  return Object.fromEntries(
    [...tr.matchAll(/<td data-col="([a-z-]+)"[^>]*>([\s\S]*?)<\/td>/g)].map((m) => [
      m[1],
      decode(
        (m[2] ?? "")
          // Inline markup joins its text; block markup (li, br, div) separates it.
          .replace(/<\/?(span|wbr)\b[^>]*>/g, "")
          .replace(/<[^>]+>/g, " ")
          .replace(/\s+/g, " ")
          .trim(),
      ),
    ]),
  );
}

describe("renderAuditHtml", () => {
  it("should draw every identity as a node and every allowed source as an edge, in its state at that time", () => {
    const html = page(noon);
    expect(values(html, "data-node")).toEqual([
      "finance/ledger",
      "shop/batch",
      "shop/checkout",
      "shop/payments",
      "shop/support",
    ]);
    expect(graphEdges(html)).toEqual([
      ["shop/batch->shop/payments", "shop/batch-to-payments", "suspended"],
      ["shop/checkout->shop/payments", "shop/checkout-to-payments", "active"],
      ["shop/payments->finance/ledger", "finance/payments-to-ledger", "active"],
      ["shop/support->shop/payments", "shop/support-to-payments", "active"],
    ]);
  });

  it("should follow the injected clock: outside the schedule's window that edge is closed", () => {
    const edges = Object.fromEntries(graphEdges(page(evening)).map(([edge, , state]) => [edge, state]));
    expect(edges).toEqual({
      "shop/batch->shop/payments": "suspended",
      "shop/checkout->shop/payments": "active",
      "shop/payments->finance/ledger": "active",
      "shop/support->shop/payments": "closed",
    });
    expect(page(evening)).toContain("generated 2026-03-02T20:00:00.000Z");
    expect(row(page(noon), "data-identity", "shop/payments").expires).toBe("in 42m");
    expect(row(page(evening), "data-identity", "shop/payments").expires).toBe("expired 7h18m ago");
  });

  it("should list one access row per edge, with the same keys as the graph", () => {
    const html = page(noon);
    expect(values(html, "data-access")).toEqual(graphEdges(html).map(([edge]) => edge));
  });

  it("should show the identities table as the text report has it", () => {
    const html = page(noon);
    expect(values(html, "data-identity")).toEqual([
      "finance/ledger",
      "shop/batch",
      "shop/checkout",
      "shop/payments",
      "shop/support",
    ]);
    expect(row(html, "data-identity", "shop/payments")).toEqual({
      namespace: "shop",
      name: "payments",
      "spiffe-id": "spiffe://cluster.local/ns/shop/id/payments",
      ready: "True",
      delivery: "Secret",
      consumers: "payments-0",
      expires: "in 42m",
      rotations: "2",
      in: "shop/batch-to-payments (Suspended) shop/checkout-to-payments (active) shop/support-to-payments (active)",
      out: "finance/payments-to-ledger (active)",
    });
  });

  it("should show a suspended identity as suspended in the graph and the table, and its edges cut", () => {
    const input = {
      ...cluster,
      identities: cluster.identities.map((i) =>
        i.metadata.name === "checkout" ? { ...i, spec: { suspend: true } } : i,
      ),
    };
    const html = page(noon, input);
    expect(html).toContain('<g class="node suspended" data-node="shop/checkout" data-state="suspended">');
    expect(row(html, "data-identity", "shop/checkout").ready).toBe("Suspended");
    expect(graphEdges(html)).toContainEqual([
      "shop/checkout->shop/payments",
      "shop/checkout-to-payments",
      "suspended",
    ]);
  });

  it("should draw an identity that a policy names but that does not exist as missing", () => {
    const input = { ...cluster, policies: [policy("shop", "ghost", "payments", [{ identity: "ghost" }])] };
    expect(page(noon, input)).toContain(
      '<g class="node missing" data-node="shop/ghost" data-state="missing">',
    );
  });

  it("should escape every name and reason, so that no user input becomes markup", () => {
    const hostile = '<script>alert("x")</script>';
    const input: Omit<AuditInput, "now"> = {
      ...cluster,
      identities: [identity("shop", hostile), identity("shop", "payments")],
      policies: [policy("shop", `"><img src=x onerror=alert(1)>`, "payments", [{ identity: hostile }])],
      pods: [],
    };
    const html = page(noon, input, { warnings: ["<b>cannot</b> list"] });
    expect(html).not.toMatch(/<script|<img|<b>/);
    expect(values(html, "data-node")).toContain(`shop/${hostile}`);
    expect(values(html, "data-edge")).toEqual([`shop/${hostile}->shop/payments`]);
    expect(values(html, "data-policy")).toContain(`shop/"><img src=x onerror=alert(1)>`);
    expect(html).toContain("&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt;");
    expect(html).toContain("<li>&lt;b&gt;cannot&lt;/b&gt; list</li>");
  });

  it("should need nothing from outside: no src, no href, no external url(), and a policy that forbids loading", () => {
    const html = page(noon);
    expect(html).toContain(
      `<meta http-equiv="Content-Security-Policy" content="default-src 'none'; style-src 'unsafe-inline'; img-src data:">`,
    );
    expect(html).not.toMatch(/\s(src|href|srcset|action)=/i);
    expect(html).not.toMatch(/@import|<link|<script|<iframe|<object/i);
    expect([...html.matchAll(/url\(([^)]*)\)/g)].map((m) => m[1])).toEqual(
      expect.arrayContaining(["#signet-arrow-active"]),
    );
    for (const m of html.matchAll(/url\(([^)]*)\)/g))
      expect(m[1]).toMatch(/^#signet-arrow-(active|suspended|closed)$/);
  });

  it("should give equal pages for equal clusters, whatever order the API server listed them in", () => {
    fc.assert(
      fc.property(
        fc.shuffledSubarray(cluster.identities as AuditIdentityObject[], {
          minLength: cluster.identities.length,
        }),
        fc.shuffledSubarray(cluster.policies as AuditPolicyObject[], { minLength: cluster.policies.length }),
        (identities, policies) => {
          expect(page(noon, { ...cluster, identities, policies })).toBe(page(noon));
        },
      ),
      { numRuns: 50 },
    );
  });

  it("should say so when there is nothing, and draw no graph", () => {
    const html = page(noon, { ...cluster, identities: [], policies: [], pods: [] });
    expect(html).toContain("No MachineIdentities and no AccessPolicies.");
    expect(html).toContain('<p class="empty">No MachineIdentities.</p>');
    expect(html).toContain('<p class="empty">No AccessPolicies.</p>');
    expect(html).toContain("No static credentials found.");
    expect(html).not.toContain("<svg xmlns");
  });

  it("should draw a peer in a namespace the page does not cover as outside, not as missing", () => {
    const html = renderAuditHtml({
      audit: buildAuditReport({ ...cluster, now: noon, namespace: "shop" }),
      scope: { namespace: "shop" },
      discover: noFindings,
      warnings: [],
    });
    expect(html).toContain('<g class="node outside" data-node="finance/ledger" data-state="outside">');
    expect(values(html, "data-identity")).not.toContain("finance/ledger");
    const ghost = { ...cluster, policies: [policy("shop", "ghost", "payments", [{ identity: "ghost" }])] };
    const scoped = renderAuditHtml({
      audit: buildAuditReport({ ...ghost, now: noon, namespace: "shop" }),
      scope: { namespace: "shop" },
      discover: noFindings,
      warnings: [],
    });
    expect(scoped).toContain('<g class="node missing" data-node="shop/ghost" data-state="missing">');
  });

  it("should name the scope in the title and the heading", () => {
    const html = renderAuditHtml({
      audit: buildAuditReport({ ...cluster, now: noon, namespace: "shop" }),
      scope: { namespace: "shop" },
      discover: noFindings,
      warnings: [],
    });
    expect(html).toContain("<title>Signet audit: namespace shop</title>");
    expect(html).toContain('<p class="meta">namespace shop · generated 2026-03-02T12:00:00.000Z</p>');
  });

  it("should say why static credentials were not looked for when they could not be", () => {
    const html = page(noon, cluster, {
      discover: { unavailable: "cannot list secrets in namespace shop (the API server answered 403)" },
    });
    expect(html).toContain(
      '<p class="empty" data-discover="unavailable">Not scanned: cannot list secrets in namespace shop (the API server answered 403)</p>',
    );
    expect(values(html, "data-finding")).toEqual([]);
  });

  describe("with what signet discover finds", () => {
    let discover: DiscoverReport;
    beforeAll(async () => {
      const legacy = await selfSignedCertificate(
        "<script>legacy</script>",
        new Date(noon.getTime() - 30 * DAY_MS),
        new Date(noon.getTime() + 3620 * DAY_MS),
      );
      discover = buildDiscoverReport({
        now: noon,
        secrets: [
          secret("shop", "legacy-tls", "kubernetes.io/tls", {
            "tls.crt": legacy.certPem,
            "tls.key": legacy.keyPem,
          }),
          secret("shop", "pull", "kubernetes.io/dockerconfigjson", {
            ".dockerconfigjson": JSON.stringify({
              auths: { "<img src=x>.example": { auth: "dXNlcjpwYXNz" } },
            }),
          }),
        ],
        pods: [pod("shop", "api-0", "api", { volume: "legacy-tls" })],
        identities: [],
        signetNamespace: "signet-system",
      });
    });

    it("should list each finding with its risk, pods, reason and what to do, values never shown", () => {
      const html = page(noon, cluster, { discover });
      expect(values(html, "data-finding")).toEqual(["shop/legacy-tls", "shop/pull"]);
      expect(values(html, "data-risk")).toEqual(["high", "low"]);
      const legacy = row(html, "data-finding", "shop/legacy-tls");
      expect(legacy.risk).toBe("HIGH");
      expect(legacy.type).toBe("kubernetes.io/tls");
      expect(legacy.pods).toBe("api-0 (volume/creds)");
      expect(legacy.reason).toContain("valid for 3650 days (3620 left)");
      expect(legacy.reason).toContain("kubectl apply a MachineIdentity shop/legacy for ServiceAccount api");
      expect(html).toContain(
        '<div class="n">2</div><div class="what">static credentials to replace</div><div>1 high · 0 medium · 1 low</div>',
      );
      expect(html).not.toContain("PRIVATE KEY");
      expect(html).not.toContain("dXNlcjpwYXNz");
    });

    it("should escape what a certificate or a registry name says about itself", () => {
      const html = page(noon, cluster, { discover });
      expect(html).not.toMatch(/<script|<img/);
      // Node's subject string already backslash-escapes the angle brackets; the page escapes the rest.
      expect(html).toContain("CN=\\&lt;script\\&gt;legacy\\&lt;/script\\&gt;");
      expect(html).toContain("&lt;img src=x&gt;.example");
    });
  });
});
