import { parseArgs } from "node:util";
import type * as k8s from "@kubernetes/client-node";
import { describeApiError, oneOf, scopeOf, UsageError } from "../audit/cli-scope.ts";
import { buildDiscoverReport, failsAt, RISKS } from "../discover/classify.ts";
import { gatherDiscover } from "../discover/gather.ts";
import { DISCOVER_FORMATS, renderDiscoverReport } from "../discover/render.ts";
import { loadKubeConfig } from "./audit.ts";

export const DISCOVER_USAGE = `usage: signet discover [--namespace NS | --all-namespaces] [--output table|json] [--fail-on low|medium|high] [--signet-namespace NS]

Finds the static credentials Signet replaces: long-lived or expired certificates with their keys,
bare private keys, legacy ServiceAccount token Secrets, JWTs without a near expiry and static
registry passwords, with the pods that use them, ranked by risk. Prints metadata only, never a
value. Signet's own Secrets are skipped: the Secret a MachineIdentity names and controls, and
Signet's CA and webhook Secrets in its namespace; a managed-by=signet label elsewhere is reported.

flags:
  -n, --namespace NS       one namespace (default: the kubeconfig context's namespace, else "default")
  -A, --all-namespaces     every namespace
  -o, --output FORMAT      table (default) or json
      --fail-on RISK       exit 1 when a finding of RISK or worse exists: low, medium or high
      --signet-namespace NS  the operator's namespace (default signet-system)

exit status: 0 no finding at the --fail-on level, 1 findings at that level, 2 usage or API error.
`;

/** `signet discover`: returns the process exit code. */
export async function runDiscover(args: string[], kc?: k8s.KubeConfig): Promise<number> {
  try {
    const { values } = parseArgs({
      args,
      options: {
        namespace: { type: "string", short: "n" },
        "all-namespaces": { type: "boolean", short: "A" },
        output: { type: "string", short: "o", default: "table" },
        "fail-on": { type: "string" },
        "signet-namespace": { type: "string", default: "signet-system" },
        help: { type: "boolean", short: "h" },
      },
      strict: true,
      allowPositionals: false,
    });
    if (values.help) {
      process.stdout.write(DISCOVER_USAGE);
      return 0;
    }
    const format = oneOf("output", values.output, DISCOVER_FORMATS);
    const failOn = values["fail-on"] === undefined ? undefined : oneOf("fail-on", values["fail-on"], RISKS);
    const config = kc ?? loadKubeConfig();
    const scope = scopeOf({ namespace: values.namespace, allNamespaces: values["all-namespaces"] }, config);
    const { secrets, pods, identities, warnings } = await gatherDiscover(config, scope);
    for (const warning of warnings) process.stderr.write(`signet discover: warning: ${warning}\n`);
    const report = buildDiscoverReport({
      now: new Date(),
      secrets,
      pods,
      identities,
      signetNamespace: values["signet-namespace"],
    });
    process.stdout.write(renderDiscoverReport(report, format));
    if (failOn !== undefined && failsAt(report, failOn)) {
      process.stderr.write(`signet discover: findings at or above ${failOn} risk\n`);
      return 1;
    }
    return 0;
  } catch (err) {
    if (err instanceof UsageError || (err as { code?: string }).code?.startsWith?.("ERR_PARSE_ARGS")) {
      process.stderr.write(`signet discover: ${(err as Error).message}\n\n${DISCOVER_USAGE}`);
      return 2;
    }
    process.stderr.write(`signet discover: ${describeApiError(err)}\n`);
    return 2;
  }
}
