// The chart's alerting rules through promtool, built from the Prometheus module (testing/promtool.ts):
// `promtool check rules` on the spec of the PrometheusRule the chart renders, written as a rules file,
// and `promtool test rules` with series that make the alerts fire, or stay quiet, as they should.
import { execFile } from "node:child_process";
import { copyFileSync, mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { promisify } from "node:util";
import { beforeAll, describe, expect, it } from "vitest";
import { parseAllDocuments, stringify } from "yaml";
import { helmBinary, helmTemplate } from "../../../scripts/render-manifests.ts";
import { promtoolBinary } from "../../../testing/promtool.ts";

const run = promisify(execFile);
const UNIT_TESTS = fileURLToPath(new URL("./testing/alert-rules.test.yaml", import.meta.url));

interface RuleGroups {
  groups: { name: string; rules: { alert: string; expr: string; for?: string }[] }[];
}

/** promtool's exit code and output; a failing check is an answer here, not an exception. */
async function promtool(args: string[], cwd: string): Promise<{ code: number; output: string }> {
  try {
    const { stdout, stderr } = await run(promtoolBinary(), args, { cwd, encoding: "utf8" });
    return { code: 0, output: stdout + stderr };
  } catch (err) {
    const e = err as { code?: number; stdout?: string; stderr?: string };
    return { code: typeof e.code === "number" ? e.code : 1, output: `${e.stdout ?? ""}${e.stderr ?? ""}` };
  }
}

/**
 * The spec of the chart's PrometheusRule, with the additional rule label the unit tests expect, and
 * with the chart's ServiceMonitor, whose scrape job SignetDown watches.
 */
function renderedRules(): RuleGroups {
  const objects = parseAllDocuments(
    helmTemplate(helmBinary(), [
      "--set",
      "prometheusRule.enabled=true",
      "--set",
      "prometheusRule.additionalRuleLabels.team=platform",
      "--set",
      "serviceMonitor.enabled=true",
    ]),
  ).map((d) => d.toJS() as { kind?: string; spec?: RuleGroups } | null);
  const rules = objects.filter((o) => o?.kind === "PrometheusRule");
  if (rules.length !== 1 || rules[0]?.spec === undefined) {
    throw new Error(`expected one PrometheusRule with a spec, rendered ${rules.length}`);
  }
  return rules[0].spec;
}

describe("the chart's alerting rules, through promtool", () => {
  let dir: string;
  let spec: RuleGroups;
  beforeAll(() => {
    const started = performance.now();
    promtoolBinary();
    console.log(`promtool ready in ${Math.round(performance.now() - started)} ms`);
    spec = renderedRules();
    dir = mkdtempSync(join(tmpdir(), "signet-rules-"));
    writeFileSync(join(dir, "rules.yaml"), stringify(spec));
    copyFileSync(UNIT_TESTS, join(dir, "alert-rules.test.yaml"));
  });

  it("pass promtool check rules", async () => {
    const count = spec.groups.flatMap((g) => g.rules).length;
    const result = await promtool(["check", "rules", "rules.yaml"], dir);
    expect(result.output).toContain(`SUCCESS: ${count} rules found`);
    expect(result.code).toBe(0);
  });

  it("are refused by promtool check rules once an expression does not parse", async () => {
    const broken: RuleGroups = structuredClone(spec);
    const first = broken.groups[0]?.rules[0];
    if (!first) throw new Error("the chart rendered no rule");
    first.expr = `${first.expr} >`;
    writeFileSync(join(dir, "broken.yaml"), stringify(broken));
    const result = await promtool(["check", "rules", "broken.yaml"], dir);
    expect(result.code).not.toBe(0);
    expect(result.output).toContain(first.alert);
  });

  it("fire, and stay quiet, as promtool test rules expects: no leader, replayed proofs, expiry, readiness, down", async () => {
    const started = performance.now();
    const result = await promtool(["test", "rules", "alert-rules.test.yaml"], dir);
    console.log(`promtool test rules took ${Math.round(performance.now() - started)} ms`);
    expect(result.code, result.output).toBe(0);
    expect(result.output).toContain("SUCCESS");
  });

  it.each<[string, (rule: RuleGroups["groups"][number]["rules"][number]) => void, string]>([
    ["the no-leader alert without its for duration", (r) => delete r.for, "SignetNoLeader"],
    [
      "the replay alert on another reason",
      (r) => {
        r.expr = r.expr.replace("ProofReplayed", "Replayed");
      },
      "SignetProofReplayed",
    ],
  ])("make promtool test rules fail with %s", async (_name, change, alert) => {
    const changed: RuleGroups = structuredClone(spec);
    const rule = changed.groups.flatMap((g) => g.rules).find((r) => r.alert === alert);
    if (!rule) throw new Error(`the chart rendered no ${alert}`);
    change(rule);
    const cases = mkdtempSync(join(dir, `${alert}-`));
    writeFileSync(join(cases, "rules.yaml"), stringify(changed));
    copyFileSync(UNIT_TESTS, join(cases, "alert-rules.test.yaml"));
    const result = await promtool(["test", "rules", "alert-rules.test.yaml"], cases);
    expect(result.code).not.toBe(0);
    expect(result.output).toContain(`alertname: ${alert}`);
  });
});
