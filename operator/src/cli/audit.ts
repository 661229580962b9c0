import { parseArgs } from "node:util";
import * as k8s from "@kubernetes/client-node";
import { describeApiError, oneOf, scopeOf, UsageError } from "../audit/cli-scope.ts";
import { gatherAudit } from "../audit/gather.ts";
import { AUDIT_FORMATS, renderAuditReport } from "../audit/render.ts";
import { buildAuditReport } from "../audit/report.ts";

export const AUDIT_USAGE = `usage: signet audit [--namespace NS | --all-namespaces] [--output table|json|yaml|mermaid|dot]
       signet audit proofs [--from FILE|-] [--format table|json]   (signet audit proofs --help)

Lists every MachineIdentity with its SPIFFE ID, readiness, consumer pods, expiry and rotations, and
the AccessPolicies that let it in and out, active or not, as a table, JSON, YAML or a graph.

flags:
  -n, --namespace NS       one namespace (default: the kubeconfig context's namespace, else "default")
  -A, --all-namespaces     every namespace
  -o, --output FORMAT      table (default), json, yaml, mermaid or dot
      --trust-domain TD    for identities not yet issued (env SIGNET_TRUST_DOMAIN, default "cluster.local")
`;

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
        output: { type: "string", short: "o", default: "table" },
        "trust-domain": { type: "string" },
        help: { type: "boolean", short: "h" },
      },
      strict: true,
      allowPositionals: false,
    });
    if (values.help) {
      process.stdout.write(AUDIT_USAGE);
      return 0;
    }
    const format = oneOf("output", values.output, AUDIT_FORMATS);
    const config = kc ?? loadKubeConfig();
    const scope = scopeOf({ namespace: values.namespace, allNamespaces: values["all-namespaces"] }, config);
    const { input, warnings } = await gatherAudit(config, scope);
    for (const warning of warnings) process.stderr.write(`signet audit: warning: ${warning}\n`);
    const report = buildAuditReport({
      ...input,
      now: new Date(),
      trustDomain: values["trust-domain"] ?? process.env.SIGNET_TRUST_DOMAIN ?? "cluster.local",
      ...("namespace" in scope ? { namespace: scope.namespace } : {}),
    });
    process.stdout.write(renderAuditReport(report, format));
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

export function loadKubeConfig(): k8s.KubeConfig {
  const kc = new k8s.KubeConfig();
  kc.loadFromDefault();
  return kc;
}
