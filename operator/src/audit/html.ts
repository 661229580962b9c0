import type { CredentialFinding, DiscoverReport, Finding } from "../discover/classify.ts";
import type { Scope } from "./gather.ts";
import { edgeState, layoutAccessGraph, renderAccessGraphSvg } from "./graph.ts";
import { element, escapeMarkup } from "./markup.ts";
import { deliveryText, readyText } from "./render.ts";
import type { AuditReport, IdentityReport, PolicyLink } from "./report.ts";

// `signet audit --format html`: one self-contained page (inline CSS and SVG, no script, no fetch of
// anything) with the access graph, the identities, the access edges and what `signet discover`
// found. Its Content-Security-Policy forbids loading anything, so the page works offline and an
// escaping slip could not run code either.

export interface AuditPage {
  audit: AuditReport;
  /** What the page covers, for its heading. */
  scope: Scope;
  /** The static credentials `signet discover` finds in the same scope, or why it could not look. */
  discover: DiscoverReport | { unavailable: string };
  /** What could not be read, as the CLI also prints to stderr. */
  warnings: readonly string[];
}

const CSP = "default-src 'none'; style-src 'unsafe-inline'; img-src data:";

const STYLE = `
:root{color-scheme:light;--fg:#1f2328;--muted:#59636e;--line:#d1d9e0;--bg:#fff;--panel:#f6f8fa;
--green:#1a7f37;--red:#cf222e;--amber:#9a6700}
*{box-sizing:border-box}
body{margin:0;font:14px/1.45 system-ui,-apple-system,"Segoe UI",Roboto,"Noto Sans","DejaVu Sans",sans-serif;color:var(--fg);background:var(--bg)}
header{padding:20px 28px 14px;border-bottom:1px solid var(--line);background:var(--panel)}
h1{margin:0 0 4px;font-size:22px}h2{font-size:17px;margin:0 0 10px}
main{padding:4px 28px 28px}section{margin-top:22px}
.meta{color:var(--muted);margin:0}
code,.mono,td.mono{font-family:ui-monospace,SFMono-Regular,Menlo,Consolas,"DejaVu Sans Mono",monospace;font-size:12.5px}
.cards{display:flex;flex-wrap:wrap;gap:12px;margin-top:18px}
.card{border:1px solid var(--line);border-radius:8px;padding:10px 14px;min-width:190px;background:var(--bg)}
.card .n{font-size:24px;font-weight:700}.card .what{color:var(--muted)}
.warnings{border:1px solid #d4a72c;background:#fff8c5;border-radius:8px;padding:8px 14px;margin-top:18px}
.warnings li{margin:2px 0}
.legend{display:flex;flex-wrap:wrap;gap:18px;color:var(--muted);margin:0 0 8px;padding:0;list-style:none}
.legend svg{vertical-align:middle;margin-right:6px}
.scroll{overflow-x:auto}
.canvas{overflow:auto;border:1px solid var(--line);border-radius:8px;background:#fff;padding:4px}
table{border-collapse:collapse;width:100%;margin-top:4px}
th,td{border-bottom:1px solid var(--line);padding:6px 8px;text-align:left;vertical-align:top}
th{background:var(--panel);font-weight:600;white-space:nowrap}
tr:hover td{background:#f6f8fa}
.pill{display:inline-block;border-radius:10px;padding:0 8px;font-size:12px;font-weight:600;white-space:nowrap}
.pill.active,.pill.ready{background:#dafbe1;color:#116329}
.pill.suspended,.pill.high{background:#ffebe9;color:#a40e26}
.pill.closed,.pill.not-ready,.pill.medium{background:#fff8c5;color:#7d4e00}
.pill.low,.pill.missing{background:#eaeef2;color:#424a53}
.links{margin:0;padding:0;list-style:none}
.links .active{color:var(--green)}.links .suspended{color:var(--red)}.links .closed{color:var(--amber)}
details{margin-top:4px}summary{cursor:pointer;color:var(--muted)}
pre{background:var(--panel);border:1px solid var(--line);border-radius:6px;padding:8px;overflow:auto;margin:6px 0 0}
.empty{color:var(--muted);font-style:italic}.nowrap{white-space:nowrap}
footer{color:var(--muted);padding:0 28px 24px}
`;

const text = escapeMarkup;

function scopeText(scope: Scope): string {
  return "namespace" in scope ? `namespace ${scope.namespace}` : "all namespaces";
}

function pill(kind: string, label: string): string {
  return element("span", { class: `pill ${kind}` }, text(label));
}

function summaryCards(page: AuditPage): string {
  const { identities, edges } = page.audit;
  const count = (state: string) => edges.filter((e) => edgeState(e) === state).length;
  const ready = identities.filter((i) => i.ready && !i.suspended).length;
  const suspended = identities.filter((i) => i.suspended).length;
  const card = (id: string, n: number, what: string, detail: string) =>
    element(
      "div",
      { class: "card", "data-summary": id },
      `<div class="n">${n}</div><div class="what">${text(what)}</div><div>${text(detail)}</div>`,
    );
  const discover =
    "unavailable" in page.discover
      ? card("credentials", 0, "static credentials", "not scanned")
      : card(
          "credentials",
          page.discover.findings.length,
          "static credentials to replace",
          `${page.discover.summary.high} high · ${page.discover.summary.medium} medium · ${page.discover.summary.low} low`,
        );
  return `<div class="cards">${[
    card("identities", identities.length, "MachineIdentities", `${ready} ready · ${suspended} suspended`),
    card(
      "edges",
      edges.length,
      "allowed paths (policy, source)",
      `${count("active")} open · ${count("suspended")} suspended · ${count("closed")} closed`,
    ),
    discover,
  ].join("")}</div>`;
}

function legendLine(state: string, dash: string, colour: string, label: string): string {
  const dashed = dash === "" ? "" : ` stroke-dasharray="${dash}"`;
  return `<li data-legend="${state}"><svg width="38" height="10" aria-hidden="true"><line x1="1" y1="5" x2="37" y2="5" stroke="${colour}" stroke-width="2"${dashed}/></svg>${text(label)}</li>`;
}

function graphSection(report: AuditReport, scope: Scope): string {
  const layout = layoutAccessGraph(report, "namespace" in scope ? { namespace: scope.namespace } : {});
  const body =
    layout.nodes.length === 0
      ? `<p class="empty">No MachineIdentities and no AccessPolicies.</p>`
      : `<ul class="legend">${[
          legendLine("active", "", "#1a7f37", "open now"),
          legendLine("suspended", "7 5", "#cf222e", "suspended (policy or identity)"),
          legendLine("closed", "2 4", "#9a6700", "closed (outside its schedule, or the schedule is missing)"),
        ].join(
          "",
        )}<li>dashed box: suspended identity · dotted box: named by a policy, no MachineIdentity · grey box: in a namespace this page does not cover</li></ul><div class="canvas">${renderAccessGraphSvg(layout)}</div>`;
  return `<section id="graph"><h2>Who may talk to whom</h2>${body}</section>`;
}

/** "namespace/name" that wraps, if it must, after the slash only, never at a hyphen inside a name. */
function breakable(id: string): string {
  const slash = id.indexOf("/");
  if (slash < 0) return `<span class="nowrap">${text(id)}</span>`;
  return `<span class="nowrap">${text(id.slice(0, slash + 1))}</span><wbr><span class="nowrap">${text(id.slice(slash + 1))}</span>`;
}

/** A SPIFFE ID that may wrap after any slash of its path, and nowhere else. */
function wrapAfterSlashes(id: string): string {
  return id
    .split("/")
    .map((part) => `<span class="nowrap">${text(part)}</span>`)
    .join("/<wbr>");
}

function linkList(list: readonly PolicyLink[]): string {
  if (list.length === 0) return "-";
  // One line per policy, as in the text table: a policy with several sources is named once.
  const byPolicy = new Map<string, PolicyLink>();
  for (const l of list) byPolicy.set(l.policy, l);
  const items = [...byPolicy.values()].map((l) => {
    const state = edgeState(l);
    return element(
      "li",
      { class: state, "data-link": l.policy, title: `${l.peer}: ${l.reason}` },
      `${breakable(l.policy)} (${state === "active" ? "active" : text(l.reason)})`,
    );
  });
  return `<ul class="links">${items.join("")}</ul>`;
}

function readyPill(i: IdentityReport): string {
  const word = readyText(i);
  return pill(i.suspended ? "suspended" : i.ready ? "ready" : "not-ready", word);
}

function identitiesSection(report: AuditReport): string {
  if (report.identities.length === 0) {
    return `<section id="identities"><h2>Identities</h2><p class="empty">No MachineIdentities.</p></section>`;
  }
  const head = [
    "Namespace",
    "Name",
    "SPIFFE ID",
    "Ready",
    "Delivery",
    "Consumers",
    "Expires",
    "Rotations",
    "In",
    "Out",
  ];
  const rows = report.identities.map((i) =>
    element(
      "tr",
      { "data-identity": `${i.namespace}/${i.name}` },
      [
        element("td", { "data-col": "namespace", class: "nowrap" }, text(i.namespace)),
        element("td", { "data-col": "name", class: "nowrap" }, text(i.name)),
        element("td", { "data-col": "spiffe-id", class: "mono" }, wrapAfterSlashes(i.spiffeID)),
        element("td", { "data-col": "ready" }, readyPill(i)),
        element("td", { "data-col": "delivery" }, text(deliveryText(i))),
        element(
          "td",
          { "data-col": "consumers" },
          i.consumers.length === 0
            ? "-"
            : i.consumers.map((c) => `<span class="nowrap">${text(c)}</span>`).join(", "),
        ),
        element(
          "td",
          { "data-col": "expires", class: "nowrap", title: i.notAfter ?? "" },
          text(i.expiry ?? "-"),
        ),
        element("td", { "data-col": "rotations" }, text(String(i.rotations))),
        element("td", { "data-col": "in" }, linkList(i.inbound)),
        element("td", { "data-col": "out" }, linkList(i.outbound)),
      ].join(""),
    ),
  );
  return `<section id="identities"><h2>Identities</h2><div class="scroll"><table><thead><tr>${head.map((h) => `<th>${h}</th>`).join("")}</tr></thead><tbody>${rows.join("")}</tbody></table></div></section>`;
}

function accessSection(report: AuditReport): string {
  if (report.edges.length === 0) {
    return `<section id="access"><h2>Access</h2><p class="empty">No AccessPolicies.</p></section>`;
  }
  const rows = report.edges.map((e) => {
    const state = edgeState(e);
    return element(
      "tr",
      { "data-access": `${e.from}->${e.to}`, "data-policy": e.policy, "data-state": state },
      [
        element("td", { class: "mono" }, text(e.from)),
        element("td", { class: "mono" }, text(e.to)),
        element("td", { class: "mono" }, text(e.policy)),
        element("td", {}, `${pill(state, state === "active" ? "open" : state)} ${text(e.reason)}`),
        element("td", {}, text(e.ports.length === 0 ? "all" : e.ports.join(", "))),
        element("td", {}, text(e.activeFrom === "status" ? "operator status" : "computed by the audit")),
      ].join(""),
    );
  });
  return `<section id="access"><h2>Access</h2><div class="scroll"><table><thead><tr><th>From</th><th>To</th><th>AccessPolicy</th><th>State</th><th>Ports</th><th>According to</th></tr></thead><tbody>${rows.join("")}</tbody></table></div></section>`;
}

function credentialLine(c: CredentialFinding): string {
  switch (c.kind) {
    case "Certificate":
      return `certificate in ${c.key}: subject ${c.subject}, issuer ${c.issuer}, ${c.keyAlgorithm}, valid ${c.notBefore} to ${c.notAfter}, SHA-256 ${c.fingerprintSHA256}`;
    case "PrivateKey":
      return `${c.encrypted ? "encrypted " : ""}private key in ${c.key}: ${c.algorithm}`;
    case "ServiceAccountToken":
      return `ServiceAccount token${c.key === null ? "" : ` in ${c.key}`} for ${c.serviceAccount ?? "(unnamed)"}`;
    case "JWT":
      return `JWT in ${c.key}: ${c.algorithm}, issuer ${c.issuer ?? "(none)"}, ${c.expiresAt === null ? "no expiry" : `expires ${c.expiresAt}`}`;
    case "RegistryCredential":
      return `registry password in ${c.key} for ${c.registries.join(", ")}`;
  }
}

function findingRow(f: Finding): string {
  const pods =
    f.consumers.length === 0
      ? "-"
      : f.consumers
          .map((c) => `${text(c.pod)} <span class="mono">(${text(c.via.join(", "))})</span>`)
          .join("<br>");
  const details = [
    `<ul>${f.credentials.map((c) => element("li", {}, `${pill(c.risk, c.risk)} ${text(credentialLine(c))}`)).join("")}</ul>`,
    f.suggestion.yaml === null ? "" : `<pre>${text(f.suggestion.yaml)}</pre>`,
  ].join("");
  return element(
    "tr",
    { "data-finding": `${f.namespace}/${f.secret}`, "data-risk": f.risk },
    [
      element("td", { "data-col": "risk" }, pill(f.risk, f.risk.toUpperCase())),
      element("td", { "data-col": "secret", class: "mono nowrap" }, text(`${f.namespace}/${f.secret}`)),
      element("td", { "data-col": "type", class: "mono" }, text(f.type)),
      element("td", { "data-col": "pods" }, pods),
      element(
        "td",
        { "data-col": "reason" },
        `${text(f.reason)}<div><strong>What to do:</strong> ${text(f.suggestion.hint)}</div><details><summary>Credentials${f.suggestion.yaml === null ? "" : " and the MachineIdentity to apply"}</summary>${details}</details>`,
      ),
    ].join(""),
  );
}

function discoverSection(discover: AuditPage["discover"]): string {
  const heading = "<h2>Static credentials that identities should replace</h2>";
  if ("unavailable" in discover) {
    return `<section id="discover">${heading}<p class="empty" data-discover="unavailable">Not scanned: ${text(discover.unavailable)}</p></section>`;
  }
  const { scanned, findings } = discover;
  const totals = `${findings.length} finding${findings.length === 1 ? "" : "s"} in ${scanned.secrets} Secrets and ${scanned.pods} pods (${scanned.excluded} of Signet's own Secrets skipped). Metadata only: no value is shown.`;
  if (findings.length === 0) {
    return `<section id="discover">${heading}<p class="meta">${text(totals)}</p><p class="empty">No static credentials found.</p></section>`;
  }
  return `<section id="discover">${heading}<p class="meta">${text(totals)}</p><div class="scroll"><table><thead><tr><th>Risk</th><th>Secret</th><th>Type</th><th>Pods</th><th>Why, and what to do</th></tr></thead><tbody>${findings.map(findingRow).join("")}</tbody></table></div></section>`;
}

/** The whole audit as one HTML document: a pure function of the reports, byte-equal for equal input. */
export function renderAuditHtml(page: AuditPage): string {
  const title = `Signet audit: ${scopeText(page.scope)}`;
  const warnings =
    page.warnings.length === 0
      ? ""
      : `<div class="warnings" data-warnings="${page.warnings.length}"><strong>Partial report:</strong><ul>${page.warnings.map((w) => `<li>${text(w)}</li>`).join("")}</ul></div>`;
  return `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta http-equiv="Content-Security-Policy" content="${CSP}">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="generator" content="signet audit --format html">
<title>${text(title)}</title>
<style>${STYLE}</style>
</head>
<body>
<header><h1>Signet audit</h1><p class="meta">${text(scopeText(page.scope))} · generated ${text(page.audit.generatedAt)}</p></header>
<main>
${summaryCards(page)}
${warnings}
${graphSection(page.audit, page.scope)}
${identitiesSection(page.audit)}
${accessSection(page.audit)}
${discoverSection(page.discover)}
</main>
<footer>Written by <code>signet audit --format html</code>. Expiry and access are as of the time above.</footer>
</body>
</html>
`;
}
