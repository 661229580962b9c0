import { attributes, element, escapeMarkup } from "./markup.ts";
import type { AccessEdge, AuditReport } from "./report.ts";
import { compareStrings } from "./time.ts";

// The who-may-talk-to-whom graph as SVG, laid out by a small deterministic layered layout: sources
// on the left, targets to their right (longest path after breaking cycles), the order inside each
// column settled by a few barycenter sweeps. Equal reports give byte-equal drawings.

/**
 * How an identity is drawn: issued and ready, not ready, suspended, named by a policy but absent,
 * or named by a policy in another namespace than the one the report covers (not read, so unknown).
 */
export type NodeState = "ready" | "not-ready" | "suspended" | "missing" | "outside";

/** How an edge is drawn: access open now, stopped by a suspend, or closed (schedule, missing schedule, ...). */
export type EdgeState = "active" | "suspended" | "closed";

const SUSPENDED_REASONS = new Set(["Suspended", "TargetSuspended", "SourceSuspended", "SourcesSuspended"]);

export function edgeState(edge: Pick<AccessEdge, "active" | "reason">): EdgeState {
  if (edge.active) return "active";
  return SUSPENDED_REASONS.has(edge.reason) ? "suspended" : "closed";
}

export interface NodeBox {
  /** "namespace/name". */
  id: string;
  namespace: string;
  name: string;
  state: NodeState;
  layer: number;
  x: number;
  y: number;
  width: number;
  height: number;
}

export interface EdgeRoute {
  edge: AccessEdge;
  state: EdgeState;
  /** The SVG path, a cubic Bézier from the source's border to the target's. */
  path: string;
  /** Where the label sits: the curve's midpoint. */
  label: { x: number; y: number; text: string };
}

export interface GraphLayout {
  width: number;
  height: number;
  nodes: NodeBox[];
  edges: EdgeRoute[];
  /** Every namespace drawn, sorted: each gets a colour of its own. */
  namespaces: string[];
}

// Geometry, in SVG user units. Text is set in a monospace font, so its width follows from its length.
const NAME_CHAR = 7.8; // 13px bold monospace
const SMALL_CHAR = 6.6; // 11px monospace
const NODE_HEIGHT = 46;
const NODE_PADDING = 14;
const MIN_NODE_WIDTH = 120;
const ROW_GAP = 26;
const MIN_COLUMN_GAP = 140;
const MAX_COLUMN_GAP = 320;
const MARGIN = 24;
/** Room above the top row for self-loops. */
const TOP = 44;
const PARALLEL_OFFSET = 12;
const SWEEPS = 4;

const round = (v: number) => {
  const r = Math.round(v * 10) / 10;
  return Object.is(r, -0) ? 0 : r;
};

function splitId(id: string): { namespace: string; name: string } {
  const slash = id.indexOf("/");
  return slash < 0
    ? { namespace: "", name: id }
    : { namespace: id.slice(0, slash), name: id.slice(slash + 1) };
}

function nodeStates(report: AuditReport, namespace: string | undefined): Map<string, NodeState> {
  const states = new Map<string, NodeState>();
  for (const i of report.identities) {
    states.set(`${i.namespace}/${i.name}`, i.suspended ? "suspended" : i.ready ? "ready" : "not-ready");
  }
  for (const e of report.edges) {
    for (const id of [e.from, e.to]) {
      if (states.has(id)) continue;
      const outside = namespace !== undefined && splitId(id).namespace !== namespace;
      states.set(id, outside ? "outside" : "missing");
    }
  }
  return states;
}

function edgeLabelText(edge: AccessEdge): string {
  const policy = splitId(edge.policy).name;
  return edge.ports.length === 0 ? policy : `${policy} ${edge.ports.join(",")}`;
}

function secondLine(node: { namespace: string; state: NodeState }): string {
  const tag = {
    ready: "",
    "not-ready": " · not ready",
    suspended: " · suspended",
    missing: " · no identity",
    outside: " · not audited",
  };
  return `${node.namespace}${tag[node.state]}`;
}

/**
 * An order of the nodes in which few edges point backwards (Eades, Lin and Smyth's greedy
 * heuristic for a small feedback arc set): sinks go to the end, sources to the front, and
 * otherwise the node whose edges most point out, the first in id order on a tie. Parallel
 * edges count each, so the direction most policies give wins.
 */
function flowOrder(
  ids: readonly string[],
  pairs: readonly (readonly [string, string])[],
): Map<string, number> {
  const out = new Map<string, Map<string, number>>(ids.map((id) => [id, new Map()]));
  const into = new Map<string, Map<string, number>>(ids.map((id) => [id, new Map()]));
  for (const [from, to] of pairs) {
    if (from === to || !out.has(from) || !out.has(to)) continue;
    const o = out.get(from) as Map<string, number>;
    o.set(to, (o.get(to) ?? 0) + 1);
    const i = into.get(to) as Map<string, number>;
    i.set(from, (i.get(from) ?? 0) + 1);
  }
  const sum = (m: Map<string, number> | undefined) => [...(m?.values() ?? [])].reduce((a, b) => a + b, 0);
  const left = new Set(ids);
  const remove = (id: string) => {
    left.delete(id);
    for (const to of out.get(id)?.keys() ?? []) into.get(to)?.delete(id);
    for (const from of into.get(id)?.keys() ?? []) out.get(from)?.delete(id);
  };
  const front: string[] = [];
  const back: string[] = [];
  while (left.size > 0) {
    const remaining = [...left].sort(compareStrings);
    const sinks = remaining.filter((id) => sum(out.get(id)) === 0);
    if (sinks.length > 0) {
      for (const id of sinks) remove(id);
      back.unshift(...sinks);
      continue;
    }
    const sources = remaining.filter((id) => sum(into.get(id)) === 0);
    if (sources.length > 0) {
      for (const id of sources) remove(id);
      front.push(...sources);
      continue;
    }
    let best = remaining[0] as string;
    for (const id of remaining) {
      const delta = sum(out.get(id)) - sum(into.get(id));
      if (delta > sum(out.get(best)) - sum(into.get(best))) best = id;
    }
    remove(best);
    front.push(best);
  }
  return new Map([...front, ...back].map((id, i) => [id, i]));
}

/**
 * The column of every node: the longest path to it from a node nothing reaches, on the graph
 * without the edges that point backwards in flowOrder (those that close a cycle). A node that only
 * reaches others then moves right, next to the nearest node it reaches.
 */
export function graphLayers(
  ids: readonly string[],
  pairs: readonly (readonly [string, string])[],
): Map<string, number> {
  const rank = flowOrder(ids, pairs);
  // Only the edges that point forwards in the flow order: a graph without cycles.
  const forward = new Map<string, string[]>(ids.map((id) => [id, []]));
  const backward = new Map<string, string[]>(ids.map((id) => [id, []]));
  for (const [from, to] of pairs) {
    const list = forward.get(from);
    if (list === undefined || !forward.has(to) || list.includes(to)) continue;
    if ((rank.get(from) ?? 0) >= (rank.get(to) ?? 0)) continue;
    list.push(to);
    backward.get(to)?.push(from);
  }
  const layer = new Map<string, number>(ids.map((id) => [id, 0]));
  const waiting = new Map<string, number>(ids.map((id) => [id, backward.get(id)?.length ?? 0]));
  const ready = ids.filter((id) => waiting.get(id) === 0);
  const order: string[] = [];
  while (ready.length > 0) {
    const id = ready.shift() as string;
    order.push(id);
    for (const to of forward.get(id) ?? []) {
      layer.set(to, Math.max(layer.get(to) ?? 0, (layer.get(id) ?? 0) + 1));
      const left = (waiting.get(to) ?? 0) - 1;
      waiting.set(to, left);
      if (left === 0) ready.push(to);
    }
  }
  // Pull each pure source right to just before the nearest node it reaches, so no edge is longer than it must be.
  for (const id of order) {
    const next = forward.get(id) ?? [];
    if ((backward.get(id)?.length ?? 0) > 0 || next.length === 0) continue;
    layer.set(id, Math.min(...next.map((to) => layer.get(to) ?? 0)) - 1);
  }
  return layer;
}

/** The order of the nodes inside each column: id order first, then barycenter sweeps down and up. */
function columnOrder(
  columns: string[][],
  neighbours: Map<string, string[]>,
  layer: Map<string, number>,
): string[][] {
  const position = new Map<string, number>();
  const place = () => {
    for (const column of columns) {
      column.forEach((id, i) => {
        position.set(id, i - (column.length - 1) / 2);
      });
    }
  };
  place();
  for (let sweep = 0; sweep < SWEEPS; sweep++) {
    const down = sweep % 2 === 0;
    const indices = columns.map((_, i) => i);
    if (!down) indices.reverse();
    for (const c of indices) {
      const column = columns[c] as string[];
      const key = new Map<string, number>();
      for (const id of column) {
        const side = (neighbours.get(id) ?? []).filter((n) => {
          const l = layer.get(n) ?? 0;
          return down ? l < c : l > c;
        });
        key.set(
          id,
          side.length === 0
            ? (position.get(id) ?? 0)
            : side.reduce((sum, n) => sum + (position.get(n) ?? 0), 0) / side.length,
        );
      }
      const current = new Map(column.map((id, i) => [id, i]));
      column.sort(
        (a, b) => (key.get(a) ?? 0) - (key.get(b) ?? 0) || (current.get(a) ?? 0) - (current.get(b) ?? 0),
      );
      place();
    }
  }
  return columns;
}

function nodeWidth(name: string, second: string): number {
  return Math.max(
    MIN_NODE_WIDTH,
    Math.ceil(Math.max(name.length * NAME_CHAR, second.length * SMALL_CHAR) + 2 * NODE_PADDING),
  );
}

/** Where one edge leaves or enters a node side, to be spread along that side. */
interface Port {
  route: number;
  /** The y of the point at the other end of the segment: ports are ordered by it, so lines do not cross at the node. */
  towards: number;
  set: (y: number) => void;
}

/** A point of an edge's route; two points of one waypoint are joined by a straight line across its column. */
interface RoutePoint {
  x: number;
  y: number;
  waypoint?: string;
}

const straight = (a: RoutePoint, b: RoutePoint) => a.waypoint !== undefined && a.waypoint === b.waypoint;

/**
 * A path through `points`: straight across a waypoint's column, and between columns a cubic that
 * is horizontal at both ends, so that it stays in the gap between two columns.
 */
function routePath(points: readonly RoutePoint[]): string {
  const [first, ...rest] = points as [RoutePoint, ...RoutePoint[]];
  let d = `M${round(first.x)},${round(first.y)}`;
  let prev = first;
  for (const p of rest) {
    if (straight(prev, p)) {
      d += ` L${round(p.x)},${round(p.y)}`;
    } else {
      const dx = (p.x - prev.x) / 2;
      d += ` C${round(prev.x + dx)},${round(prev.y)} ${round(p.x - dx)},${round(p.y)} ${round(p.x)},${round(p.y)}`;
    }
    prev = p;
  }
  return d;
}

/** The midpoint of the middle curve of a route (between two columns): where the edge's label goes. */
function routeMiddle(points: readonly RoutePoint[]): { x: number; y: number } {
  const curves: [RoutePoint, RoutePoint][] = [];
  for (let i = 1; i < points.length; i++) {
    const a = points[i - 1] as RoutePoint;
    const b = points[i] as RoutePoint;
    if (!straight(a, b)) curves.push([a, b]);
  }
  const [a, b] = curves[Math.floor((curves.length - 1) / 2)] as [RoutePoint, RoutePoint];
  return { x: (a.x + b.x) / 2, y: (a.y + b.y) / 2 };
}

const LABEL_HEIGHT = 13;

/**
 * Moves edge labels down, in steps of a line, until none overlaps another: taken in the order of
 * their places, top to bottom, so the result depends on the layout alone.
 */
function separateLabels(edges: EdgeRoute[]): void {
  const placed: { left: number; right: number; y: number }[] = [];
  const order = edges
    .map((_, i) => i)
    .sort((a, b) => {
      const la = (edges[a] as EdgeRoute).label;
      const lb = (edges[b] as EdgeRoute).label;
      return la.y - lb.y || la.x - lb.x || a - b;
    });
  for (const i of order) {
    const label = (edges[i] as EdgeRoute).label;
    const half = (label.text.length * SMALL_CHAR) / 2 + 3;
    const left = label.x - half;
    const right = label.x + half;
    const clash = (y: number) =>
      placed.some((p) => p.left < right && left < p.right && Math.abs(p.y - y) < LABEL_HEIGHT);
    let y = label.y;
    while (clash(y)) y += LABEL_HEIGHT;
    label.y = round(y);
    placed.push({ left, right, y });
  }
}

/**
 * Nodes and routed edges of the report's access graph, with the size of the drawing. An edge that
 * spans several columns passes through a waypoint in each column between, placed like a node, so
 * that no edge runs through a box; an edge against the flow (one that closes a cycle) is routed as
 * the reverse edge would be, its arrow at the left-hand end.
 */
export function layoutAccessGraph(report: AuditReport, options: { namespace?: string } = {}): GraphLayout {
  const states = nodeStates(report, options.namespace);
  const ids = [...states.keys()].sort(compareStrings);
  const layer = graphLayers(
    ids,
    report.edges.map((e) => [e.from, e.to] as const),
  );
  const layerCount = ids.length === 0 ? 0 : Math.max(...ids.map((id) => layer.get(id) ?? 0)) + 1;

  // Each edge as a chain left to right: its left end, one waypoint per column crossed, its right end.
  const neighbours = new Map<string, string[]>(ids.map((id) => [id, []]));
  const link = (a: string, b: string) => {
    neighbours.get(a)?.push(b);
    neighbours.get(b)?.push(a);
  };
  const chains = report.edges.map((edge, index): string[] => {
    if (edge.from === edge.to) return [edge.from];
    const reversed = (layer.get(edge.from) ?? 0) > (layer.get(edge.to) ?? 0);
    const [left, right] = reversed ? [edge.to, edge.from] : [edge.from, edge.to];
    const chain = [left];
    for (let l = (layer.get(left) ?? 0) + 1; l < (layer.get(right) ?? 0); l++) {
      // Waypoint ids start with a newline, which no node id holds.
      const waypoint = `\n${index}\n${l}`;
      layer.set(waypoint, l);
      neighbours.set(waypoint, []);
      chain.push(waypoint);
    }
    chain.push(right);
    for (let i = 1; i < chain.length; i++) link(chain[i - 1] as string, chain[i] as string);
    return chain;
  });
  const columns: string[][] = Array.from({ length: layerCount }, () => []);
  for (const id of [...layer.keys()].sort(compareStrings)) columns[layer.get(id) ?? 0]?.push(id);
  columnOrder(columns, neighbours, layer);

  const labelWidth = Math.max(0, ...report.edges.map((e) => edgeLabelText(e).length * SMALL_CHAR));
  const columnGap = Math.min(MAX_COLUMN_GAP, Math.max(MIN_COLUMN_GAP, Math.ceil(labelWidth + 40)));
  const rows = Math.max(0, ...columns.map((c) => c.length));
  const boxes = new Map<string, NodeBox>();
  const waypoints = new Map<string, { left: number; right: number; y: number }>();
  let x = MARGIN;
  columns.forEach((column, c) => {
    const sized = column.map((id) => {
      const { namespace, name } = splitId(id);
      const state = states.get(id) ?? "missing";
      return { id, namespace, name, state, width: nodeWidth(name, secondLine({ namespace, state })) };
    });
    const width = Math.max(MIN_NODE_WIDTH, ...sized.filter((n) => states.has(n.id)).map((n) => n.width));
    const top = TOP + ((rows - column.length) * (NODE_HEIGHT + ROW_GAP)) / 2;
    sized.forEach((n, r) => {
      const y = top + r * (NODE_HEIGHT + ROW_GAP);
      if (!states.has(n.id)) {
        waypoints.set(n.id, { left: x, right: x + width, y: y + NODE_HEIGHT / 2 });
        return;
      }
      boxes.set(n.id, { ...n, layer: c, x: x + (width - n.width) / 2, y, height: NODE_HEIGHT });
    });
    x += width + columnGap;
  });
  const width = layerCount === 0 ? 2 * MARGIN : x - columnGap + MARGIN;
  const height = TOP + Math.max(1, rows) * (NODE_HEIGHT + ROW_GAP) - ROW_GAP + MARGIN;

  // Points of each chain: node sides at the ends (their y settled by the ports below), and across
  // each waypoint's column.
  const points = chains.map((chain): RoutePoint[] =>
    chain.flatMap((id, i): RoutePoint[] => {
      const box = boxes.get(id);
      if (box !== undefined) return [{ x: i === 0 ? box.x + box.width : box.x, y: box.y + box.height / 2 }];
      const w = waypoints.get(id) as { left: number; right: number; y: number };
      return [
        { x: w.left, y: w.y, waypoint: id },
        { x: w.right, y: w.y, waypoint: id },
      ];
    }),
  );
  // Spread the ends on each side of a node, ordered by where they come from, so lines do not cross there.
  const sides = new Map<string, Port[]>();
  points.forEach((pts, route) => {
    const chain = chains[route] as string[];
    if (chain.length < 2) return;
    const first = pts[0] as { x: number; y: number };
    const last = pts[pts.length - 1] as { x: number; y: number };
    const add = (side: string, towards: number, set: (y: number) => void) => {
      sides.set(side, [...(sides.get(side) ?? []), { route, towards, set }]);
    };
    add(`${chain[0]}\nright`, (pts[1] as { y: number }).y, (y) => {
      first.y = y;
    });
    add(`${chain[chain.length - 1]}\nleft`, (pts[pts.length - 2] as { y: number }).y, (y) => {
      last.y = y;
    });
  });
  for (const [side, ports] of sides) {
    const box = boxes.get(side.slice(0, side.lastIndexOf("\n"))) as NodeBox;
    ports.sort((a, b) => a.towards - b.towards || a.route - b.route);
    const step = Math.min(PARALLEL_OFFSET, (box.height - 12) / Math.max(1, ports.length - 1));
    ports.forEach((port, k) => {
      port.set(box.y + box.height / 2 + (k - (ports.length - 1) / 2) * step);
    });
  }

  const edges = report.edges.map((edge, route): EdgeRoute => {
    let path: string;
    let middle: { x: number; y: number };
    if (edge.from === edge.to) {
      // A loop out of the node's right side and back, in the room right of it.
      const box = boxes.get(edge.from) as NodeBox;
      const loops = report.edges.filter((e) => e.from === e.to && e.from === edge.from);
      const reach = 36 + loops.indexOf(edge) * PARALLEL_OFFSET;
      const sx = box.x + box.width;
      const cy = box.y + box.height / 2;
      path = `M${round(sx)},${round(cy - 8)} C${round(sx + reach)},${round(cy - 30)} ${round(sx + reach)},${round(cy + 30)} ${round(sx)},${round(cy + 8)}`;
      middle = { x: sx + reach * 0.75 + 6 + (edgeLabelText(edge).length * SMALL_CHAR) / 2, y: cy + 5 };
    } else {
      const pts = points[route] as RoutePoint[];
      const ordered = (layer.get(edge.from) ?? 0) > (layer.get(edge.to) ?? 0) ? [...pts].reverse() : pts;
      path = routePath(ordered);
      middle = routeMiddle(pts);
    }
    return {
      edge,
      state: edgeState(edge),
      path,
      label: { x: round(middle.x), y: round(middle.y - 5), text: edgeLabelText(edge) },
    };
  });

  separateLabels(edges);

  const nodes = ids.map((id) => boxes.get(id) as NodeBox);
  const namespaces = [...new Set(nodes.map((n) => n.namespace))].sort(compareStrings);
  return {
    width: Math.ceil(
      Math.max(width, ...edges.map((e) => e.label.x + (e.label.text.length * SMALL_CHAR) / 2 + MARGIN)),
    ),
    height: Math.ceil(Math.max(height, ...edges.map((e) => e.label.y + MARGIN))),
    nodes: nodes.map((n) => ({ ...n, x: round(n.x), y: round(n.y) })),
    edges,
    namespaces,
  };
}

/** One colour per namespace, in namespace order, repeating after eight. */
const PALETTE = ["#0969da", "#8250df", "#1a7f37", "#bf3989", "#bc4c00", "#0a7e8c", "#6e7781", "#9a6700"];

const STATE_WORDS: Record<EdgeState, string> = {
  active: "open now",
  suspended: "suspended",
  closed: "closed",
};

function edgeTitle(route: EdgeRoute): string {
  const e = route.edge;
  const ports = e.ports.length === 0 ? "all ports" : e.ports.join(", ");
  return `${e.from} → ${e.to} by AccessPolicy ${e.policy} on ${ports}: ${STATE_WORDS[route.state]} (${e.reason})`;
}

/**
 * The graph as one `<svg>` element, styles included, so that it stands alone as well as inside the
 * page. Each node is a `<g data-node="namespace/name">`, each edge a `<g data-edge="from->to"
 * data-policy="namespace/name">`; both carry `data-state`.
 */
export function renderAccessGraphSvg(layout: GraphLayout): string {
  const colour = new Map(layout.namespaces.map((ns, i) => [ns, PALETTE[i % PALETTE.length] as string]));
  const markers = (["active", "suspended", "closed"] as const)
    .map(
      (state) =>
        `<marker id="signet-arrow-${state}" class="arrow ${state}" viewBox="0 0 10 10" refX="10" refY="5" markerWidth="8" markerHeight="8" orient="auto"><path d="M0,0 L10,5 L0,10 z"/></marker>`,
    )
    .join("");
  const style = [
    ".graph text{font-family:ui-monospace,SFMono-Regular,Menlo,Consolas,'DejaVu Sans Mono',monospace}",
    ".graph .node rect.box{fill:#fff;stroke:#57606a;stroke-width:1.5}",
    ".graph .node.not-ready rect.box{stroke:#9a6700;stroke-width:2}",
    ".graph .node.suspended rect.box{fill:#f6f8fa;stroke:#cf222e;stroke-dasharray:6 4}",
    ".graph .node.missing rect.box{fill:#f6f8fa;stroke:#8c959f;stroke-dasharray:2 3}",
    ".graph .node.outside rect.box{fill:#f6f8fa;stroke:#8c959f}",
    ".graph .node .name{font-size:13px;font-weight:700;fill:#1f2328}",
    ".graph .node .ns{font-size:11px;fill:#59636e}",
    ".graph .node.suspended .name,.graph .node.missing .name{fill:#59636e}",
    ".graph .edge path{fill:none;stroke-width:2}",
    ".graph .edge.active path{stroke:#1a7f37}",
    ".graph .edge.suspended path{stroke:#cf222e;stroke-dasharray:7 5}",
    ".graph .edge.closed path{stroke:#9a6700;stroke-dasharray:2 4}",
    ".graph .edge text{font-size:11px;text-anchor:middle;paint-order:stroke;stroke:#fff;stroke-width:4px;stroke-linejoin:round}",
    ".graph .edge.active text{fill:#116329}.graph .edge.suspended text{fill:#a40e26}.graph .edge.closed text{fill:#7d4e00}",
    ".graph marker.active path{fill:#1a7f37}.graph marker.suspended path{fill:#cf222e}.graph marker.closed path{fill:#9a6700}",
    ".graph .edge:hover path{stroke-width:3.5}.graph .node:hover rect.box{stroke-width:3}",
  ].join("");
  const edges = layout.edges.map((route) =>
    element(
      "g",
      {
        class: `edge ${route.state}`,
        "data-edge": `${route.edge.from}->${route.edge.to}`,
        "data-policy": route.edge.policy,
        "data-state": route.state,
        "data-reason": route.edge.reason,
      },
      [
        element("title", {}, escapeMarkup(edgeTitle(route))),
        `<path${attributes({ d: route.path, "marker-end": `url(#signet-arrow-${route.state})` })}/>`,
        element("text", { x: route.label.x, y: route.label.y }, escapeMarkup(route.label.text)),
      ].join(""),
    ),
  );
  const nodes = layout.nodes.map((n) => {
    const stripe = colour.get(n.namespace) ?? "#6e7781";
    return element(
      "g",
      { class: `node ${n.state}`, "data-node": n.id, "data-state": n.state },
      [
        element("title", {}, escapeMarkup(`${n.id}: ${n.state}`)),
        `<rect${attributes({ class: "box", x: n.x, y: n.y, width: n.width, height: n.height, rx: 6 })}/>`,
        `<rect${attributes({ class: "stripe", x: n.x, y: n.y, width: 5, height: n.height, rx: 2, fill: stripe })}/>`,
        element(
          "text",
          { class: "name", x: round(n.x + NODE_PADDING), y: round(n.y + 19) },
          escapeMarkup(n.name),
        ),
        element(
          "text",
          { class: "ns", x: round(n.x + NODE_PADDING), y: round(n.y + 36) },
          escapeMarkup(secondLine(n)),
        ),
      ].join(""),
    );
  });
  return element(
    "svg",
    {
      xmlns: "http://www.w3.org/2000/svg",
      class: "graph",
      role: "img",
      "aria-label": `Access graph: ${layout.nodes.length} identities, ${layout.edges.length} edges`,
      width: layout.width,
      height: layout.height,
      viewBox: `0 0 ${layout.width} ${layout.height}`,
    },
    `<style>${style}</style><defs>${markers}</defs><g class="edges">${edges.join("")}</g><g class="nodes">${nodes.join("")}</g>`,
  );
}
