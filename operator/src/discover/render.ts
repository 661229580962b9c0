import { alignColumns } from "../audit/render.ts";
import type { DiscoverReport } from "./classify.ts";

export const DISCOVER_FORMATS = ["table", "json"] as const;
export type DiscoverFormat = (typeof DISCOVER_FORMATS)[number];

function renderTable(report: DiscoverReport): string {
  const { summary, scanned } = report;
  const totals = `${summary.high} high, ${summary.medium} medium, ${summary.low} low in ${scanned.secrets} Secrets and ${scanned.pods} pods (${scanned.excluded} of Signet's own Secrets skipped).`;
  if (report.findings.length === 0) return `No static credentials found: ${totals}\n`;
  const table = alignColumns([
    ["RISK", "SECRET", "TYPE", "PODS", "REASON"],
    ...report.findings.map((f) => [
      f.risk.toUpperCase(),
      `${f.namespace}/${f.secret}`,
      f.type,
      f.consumers.length === 0 ? "-" : f.consumers.map((c) => c.pod).join(","),
      f.reason,
    ]),
  ]);
  const suggestions = report.findings.map((f) => `  ${f.namespace}/${f.secret}: ${f.suggestion.hint}`);
  return [table, "", "What to do:", ...suggestions, "", totals, ""].join("\n");
}

export function renderDiscoverReport(report: DiscoverReport, format: DiscoverFormat): string {
  return format === "json" ? `${JSON.stringify(report, null, 2)}\n` : renderTable(report);
}
