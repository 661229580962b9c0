import { clockText } from "../access/changes.ts";
import { alignColumns } from "../audit/render.ts";
import { formatSpan } from "../audit/time.ts";
import type { IdentityRow, PolicyRow, ScheduleRow, StatusScreen } from "./screen.ts";

export const STATUS_FORMATS = ["table", "json"] as const;
export type StatusFormat = (typeof STATUS_FORMATS)[number];

const ms = (text: string) => Date.parse(text);

/** "in 42m" ahead of now, "42m ago" behind it. */
function relative(text: string, now: number): string {
  const delta = ms(text) - now;
  return delta > 0 ? `in ${formatSpan(delta)}` : `${formatSpan(delta)} ago`;
}

/** "in 3h (13:00:00Z)": how far, and when (the time of day when it is today in UTC). */
function when(text: string, now: number): string {
  return `${relative(text, now)} (${clockText(ms(text), now)})`;
}

function readyText(row: IdentityRow): string {
  return row.suspended ? "Suspended" : row.ready ? "True" : `False(${row.readyReason})`;
}

function expiresText(row: IdentityRow, now: number): string {
  if (row.notAfter === null) return "-";
  return ms(row.notAfter) > now ? relative(row.notAfter, now) : `expired ${relative(row.notAfter, now)}`;
}

function rotationText(row: IdentityRow, now: number): string {
  if (row.renewalTime === null || row.suspended || !row.ready) return "-";
  return ms(row.renewalTime) > now ? relative(row.renewalTime, now) : `due ${relative(row.renewalTime, now)}`;
}

function deliveryText(row: IdentityRow): string {
  const pc = row.podCertificates;
  return pc === null ? row.delivery : `${row.delivery}(issued ${pc.issued ?? 0}, denied ${pc.denied ?? 0})`;
}

/** A source as the policy's namespace reads it: its name alone when it is in that namespace. */
function sourcesText(row: PolicyRow): string {
  return row.from
    .map((s) => (s.startsWith(`${row.namespace}/`) ? s.slice(row.namespace.length + 1) : s))
    .join(",");
}

function transitionText(active: boolean, next: string | null, now: number): string {
  return next === null ? "-" : `${active ? "closes" : "opens"} ${when(next, now)}`;
}

function scheduleNowText(row: ScheduleRow, now: number): string {
  if (row.reason === "Suspended") return "suspended";
  if (!row.active) return row.reason === "NoWindows" ? "closed, nothing scheduled" : `closed(${row.reason})`;
  const grants = row.openGrants.map((reason) =>
    reason === "" ? "grant" : `grant ${JSON.stringify(reason)}`,
  );
  const what = [...(row.reason === "InsideWindow" ? ["window"] : []), ...grants].join(" and ");
  return `open: ${what}${row.openUntil === null ? ", with no end" : ` until ${clockText(ms(row.openUntil), now)}`}`;
}

function scheduleNextText(row: ScheduleRow, now: number): string {
  const next = transitionText(row.active, row.nextTransition, now);
  const ahead =
    row.upcomingGrants === 0
      ? ""
      : ` (${row.upcomingGrants} grant${row.upcomingGrants === 1 ? "" : "s"} ahead)`;
  return `${next}${ahead}`;
}

function section(
  title: string,
  rows: string[][],
  header: string[],
  allNamespaces: boolean,
  none: string,
): string {
  if (rows.length === 0) return `${title}\n${none}`;
  const table = allNamespaces ? [header, ...rows] : [header.slice(1), ...rows.map((r) => r.slice(1))];
  return `${title}\n${alignColumns(table)}`;
}

function renderTable(screen: StatusScreen): string {
  const now = ms(screen.generatedAt);
  const all = screen.scope === "all namespaces";
  const counts = [
    `${screen.identities.length} identities (${screen.identities.filter((i) => i.ready).length} Ready)`,
    `${screen.policies.length} policies (${screen.policies.filter((p) => p.active).length} active)`,
    `${screen.schedules.length} schedules (${screen.schedules.filter((s) => s.active).length} open)`,
  ].join(", ");
  const problems =
    screen.problems.length === 0
      ? "PROBLEMS\nNone."
      : `PROBLEMS (${screen.problems.length})\n${alignColumns(screen.problems.map((p) => [p.object, p.problem]))}`;
  const identities = section(
    "IDENTITIES",
    screen.identities.map((i) => [
      i.namespace,
      i.name,
      readyText(i),
      expiresText(i, now),
      rotationText(i, now),
      String(i.consumers),
      deliveryText(i),
    ]),
    ["NAMESPACE", "NAME", "READY", "EXPIRES", "NEXT ROTATION", "CONSUMERS", "DELIVERY"],
    all,
    "No MachineIdentities.",
  );
  const policies = section(
    "POLICIES",
    screen.policies.map((p) => [
      p.namespace,
      p.name,
      p.target.slice(p.namespace.length + 1),
      sourcesText(p),
      p.active ? "true" : `false(${p.reason})`,
      transitionText(p.active, p.nextTransition, now),
    ]),
    ["NAMESPACE", "NAME", "TARGET", "FROM", "ACTIVE", "NEXT"],
    all,
    "No AccessPolicies.",
  );
  const schedules = section(
    "SCHEDULES",
    screen.schedules.map((s) => [s.namespace, s.name, scheduleNowText(s, now), scheduleNextText(s, now)]),
    ["NAMESPACE", "NAME", "NOW", "NEXT"],
    all,
    "No AccessSchedules.",
  );
  return `Signet status of ${screen.scope} at ${screen.generatedAt.replace(/\.\d{3}Z$/, "Z")}: ${counts}\n\n${[problems, identities, policies, schedules].join("\n\n")}\n`;
}

/** The screen as text for a terminal, or as JSON carrying it exactly. */
export function renderStatusScreen(screen: StatusScreen, format: StatusFormat): string {
  return format === "json" ? `${JSON.stringify(screen, null, 2)}\n` : renderTable(screen);
}
