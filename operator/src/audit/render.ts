import { stringify } from "yaml";
import type { AccessEdge, AuditReport, IdentityReport, PolicyLink } from "./report.ts";
import { compareStrings } from "./time.ts";

export const AUDIT_FORMATS = ["table", "json", "yaml", "mermaid", "dot"] as const;
export type AuditFormat = (typeof AUDIT_FORMATS)[number];

/** Rows as columns padded to their widest cell, two spaces apart, no trailing blanks. */
export function alignColumns(rows: readonly (readonly string[])[]): string {
  const widths: number[] = [];
  for (const row of rows) {
    row.forEach((cell, i) => {
      widths[i] = Math.max(widths[i] ?? 0, cell.length);
    });
  }
  return rows
    .map((row) =>
      row
        .map((cell, i) => (i === row.length - 1 ? cell : cell.padEnd(widths[i] ?? 0)))
        .join("  ")
        .trimEnd(),
    )
    .join("\n");
}

/** "Secret", or for pod certificates what the signer did: "PodCertificate(issued 3, denied 1: Suspended)". */
export function deliveryText(i: IdentityReport): string {
  const pc = i.podCertificates;
  if (!pc) return i.delivery;
  const denial = pc.denied && pc.lastDenial ? `: ${pc.lastDenial.reason}` : "";
  return `${i.delivery}(issued ${pc.issued ?? 0}, denied ${pc.denied ?? 0}${denial})`;
}

/** The READY column: "True", "False(<reason>)", or "Suspended" whatever the condition says. */
export function readyText(i: IdentityReport): string {
  return i.suspended ? "Suspended" : i.ready ? "True" : `False(${i.readyReason})`;
}

function links(list: readonly PolicyLink[]): string {
  if (list.length === 0) return "-";
  // A policy with several sources gives one link each; the table names each policy once.
  const byPolicy = new Map<string, boolean>();
  for (const l of list) byPolicy.set(l.policy, l.active);
  return [...byPolicy].map(([policy, active]) => `${policy}(${active ? "active" : "inactive"})`).join(",");
}

function renderTable(report: AuditReport): string {
  const identities = alignColumns([
    ["NAMESPACE", "NAME", "SPIFFE ID", "READY", "DELIVERY", "CONSUMERS", "EXPIRES", "ROTATIONS", "IN", "OUT"],
    ...report.identities.map((i) => [
      i.namespace,
      i.name,
      i.spiffeID,
      readyText(i),
      deliveryText(i),
      i.consumers.length === 0 ? "-" : i.consumers.join(","),
      i.expiry ?? "-",
      String(i.rotations),
      links(i.inbound),
      links(i.outbound),
    ]),
  ]);
  const edges = alignColumns([
    ["FROM", "TO", "POLICY", "ACTIVE", "PORTS"],
    ...report.edges.map((e) => [
      e.from,
      e.to,
      e.policy,
      e.active ? "true" : `false(${e.reason})`,
      e.ports.length === 0 ? "all" : e.ports.join(","),
    ]),
  ]);
  const none = (what: string) => `No ${what}.`;
  return [
    report.identities.length === 0 ? none("MachineIdentities") : identities,
    "",
    report.edges.length === 0 ? none("AccessPolicies") : edges,
    "",
  ].join("\n");
}

/** Every node of the graph: each identity, and each edge end, even one naming a missing identity. */
function nodes(report: AuditReport): { id: string; missing: boolean }[] {
  const known = new Set(report.identities.map((i) => `${i.namespace}/${i.name}`));
  const all = new Set([...known, ...report.edges.flatMap((e) => [e.from, e.to])]);
  return [...all].sort(compareStrings).map((id) => ({ id, missing: !known.has(id) }));
}

function edgeLabel(edge: AccessEdge): string {
  const ports = edge.ports.length === 0 ? "" : ` ${edge.ports.join(",")}`;
  return `${edge.policy}${ports}`;
}

// Mermaid labels are quoted; a quote inside becomes its HTML entity, the documented escape.
const mermaidText = (text: string) => text.replaceAll('"', "#quot;");

function renderMermaid(report: AuditReport): string {
  const all = nodes(report);
  const ids = new Map(all.map((n, i) => [n.id, `n${i}`]));
  const lines = ["flowchart LR"];
  for (const n of all) {
    lines.push(`  ${ids.get(n.id)}["${mermaidText(n.missing ? `${n.id} (no MachineIdentity)` : n.id)}"]`);
  }
  for (const e of report.edges) {
    const arrow = e.active ? "-->" : "-.->";
    lines.push(`  ${ids.get(e.from)} ${arrow}|"${mermaidText(edgeLabel(e))}"| ${ids.get(e.to)}`);
  }
  return `${lines.join("\n")}\n`;
}

const dotString = (text: string) => `"${text.replaceAll("\\", "\\\\").replaceAll('"', '\\"')}"`;

function renderDot(report: AuditReport): string {
  const lines = ["digraph signet {", "  rankdir=LR;", "  node [shape=box];"];
  for (const n of nodes(report)) {
    lines.push(`  ${dotString(n.id)}${n.missing ? " [style=dotted]" : ""};`);
  }
  for (const e of report.edges) {
    lines.push(
      `  ${dotString(e.from)} -> ${dotString(e.to)} [label=${dotString(edgeLabel(e))}, style=${e.active ? "solid" : "dashed"}];`,
    );
  }
  lines.push("}");
  return `${lines.join("\n")}\n`;
}

/** The report in one of the output formats; json and yaml carry the report exactly. */
export function renderAuditReport(report: AuditReport, format: AuditFormat): string {
  switch (format) {
    case "table":
      return renderTable(report);
    case "json":
      return `${JSON.stringify(report, null, 2)}\n`;
    case "yaml":
      return stringify(report, { lineWidth: 0, aliasDuplicateObjects: false });
    case "mermaid":
      return renderMermaid(report);
    case "dot":
      return renderDot(report);
  }
}
