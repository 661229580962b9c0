import { parseArgs } from "node:util";
import * as k8s from "@kubernetes/client-node";
import { describeApiError, oneOf, scopeOf, UsageError } from "../audit/cli-scope.ts";
import { gatherAudit, isForbidden, type Scope } from "../audit/gather.ts";
import { AUDIT_FORMATS, renderAuditReport } from "../audit/render.ts";
import { buildAuditReport } from "../audit/report.ts";
import type { GatheredDiscover } from "../discover/gather.ts";

export const AUDIT_USAGE = `usage: signet audit [--namespace NS | --all-namespaces] [--output table|json|yaml|mermaid|dot|html]
       signet audit proofs [--from FILE|-] [--format table|json]   (signet audit proofs --help)

Lists every MachineIdentity with its SPIFFE ID, readiness, consumer pods, expiry and rotations, and
the AccessPolicies that let it in and out, active or not, as a table, JSON, YAML or a graph.
With html, one self-contained page (no network needed to open it) draws the access graph and adds
what signet discover finds in the same scope: signet audit -A --format html > audit.html

flags:
  -n, --namespace NS       one namespace (default: the kubeconfig context's namespace, else "default")
  -A, --all-namespaces     every namespace
  -o, --output FORMAT      table (default), json, yaml, mermaid, dot or html (--format is the same flag)
      --trust-domain TD    for identities not yet issued (env SIGNET_TRUST_DOMAIN, default "cluster.local")
      --signet-namespace NS  with html: the operator's namespace, whose CA and webhook Secrets discover
                           skips (default signet-system)
`;

const FORMATS = [...AUDIT_FORMATS, "html"] as const;

/** --output and --format name one setting: either may be given, both only when they agree. */
function formatFlag(values: { output?: string | undefined; format?: string | undefined }): string {
  if (values.output !== undefined && values.format !== undefined && values.output !== values.format) {
    throw new UsageError(
      `--output ${JSON.stringify(values.output)} and --format ${JSON.stringify(values.format)} disagree; give one`,
    );
  }
  return values.format ?? values.output ?? "table";
}

/** `signet audit`: returns the process exit code (0 done, 2 usage or API error). */
export async function runAudit(args: string[], kc?: k8s.KubeConfig): Promise<number> {
  // A subcommand that needs no cluster: the proxy's audit lines.
  if (args[0] === "proofs") return (await import("./audit-proofs.ts")).runAuditProofs(args.slice(1));
  try {
    const { values } = parseArgs({
      args,
      options: {
        namespace: { type: "string", short: "n" },
        "all-namespaces": { type: "boolean", short: "A" },
        output: { type: "string", short: "o" },
        format: { type: "string" },
        "trust-domain": { type: "string" },
        "signet-namespace": { type: "string", default: "signet-system" },
        help: { type: "boolean", short: "h" },
      },
      strict: true,
      allowPositionals: false,
    });
    if (values.help) {
      process.stdout.write(AUDIT_USAGE);
      return 0;
    }
    const format = oneOf(values.format === undefined ? "output" : "format", formatFlag(values), FORMATS);
    const config = kc ?? loadKubeConfig();
    const scope = scopeOf({ namespace: values.namespace, allNamespaces: values["all-namespaces"] }, config);
    const [{ input, warnings }, discovered] = await Promise.all([
      gatherAudit(config, scope),
      format === "html" ? gatherCredentials(config, scope) : undefined,
    ]);
    warnings.push(...(discovered?.warnings ?? []));
    for (const warning of warnings) process.stderr.write(`signet audit: warning: ${warning}\n`);
    const now = new Date();
    const report = buildAuditReport({
      ...input,
      now,
      trustDomain: values["trust-domain"] ?? process.env.SIGNET_TRUST_DOMAIN ?? "cluster.local",
      ...("namespace" in scope ? { namespace: scope.namespace } : {}),
    });
    if (format !== "html") {
      process.stdout.write(renderAuditReport(report, format));
      return 0;
    }
    const [{ renderAuditHtml }, { buildDiscoverReport }] = await Promise.all([
      import("../audit/html.ts"),
      import("../discover/classify.ts"),
    ]);
    const found = discovered?.found;
    const discover =
      found === undefined
        ? { unavailable: discovered?.unavailable ?? "not scanned" }
        : buildDiscoverReport({ now, ...found, signetNamespace: values["signet-namespace"] });
    process.stdout.write(renderAuditHtml({ audit: report, scope, discover, warnings }));
    return 0;
  } catch (err) {
    if (err instanceof UsageError || (err as { code?: string }).code?.startsWith?.("ERR_PARSE_ARGS")) {
      process.stderr.write(`signet audit: ${(err as Error).message}\n\n${AUDIT_USAGE}`);
      return 2;
    }
    process.stderr.write(`signet audit: ${describeApiError(err)}\n`);
    return 2;
  }
}

/**
 * What signet discover reads, for the page's section on static credentials. Without the right to
 * list Secrets the page still comes out, saying why that section is empty.
 */
async function gatherCredentials(
  kc: k8s.KubeConfig,
  scope: Scope,
): Promise<{ found?: GatheredDiscover; unavailable?: string; warnings: string[] }> {
  const { gatherDiscover } = await import("../discover/gather.ts");
  try {
    const found = await gatherDiscover(kc, scope);
    return { found, warnings: found.warnings };
  } catch (err) {
    if (!isForbidden(err)) throw err;
    const where = "namespace" in scope ? `in namespace ${scope.namespace}` : "in all namespaces";
    const unavailable = `cannot list secrets or pods ${where} (${describeApiError(err)}), so static credentials were not looked for`;
    return { unavailable, warnings: [unavailable] };
  }
}

export function loadKubeConfig(): k8s.KubeConfig {
  const kc = new k8s.KubeConfig();
  kc.loadFromDefault();
  return kc;
}
