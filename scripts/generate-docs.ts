// Writes docs/reference/ from the zod schemas in operator/src/api, through the same structural
// schema the CRDs are generated from, so the reference says exactly what the API server enforces.
// `npm run docs`; a unit test keeps the committed pages equal to this output.
import { mkdirSync, readdirSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { crdFor, type JsonSchema } from "../operator/src/api/crd.ts";
import { API_VERSION, KINDS, type SignetKind } from "../operator/src/api/index.ts";

const HEADER = "<!-- Generated from operator/src/api by `npm run docs`. Do not edit by hand. -->\n";

interface Rule {
  rule: string;
  message: string;
  fieldPath?: string;
}

interface Row {
  path: string;
  node: JsonSchema;
  required: boolean;
}

/** Every field under `node`, depth first in the schema's own order, with array items as `field[]`. */
function rows(node: JsonSchema, path: string, required: boolean, out: Row[], rules: [string, Rule][]): void {
  out.push({ path, node, required });
  for (const rule of (node["x-kubernetes-validations"] ?? []) as Rule[]) rules.push([path, rule]);
  const props = (node.properties ?? {}) as Record<string, JsonSchema>;
  const requiredNames = new Set((node.required ?? []) as string[]);
  for (const [name, child] of Object.entries(props)) {
    rows(child, `${path}.${name}`, requiredNames.has(name), out, rules);
  }
  if (node.items) {
    const items = node.items as JsonSchema;
    // Items that are objects are documented field by field; scalar items are described on the list.
    if (items.type === "object") {
      for (const rule of (items["x-kubernetes-validations"] ?? []) as Rule[]) rules.push([`${path}[]`, rule]);
      const itemRequired = new Set((items.required ?? []) as string[]);
      for (const [name, child] of Object.entries((items.properties ?? {}) as Record<string, JsonSchema>)) {
        rows(child, `${path}[].${name}`, itemRequired.has(name), out, rules);
      }
    }
  }
}

function typeOf(node: JsonSchema): string {
  if (node.type === "array") {
    const items = node.items as JsonSchema;
    return `${items.type === "object" ? "object" : typeOf(items)}[]`;
  }
  if (node.format === "date-time") return "string (RFC 3339)";
  return String(node.type);
}

const code = (value: unknown) => `\`${typeof value === "string" ? value : JSON.stringify(value)}\``;

function constraints(node: JsonSchema): string[] {
  const out: string[] = [];
  const scalar = node.type === "array" ? (node.items as JsonSchema) : node;
  if (Array.isArray(scalar.enum)) out.push(`one of ${scalar.enum.map(code).join(", ")}`);
  if (scalar.minimum !== undefined && scalar.maximum !== undefined) {
    out.push(`${scalar.minimum} to ${scalar.maximum}`);
  } else if (scalar.minimum !== undefined) {
    out.push(`at least ${scalar.minimum}`);
  } else if (scalar.maximum !== undefined) {
    out.push(`at most ${scalar.maximum}`);
  }
  if (scalar.maxLength !== undefined && scalar.type === "string" && scalar.enum === undefined) {
    out.push(`at most ${scalar.maxLength} characters`);
  }
  if (node.minItems !== undefined)
    out.push(`at least ${node.minItems} item${node.minItems === 1 ? "" : "s"}`);
  if (node.maxItems !== undefined) out.push(`at most ${node.maxItems} items`);
  if (node["x-kubernetes-list-type"] === "set") out.push("no duplicates");
  if (node["x-kubernetes-list-type"] === "map") {
    out.push(`unique by ${(node["x-kubernetes-list-map-keys"] as string[]).map(code).join(" and ")}`);
  }
  return out;
}

// Pipes would end a table cell; line breaks would end the row.
const cell = (text: string) => text.replaceAll("|", "\\|").replaceAll("\n", " ");

function table(section: JsonSchema, name: string): { lines: string[]; rules: [string, Rule][] } {
  const all: Row[] = [];
  const rules: [string, Rule][] = [];
  rows(section, name, false, all, rules);
  const lines = ["| Field | Type | Required | Default | Description |", "|---|---|---|---|---|"];
  for (const row of all.slice(1)) {
    const extra = constraints(row.node);
    const description = [row.node.description ?? "", extra.length ? `Constraints: ${extra.join("; ")}.` : ""]
      .filter(Boolean)
      .join(" ");
    lines.push(
      `| ${code(row.path)} | ${typeOf(row.node)} | ${row.required ? "yes" : "no"} | ${
        row.node.default === undefined ? "" : code(row.node.default)
      } | ${cell(String(description))} |`,
    );
  }
  return { lines, rules };
}

function rulesSection(rules: [string, Rule][]): string[] {
  if (rules.length === 0) return [];
  return [
    "",
    "Cross-field rules, checked by the API server (CEL) and again by the operator:",
    "",
    ...rules.map(([path, r]) => `- ${code(`${path}${r.fieldPath ?? ""}`)}: ${r.message}.`),
  ];
}

export function referenceFileName(kind: SignetKind): string {
  return `${kind.toLowerCase()}.md`;
}

/** One kind's reference page. */
export function renderReferencePage(kind: SignetKind): string {
  const crd = crdFor(kind) as {
    spec: {
      names: { plural: string; shortNames: string[] };
      scope: string;
      versions: { schema: { openAPIV3Schema: JsonSchema } }[];
    };
  };
  const root = crd.spec.versions[0]?.schema.openAPIV3Schema as JsonSchema;
  const props = root.properties as Record<string, JsonSchema>;
  const spec = table(props.spec as JsonSchema, "spec");
  const status = props.status ? table(props.status, "status") : undefined;
  const metadataName = (props.metadata?.properties as Record<string, JsonSchema> | undefined)?.name;
  const names = crd.spec.names;
  return [
    `${HEADER}# ${kind}`,
    "",
    `\`apiVersion: ${API_VERSION}\` · \`kind: ${kind}\` · ${crd.spec.scope === "Cluster" ? "cluster-scoped" : "namespaced"} · plural \`${names.plural}\` · short name${
      names.shortNames.length === 1 ? "" : "s"
    } ${names.shortNames.map(code).join(", ")}`,
    "",
    String(root.description),
    "",
    ...(metadataName?.maxLength === 63
      ? [
          "`metadata.name` must be a DNS-1123 label (at most 63 characters), because pods carry it as a label value.",
          "",
        ]
      : []),
    "## spec",
    "",
    String((props.spec as JsonSchema).description),
    "",
    ...spec.lines,
    ...rulesSection(spec.rules),
    "",
    ...(status
      ? [
          "## status",
          "",
          `${String((props.status as JsonSchema).description)} Written by the operator only.`,
          "",
          ...status.lines,
        ]
      : []),
    "",
  ].join("\n");
}

function renderIndex(): string {
  return [
    `${HEADER}# API reference`,
    "",
    `Every Signet resource belongs to \`${API_VERSION}\`; all are namespaced except IssuancePolicy, the cluster admin's. These pages are generated from the`,
    "same schemas as the CRDs in `crds/`, so they list exactly what the API server accepts.",
    "",
    ...KINDS.map((kind) => `- [${kind}](${referenceFileName(kind)})`),
    "",
  ].join("\n");
}

/** Every page of docs/reference/, keyed by file name. */
export function renderReference(): { fileName: string; markdown: string }[] {
  return [
    { fileName: "README.md", markdown: renderIndex() },
    ...KINDS.map((kind) => ({ fileName: referenceFileName(kind), markdown: renderReferencePage(kind) })),
  ];
}

if (import.meta.main) {
  const dir = fileURLToPath(new URL("../docs/reference", import.meta.url));
  mkdirSync(dir, { recursive: true });
  const pages = renderReference();
  for (const stale of readdirSync(dir).filter(
    (f) => f.endsWith(".md") && !pages.some((p) => p.fileName === f),
  )) {
    rmSync(join(dir, stale));
    console.log(`removed docs/reference/${stale}`);
  }
  for (const { fileName, markdown } of pages) {
    writeFileSync(join(dir, fileName), markdown);
    console.log(`wrote docs/reference/${fileName}`);
  }
}
