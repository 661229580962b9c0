// The chart's Grafana dashboard and PrometheusRule, rendered with helm: what renders with the options
// on and off, and that every metric their queries name is one the operator (or signet proxy) exports,
// so that renaming a metric fails here rather than in a user's Grafana.
import { readFileSync } from "node:fs";
import { join } from "node:path";
import type { Registry } from "prom-client";
import { beforeAll, describe, expect, it } from "vitest";
import { parseAllDocuments } from "yaml";
import { chartDir, helmBinary, helmTemplate } from "../../../scripts/render-manifests.ts";
import { ProxyMetrics } from "../proxy/metrics.ts";
import { SignetMetrics } from "./metrics.ts";

interface Rendered {
  kind: string;
  metadata: {
    name: string;
    namespace?: string;
    labels?: Record<string, string>;
    annotations?: Record<string, string>;
  };
  data?: Record<string, string>;
  spec?: { groups: RuleGroup[] };
}

interface RuleGroup {
  name: string;
  rules: {
    alert: string;
    expr: string;
    for?: string;
    labels: Record<string, string>;
    annotations: Record<string, string>;
  }[];
}

interface Panel {
  title: string;
  type: string;
  targets?: { expr: string }[];
}

interface Dashboard {
  uid: string;
  panels: Panel[];
  templating: { list: { name: string; definition?: string }[] };
}

const BOTH_ON = ["--set", "grafana.dashboard.enabled=true", "--set", "prometheusRule.enabled=true"];
/** With the chart's ServiceMonitor too, whose scrape job the SignetDown alert watches. */
const ALL_ON = [...BOTH_ON, "--set", "serviceMonitor.enabled=true"];
/** Series that Prometheus writes itself for every scrape target. */
const SCRAPE_SERIES = new Set(["up"]);
const DASHBOARD_FILE = join(chartDir, "dashboards", "signet.json");

let helm: string;
beforeAll(() => {
  helm = helmBinary();
});

const render = (args: string[] = []): Rendered[] =>
  parseAllDocuments(helmTemplate(helm, args))
    .map((d) => d.toJS() as Rendered | null)
    .filter((o): o is Rendered => o != null && typeof o === "object" && "kind" in o);

const dashboardMapOf = (objects: Rendered[]) =>
  objects.filter((o) => o.kind === "ConfigMap" && o.data?.["signet.json"] !== undefined);

function only<T>(items: T[], what: string): T {
  if (items.length !== 1) throw new Error(`expected one ${what}, rendered ${items.length}`);
  return items[0] as T;
}

/** Words of PromQL that are not metric names where they stand outside label matchers and ranges. */
const PROMQL_WORDS = new Set([
  "and",
  "or",
  "unless",
  "bool",
  "offset",
  "on",
  "ignoring",
  "group_left",
  "group_right",
  "inf",
  "nan",
]);

/**
 * The metric names a PromQL expression selects: the identifiers left once strings, label matchers,
 * ranges and grouping label lists are taken out, other than functions and aggregations (followed by
 * a parenthesis), keywords, Grafana variables ($name) and number or duration suffixes.
 */
function metricNames(expr: string): string[] {
  const stripped = expr
    .replace(/"(?:[^"\\]|\\.)*"|'(?:[^'\\]|\\.)*'|`[^`]*`/g, " ")
    .replace(/\{[^}]*\}/g, " ")
    .replace(/\[[^\]]*\]/g, " ")
    .replace(/\b(?:by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)/g, " ");
  const names = new Set<string>();
  for (const match of stripped.matchAll(/[A-Za-z_:][A-Za-z0-9_:]*/g)) {
    const word = match[0];
    const before = stripped[match.index - 1] ?? " ";
    if (/[0-9.$]/.test(before)) continue;
    if (
      stripped
        .slice(match.index + word.length)
        .trimStart()
        .startsWith("(")
    )
      continue;
    if (PROMQL_WORDS.has(word.toLowerCase())) continue;
    names.add(word);
  }
  return [...names].sort();
}

/** The metric of a Grafana label_values(metric, label) or label_values(metric{...}, label) query. */
function labelValuesMetric(definition: string): string {
  const metric = /^label_values\(\s*([A-Za-z_:][A-Za-z0-9_:]*)/.exec(definition)?.[1];
  if (metric === undefined) throw new Error(`not a label_values query on a metric: ${definition}`);
  return metric;
}

/** Every series name a registry exports: histograms as their _bucket, _sum and _count series. */
async function exportedNames(...registries: Registry[]) {
  const names = new Set<string>();
  for (const registry of registries) {
    for (const metric of await registry.getMetricsAsJSON()) {
      const { name } = metric;
      const type = String(metric.type);
      if (type === "histogram") for (const suffix of ["_bucket", "_sum", "_count"]) names.add(name + suffix);
      else if (type === "summary") for (const suffix of ["", "_sum", "_count"]) names.add(name + suffix);
      else names.add(name);
    }
  }
  return names;
}

describe("metricNames", () => {
  it.each<[string, string, string[]]>([
    ["should find a bare selector", "signet_leader", ["signet_leader"]],
    [
      "should skip functions, aggregations, grouping labels and ranges",
      'histogram_quantile(0.99, sum by (le, webhook) (rate(signet_admission_duration_seconds_bucket{result="x"}[5m])))',
      ["signet_admission_duration_seconds_bucket"],
    ],
    [
      "should skip label names and values in matchers, with Grafana variables",
      'sum(rate(signet_svids_issued_total{namespace=~"$namespace", by="on"}[$__rate_interval]))',
      ["signet_svids_issued_total"],
    ],
    [
      "should find both sides of a binary operation, with grouping after the aggregation and a bool modifier",
      "sum(rate(a_total[5m])) by (webhook) / on (webhook) group_left sum(b) > bool 0.5",
      ["a_total", "b"],
    ],
    ["should skip keywords, offsets and exponents", "c offset 5m and d unless e > 1e3", ["c", "d", "e"]],
  ])("%s", (_name, expr, expected) => {
    expect(metricNames(expr)).toEqual(expected);
  });
});

describe("the chart's dashboard and alerts", () => {
  it("render nothing of either with default values", () => {
    const objects = render();
    expect(dashboardMapOf(objects)).toEqual([]);
    expect(objects.filter((o) => o.kind === "PrometheusRule")).toEqual([]);
    expect(objects.filter((o) => o.kind === "ConfigMap")).toEqual([]);
  });

  it.each([
    ["the dashboard alone", ["--set", "grafana.dashboard.enabled=true"], 1, 0],
    ["the rules alone", ["--set", "prometheusRule.enabled=true"], 0, 1],
    ["both", BOTH_ON, 1, 1],
  ])("render only what is enabled: %s", (_name, args, dashboards, rules) => {
    const objects = render(args);
    expect(dashboardMapOf(objects)).toHaveLength(dashboards);
    expect(objects.filter((o) => o.kind === "PrometheusRule")).toHaveLength(rules);
  });

  it("put the dashboard file as it is into a ConfigMap with the sidecar's discovery label, in the release namespace", () => {
    const map = only(dashboardMapOf(render(BOTH_ON)), "dashboard ConfigMap");
    expect(map.metadata.name).toBe("signet-dashboard");
    expect(map.metadata.namespace).toBe("signet-system");
    expect(map.metadata.labels).toMatchObject({ grafana_dashboard: "1", "app.kubernetes.io/name": "signet" });
    expect(map.metadata.annotations).toBeUndefined();
    expect(map.data?.["signet.json"]).toBe(readFileSync(DASHBOARD_FILE, "utf8").trimEnd());
    expect((JSON.parse(map.data?.["signet.json"] ?? "") as Dashboard).uid).toBe("signet-overview");
  });

  it("take the dashboard's namespace, discovery label and value, labels and annotations from the values", () => {
    const map = only(
      dashboardMapOf(
        render([
          "--set",
          "grafana.dashboard.enabled=true",
          "--set",
          "grafana.dashboard.namespace=monitoring",
          "--set",
          "grafana.dashboard.label=example.org/dashboard",
          "--set-string",
          "grafana.dashboard.labelValue=signet",
          "--set",
          "grafana.dashboard.labels.team=platform",
          "--set",
          "grafana.dashboard.annotations.grafana_folder=Signet",
        ]),
      ),
      "dashboard ConfigMap",
    );
    expect(map.metadata.namespace).toBe("monitoring");
    expect(map.metadata.labels).toMatchObject({ "example.org/dashboard": "signet", team: "platform" });
    expect(map.metadata.labels).not.toHaveProperty("grafana_dashboard");
    expect(map.metadata.annotations).toEqual({ grafana_folder: "Signet" });
  });

  it("label the PrometheusRule and every alert as the values say, a rule's own severity first", () => {
    const rule = only(
      render([
        "--set",
        "prometheusRule.enabled=true",
        "--set",
        "prometheusRule.labels.release=prometheus",
        "--set",
        "prometheusRule.additionalRuleLabels.team=platform",
        "--set",
        "prometheusRule.additionalRuleLabels.severity=page",
      ]).filter((o) => o.kind === "PrometheusRule"),
      "PrometheusRule",
    );
    expect(rule.metadata).toMatchObject({ name: "signet", namespace: "signet-system" });
    expect(rule.metadata.labels).toMatchObject({ release: "prometheus", "app.kubernetes.io/name": "signet" });
    const rules = rule.spec?.groups.flatMap((g) => g.rules) ?? [];
    expect(rules.length).toBeGreaterThan(0);
    // Its scrape job is known only with the chart's ServiceMonitor.
    expect(rules.map((r) => r.alert)).not.toContain("SignetDown");
    for (const r of rules) {
      expect(r.labels.team, r.alert).toBe("platform");
      expect(["critical", "warning"], r.alert).toContain(r.labels.severity);
    }
  });

  it("give every alert a severity, a summary, a description and a runbook hint", () => {
    const rule = only(
      render(ALL_ON).filter((o) => o.kind === "PrometheusRule"),
      "PrometheusRule",
    );
    const rules = rule.spec?.groups.flatMap((g) => g.rules) ?? [];
    expect(rules.map((r) => r.alert).sort()).toEqual(
      expect.arrayContaining([
        "SignetIdentityNotReady",
        "SignetNoLeader",
        "SignetProofReplayed",
        "SignetSvidExpiring",
        "SignetTamperDetected",
        "SignetWebhookErrors",
        "SignetWebhookSlow",
        "SignetDown",
      ]),
    );
    for (const r of rules) {
      expect(["critical", "warning"], r.alert).toContain(r.labels.severity);
      expect(Object.keys(r.annotations).sort(), r.alert).toEqual(["description", "runbook", "summary"]);
      expect(r.annotations.runbook, r.alert).toMatch(/kubectl|signet |docs\//);
    }
  });

  it("query only metrics that the operator and signet proxy export", async () => {
    const exported = await exportedNames(
      new SignetMetrics({ defaultMetrics: true }).registry,
      new ProxyMetrics({ defaultMetrics: true }).registry,
    );
    const objects = render(ALL_ON);
    const dashboard = JSON.parse(
      only(dashboardMapOf(objects), "dashboard ConfigMap").data?.["signet.json"] ?? "",
    ) as Dashboard;
    const rules = only(
      objects.filter((o) => o.kind === "PrometheusRule"),
      "PrometheusRule",
    ).spec?.groups.flatMap((g) => g.rules);

    const queries = [
      ...dashboard.panels.flatMap((p) =>
        (p.targets ?? []).map((t) => ({ where: `panel "${p.title}"`, expr: t.expr })),
      ),
      ...(rules ?? []).map((r) => ({ where: `alert ${r.alert}`, expr: r.expr })),
    ];
    expect(queries.length).toBeGreaterThan(30);
    const used = new Map<string, string>();
    for (const { where, expr } of queries) {
      const names = metricNames(expr);
      expect(names, `${where} selects no metric: ${expr}`).not.toEqual([]);
      for (const name of names) used.set(name, where);
    }
    for (const variable of dashboard.templating.list.filter((v) => v.definition !== undefined)) {
      used.set(labelValuesMetric(variable.definition ?? ""), `variable $${variable.name}`);
    }
    const unknown = [...used]
      .filter(([name]) => !exported.has(name) && !SCRAPE_SERIES.has(name))
      .map(([name, where]) => `${name} (${where})`);
    expect(unknown).toEqual([]);
  });

  it("show what a platform engineer looks for on the dashboard", () => {
    const dashboard = JSON.parse(readFileSync(DASHBOARD_FILE, "utf8")) as Dashboard;
    const shown = new Set(
      dashboard.panels.flatMap((p) => (p.targets ?? []).flatMap((t) => metricNames(t.expr))),
    );
    const wanted = [
      "signet_svids_issued_total",
      "signet_svids_rotated_total",
      "signet_svids_failed_total",
      "signet_svid_soonest_expiry_seconds",
      "signet_machineidentities",
      "signet_reconcile_errors_total",
      "signet_reconcile_duration_seconds_bucket",
      "signet_workqueue_depth",
      "signet_admission_requests_total",
      "signet_admission_duration_seconds_bucket",
      "signet_leader",
      "signet_tamper_detected_total",
      "signet_pod_certificate_requests_total",
      "signet_jwt_svids_issued_total",
      "signet_jwt_svids_refused_total",
      "signet_proofs_total",
    ];
    expect(wanted.filter((name) => !shown.has(name))).toEqual([]);
  });

  it.each([
    [
      "an alert label name Prometheus does not accept",
      ["--set", "prometheusRule.additionalRuleLabels.on-call=yes"],
      "at '/prometheusRule/additionalRuleLabels': additional properties 'on-call' not allowed",
    ],
    [
      "a dashboard namespace that is not a DNS label",
      ["--set", "grafana.dashboard.namespace=Monitoring"],
      "/grafana/dashboard/namespace",
    ],
    ["a misspelt dashboard value", ["--set", "grafana.dashboard.enable=true"], "'enable' not allowed"],
  ])("refuse %s with a message naming the value", (_name, args, message) => {
    let failure = "";
    try {
      helmTemplate(helm, args);
    } catch (err) {
      failure = String((err as { stderr?: unknown }).stderr ?? err);
    }
    expect(failure).toContain("values don't meet the specifications of the schema");
    expect(failure).toContain(message);
  });
});
