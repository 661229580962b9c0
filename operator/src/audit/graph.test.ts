import fc from "fast-check";
import { describe, expect, it } from "vitest";
import {
  type EdgeState,
  edgeState,
  type GraphLayout,
  graphLayers,
  layoutAccessGraph,
  type NodeBox,
  renderAccessGraphSvg,
} from "./graph.ts";
import type { AccessEdge, AuditReport, IdentityReport } from "./report.ts";

function identity(id: string, overrides: Partial<IdentityReport> = {}): IdentityReport {
  const slash = id.indexOf("/");
  const [namespace, name] = [id.slice(0, slash), id.slice(slash + 1)];
  return {
    namespace,
    name,
    spiffeID: `spiffe://cluster.local/ns/${namespace}/id/${name}`,
    ready: true,
    readyReason: "Issued",
    suspended: false,
    consumers: [],
    notAfter: null,
    expiry: null,
    rotations: 0,
    delivery: "Secret",
    podCertificates: null,
    inbound: [],
    outbound: [],
    ...overrides,
  };
}

function edge(from: string, to: string, policy: string, overrides: Partial<AccessEdge> = {}): AccessEdge {
  return { from, to, policy, active: true, activeFrom: "status", reason: "Active", ports: [], ...overrides };
}

function report(identities: IdentityReport[], edges: AccessEdge[]): AuditReport {
  return { generatedAt: "2026-03-02T12:00:00.000Z", identities, edges };
}

type Point = { x: number; y: number };

/** Points along an SVG path of M, L and C commands, 20 per segment: what the browser would draw. */
function samplePath(d: string): Point[] {
  const tokens = d.match(/[MLC]|-?\d+(\.\d+)?/g) ?? [];
  const points: Point[] = [];
  let i = 0;
  let at: Point = { x: 0, y: 0 };
  const num = () => Number(tokens[i++]);
  const pt = (): Point => ({ x: num(), y: num() });
  while (i < tokens.length) {
    const command = tokens[i++];
    if (command === "M") {
      at = pt();
      points.push(at);
    } else if (command === "L") {
      const to = pt();
      for (let k = 1; k <= 20; k++) {
        const t = k / 20;
        points.push({ x: at.x + (to.x - at.x) * t, y: at.y + (to.y - at.y) * t });
      }
      at = to;
    } else if (command === "C") {
      const [c1, c2, to] = [pt(), pt(), pt()];
      for (let k = 1; k <= 20; k++) {
        const t = k / 20;
        const u = 1 - t;
        points.push({
          x: u * u * u * at.x + 3 * u * u * t * c1.x + 3 * u * t * t * c2.x + t * t * t * to.x,
          y: u * u * u * at.y + 3 * u * u * t * c1.y + 3 * u * t * t * c2.y + t * t * t * to.y,
        });
      }
      at = to;
    } else {
      throw new Error(`unexpected path command ${command} in ${d}`);
    }
  }
  return points;
}

const strictlyInside = (p: Point, b: NodeBox) =>
  p.x > b.x + 1 && p.x < b.x + b.width - 1 && p.y > b.y + 1 && p.y < b.y + b.height - 1;

const overlap = (a: NodeBox, b: NodeBox) =>
  a.x < b.x + b.width && b.x < a.x + a.width && a.y < b.y + b.height && b.y < a.y + a.height;

/** Every geometric promise of the layout, checked on one report. */
function checkLayout(input: AuditReport, layout: GraphLayout): void {
  const ids = new Set([...input.identities.map((i) => `${i.namespace}/${i.name}`)]);
  for (const e of input.edges) ids.add(e.from).add(e.to);
  expect(layout.nodes.map((n) => n.id)).toEqual([...ids].sort());
  expect(layout.edges.map((r) => r.edge)).toEqual(input.edges);
  const box = new Map(layout.nodes.map((n) => [n.id, n]));
  for (const [i, a] of layout.nodes.entries()) {
    expect(a.x).toBeGreaterThanOrEqual(0);
    expect(a.y).toBeGreaterThanOrEqual(0);
    expect(a.x + a.width).toBeLessThanOrEqual(layout.width);
    expect(a.y + a.height).toBeLessThanOrEqual(layout.height);
    for (const b of layout.nodes.slice(i + 1))
      expect(overlap(a, b), `${a.id} and ${b.id} overlap`).toBe(false);
  }
  for (const route of layout.edges) {
    const from = box.get(route.edge.from) as NodeBox;
    const to = box.get(route.edge.to) as NodeBox;
    const points = samplePath(route.path);
    for (const p of points) {
      expect(p.x).toBeGreaterThanOrEqual(0);
      expect(p.x).toBeLessThanOrEqual(layout.width);
      expect(p.y).toBeGreaterThanOrEqual(0);
      expect(p.y).toBeLessThanOrEqual(layout.height);
      for (const n of layout.nodes) {
        expect(strictlyInside(p, n), `${route.edge.policy} runs through ${n.id}`).toBe(false);
      }
    }
    const first = points[0] as Point;
    const last = points[points.length - 1] as Point;
    // Each end on the border of its box, on the side that faces the other end.
    if (from === to) {
      expect(first.x).toBe(from.x + from.width);
      expect(last.x).toBe(from.x + from.width);
    } else {
      expect(from.layer).not.toBe(to.layer);
      const forward = from.layer < to.layer;
      expect(first.x).toBeCloseTo(forward ? from.x + from.width : from.x, 0);
      expect(last.x).toBeCloseTo(forward ? to.x : to.x + to.width, 0);
    }
    expect(first.y).toBeGreaterThanOrEqual(from.y);
    expect(first.y).toBeLessThanOrEqual(from.y + from.height);
    expect(last.y).toBeGreaterThanOrEqual(to.y);
    expect(last.y).toBeLessThanOrEqual(to.y + to.height);
    expect(route.label.x).toBeGreaterThanOrEqual(0);
    expect(route.label.y).toBeLessThanOrEqual(layout.height);
  }
}

describe("edgeState", () => {
  const cases: [string, boolean, string, EdgeState][] = [
    ["an active policy is open", true, "Active", "active"],
    ["an open schedule is open", true, "ScheduleActive", "active"],
    ["a suspended policy is suspended", false, "Suspended", "suspended"],
    ["a suspended target is suspended", false, "TargetSuspended", "suspended"],
    ["a suspended source is suspended", false, "SourceSuspended", "suspended"],
    ["all sources suspended is suspended", false, "SourcesSuspended", "suspended"],
    ["a schedule outside its windows is closed", false, "ScheduleInactive", "closed"],
    ["a missing schedule is closed", false, "ScheduleNotFound", "closed"],
    ["a policy without sources is closed", false, "NoSources", "closed"],
  ];
  it.each(cases)("should say %s", (_, active, reason, state) => {
    expect(edgeState({ active, reason })).toBe(state);
  });
});

describe("graphLayers", () => {
  const cases: [string, string[], [string, string][], Record<string, number>][] = [
    [
      "should put each target right of its source",
      ["a", "b", "c"],
      [
        ["a", "b"],
        ["b", "c"],
      ],
      { a: 0, b: 1, c: 2 },
    ],
    [
      "should put a target after its longest path",
      ["a", "b", "c"],
      [
        ["a", "b"],
        ["b", "c"],
        ["a", "c"],
      ],
      { a: 0, b: 1, c: 2 },
    ],
    [
      "should pull a source that only reaches a far node next to it",
      ["a", "b", "c", "d"],
      [
        ["a", "b"],
        ["b", "c"],
        ["d", "c"],
      ],
      { a: 0, b: 1, c: 2, d: 1 },
    ],
    [
      "should break a cycle at the edge that closes it, in id order",
      ["a", "b", "c"],
      [
        ["a", "b"],
        ["b", "c"],
        ["c", "a"],
      ],
      { a: 0, b: 1, c: 2 },
    ],
    [
      "should place both ends of a two-way pair apart",
      ["x", "y"],
      [
        ["y", "x"],
        ["x", "y"],
      ],
      { x: 0, y: 1 },
    ],
    ["should ignore a self-loop", ["a"], [["a", "a"]], { a: 0 }],
    [
      "should keep a node without edges in the first column",
      ["a", "b", "z"],
      [["a", "b"]],
      { a: 0, b: 1, z: 0 },
    ],
  ];
  it.each(cases)("%s", (_, ids, pairs, expected) => {
    expect(Object.fromEntries(graphLayers(ids, pairs))).toEqual(expected);
  });
});

describe("layoutAccessGraph", () => {
  const shop = report(
    [identity("shop/checkout"), identity("shop/payments"), identity("shop/batch", { suspended: true })],
    [
      edge("ops/cron", "shop/payments", "shop/nightly", { active: false, reason: "ScheduleInactive" }),
      edge("shop/batch", "shop/payments", "shop/batch-to-payments", {
        active: false,
        reason: "SourceSuspended",
      }),
      edge("shop/checkout", "shop/payments", "shop/checkout-to-payments", { ports: ["8443/TCP"] }),
      edge("shop/checkout", "shop/payments", "shop/checkout-metrics", { ports: ["9090/TCP"] }),
      edge("shop/payments", "shop/checkout", "shop/callbacks"),
    ],
  );

  it("should draw a node for each identity and for each edge end without one, with its state", () => {
    const layout = layoutAccessGraph(shop);
    expect(layout.nodes.map((n) => [n.id, n.state])).toEqual([
      ["ops/cron", "missing"],
      ["shop/batch", "suspended"],
      ["shop/checkout", "ready"],
      ["shop/payments", "ready"],
    ]);
    expect(layout.namespaces).toEqual(["ops", "shop"]);
    checkLayout(shop, layout);
  });

  it("should put sources left of the identity they reach and route the edge back against the flow", () => {
    const layout = layoutAccessGraph(shop);
    const at = Object.fromEntries(layout.nodes.map((n) => [n.id, n]));
    expect(at["shop/checkout"]?.layer).toBe(0);
    expect(at["shop/payments"]?.layer).toBe(1);
    const back = layout.edges.find((r) => r.edge.policy === "shop/callbacks");
    // It starts on the left of payments and ends, with its arrow, on the right of checkout.
    expect(back?.path.startsWith(`M${at["shop/payments"]?.x},`)).toBe(true);
    const checkout = at["shop/checkout"] as NodeBox;
    expect(
      back?.path.endsWith(` ${checkout.x + checkout.width},${samplePath(back?.path ?? "").at(-1)?.y}`),
    ).toBe(true);
  });

  it("should give two policies between the same pair two separate routes", () => {
    const layout = layoutAccessGraph(shop);
    const [a, b] = layout.edges.filter(
      (r) => r.edge.from === "shop/checkout" && r.edge.to === "shop/payments",
    );
    expect(a?.path).not.toBe(b?.path);
    expect(a?.label.y).not.toBe(b?.label.y);
  });

  it("should route an edge that skips a column through a waypoint, not through the node in between", () => {
    const input = report(
      [identity("a/one"), identity("a/two"), identity("a/three")],
      [edge("a/one", "a/two", "a/p1"), edge("a/two", "a/three", "a/p2"), edge("a/one", "a/three", "a/p3")],
    );
    const layout = layoutAccessGraph(input);
    expect(layout.nodes.map((n) => n.layer)).toEqual([0, 2, 1]);
    expect(layout.edges.find((r) => r.edge.policy === "a/p3")?.path).toContain(" L");
    checkLayout(input, layout);
  });

  it("should draw a self-loop beside its node", () => {
    const input = report([identity("a/echo")], [edge("a/echo", "a/echo", "a/self")]);
    const layout = layoutAccessGraph(input);
    checkLayout(input, layout);
    expect(layout.edges[0]?.label.text).toBe("self");
  });

  it("should label an edge with its policy's name and ports", () => {
    const labels = layoutAccessGraph(shop).edges.map((r) => r.label.text);
    expect(labels).toEqual([
      "nightly",
      "batch-to-payments",
      "checkout-to-payments 8443/TCP",
      "checkout-metrics 9090/TCP",
      "callbacks",
    ]);
  });

  it("should keep labels from overlapping one another", () => {
    // Six clients of one hub, four of them through two policies each: labels start within a line of one another.
    const fan = report(
      [identity("a/hub"), ...Array.from({ length: 6 }, (_, i) => identity(`a/client-${i}`))],
      Array.from({ length: 10 }, (_, i) => edge(`a/client-${i % 6}`, "a/hub", `a/client-${i}-to-hub`)),
    );
    const layout = layoutAccessGraph(fan);
    checkLayout(fan, layout);
    const labels = layout.edges.map((r) => r.label);
    for (const [i, a] of labels.entries()) {
      for (const b of labels.slice(i + 1)) {
        const apart =
          Math.abs(a.y - b.y) >= 13 || Math.abs(a.x - b.x) >= ((a.text.length + b.text.length) * 6.6) / 2;
        expect(apart, `${a.text} / ${b.text}`).toBe(true);
      }
    }
  });

  it("should lay out an empty report as an empty drawing", () => {
    const layout = layoutAccessGraph(report([], []));
    expect(layout.nodes).toEqual([]);
    expect(layout.edges).toEqual([]);
    expect(layout.width).toBeGreaterThan(0);
  });

  it("should keep every promise on any graph: no overlap, no edge through a box, ends on borders, in bounds", () => {
    const names = ["a/api", "a/db", "a/web", "b/ledger", "b/batch", "c/cron", "c/x"];
    const arbitraryEdge = fc.record({
      from: fc.constantFrom(...names, "d/missing"),
      to: fc.constantFrom(...names, "d/gone"),
      policy: fc.stringMatching(/^[a-z]{1,12}$/),
      reason: fc.constantFrom("Active", "Suspended", "ScheduleInactive", "TargetSuspended"),
      ports: fc.array(fc.constantFrom("443/TCP", "8443/TCP", "53/UDP"), { maxLength: 2 }),
    });
    fc.assert(
      fc.property(
        fc.uniqueArray(fc.constantFrom(...names), { maxLength: names.length }),
        fc.array(arbitraryEdge, { maxLength: 14 }),
        (identities, edges) => {
          const input = report(
            identities.map((id) => identity(id)),
            edges.map((e, i) =>
              edge(e.from, e.to, `${e.to.split("/")[0]}/${e.policy}-${i}`, {
                ...e,
                policy: `p${i}`,
                active: e.reason === "Active",
              }),
            ),
          );
          const layout = layoutAccessGraph(input);
          checkLayout(input, layout);
          // Equal reports, equal drawings.
          expect(renderAccessGraphSvg(layoutAccessGraph(input))).toBe(renderAccessGraphSvg(layout));
        },
      ),
      { numRuns: 300 },
    );
  });
});

describe("renderAccessGraphSvg", () => {
  const input = report(
    [identity("shop/checkout"), identity("shop/payments"), identity("shop/<b>bold</b>", { ready: false })],
    [
      edge("shop/checkout", "shop/payments", "shop/to-payments"),
      edge("shop/<b>bold</b>", "shop/payments", 'shop/"quoted"', { active: false, reason: "Suspended" }),
      edge("ops/batch", "shop/payments", "shop/night", { active: false, reason: "ScheduleInactive" }),
    ],
  );
  const svg = renderAccessGraphSvg(layoutAccessGraph(input));

  it("should mark every node and every edge with stable data attributes and its state", () => {
    expect(
      [...svg.matchAll(/<g class="node ([a-z-]+)" data-node="([^"]*)" data-state="([a-z-]+)"/g)].map((m) => [
        m[2],
        m[1],
        m[3],
      ]),
    ).toEqual([
      ["ops/batch", "missing", "missing"],
      ["shop/&lt;b&gt;bold&lt;/b&gt;", "not-ready", "not-ready"],
      ["shop/checkout", "ready", "ready"],
      ["shop/payments", "ready", "ready"],
    ]);
    expect(
      [
        ...svg.matchAll(
          /<g class="edge ([a-z]+)" data-edge="([^"]*)" data-policy="([^"]*)" data-state="([a-z]+)"/g,
        ),
      ].map((m) => [m[2], m[3], m[1], m[4]]),
    ).toEqual([
      ["shop/checkout-&gt;shop/payments", "shop/to-payments", "active", "active"],
      ["shop/&lt;b&gt;bold&lt;/b&gt;-&gt;shop/payments", "shop/&quot;quoted&quot;", "suspended", "suspended"],
      ["ops/batch-&gt;shop/payments", "shop/night", "closed", "closed"],
    ]);
  });

  it("should end each edge with the arrow of its state, and define each arrow it uses", () => {
    for (const state of ["active", "suspended", "closed"]) {
      expect(svg).toContain(`<marker id="signet-arrow-${state}"`);
      expect(svg).toMatch(
        new RegExp(
          `class="edge ${state}"[^>]*><title>[^<]*</title><path d="[^"]*" marker-end="url\\(#signet-arrow-${state}\\)"/>`,
        ),
      );
    }
  });

  it("should draw suspended and closed edges dashed differently from open ones", () => {
    expect(svg).toContain(".graph .edge.suspended path{stroke:#cf222e;stroke-dasharray:7 5}");
    expect(svg).toContain(".graph .edge.closed path{stroke:#9a6700;stroke-dasharray:2 4}");
    expect(svg).toMatch(/\.graph \.edge\.active path\{stroke:#1a7f37\}/);
  });

  it("should escape every name, so that none becomes markup", () => {
    expect(svg).not.toContain("<b>");
    expect(svg).not.toContain('"quoted"');
    expect(svg).toContain("&lt;b&gt;bold&lt;/b&gt;");
  });
});
