import { parseArgs } from "node:util";
import type * as k8s from "@kubernetes/client-node";
import { describeApiError, oneOf, scopeOf, UsageError } from "../audit/cli-scope.ts";
import { gatherAudit } from "../audit/gather.ts";
import { renderStatusScreen, STATUS_FORMATS } from "../status/render.ts";
import { buildStatusScreen, type StatusInput } from "../status/screen.ts";
import { KUBE_FLAG_OPTIONS, KUBE_FLAG_USAGE, kubeConfigFromFlags } from "./kube-flags.ts";

export const STATUS_USAGE = `usage: signet status [--namespace NS | --all-namespaces] [--output table|json]

One screen of Signet's state: first the problems (identities not Ready, failing to issue or overdue
for renewal, policies denied for a missing schedule or a suspended identity, invalid schedules,
and whatever is suspended), then every MachineIdentity (expiry, next rotation, consumers,
delivery), AccessPolicy (active or not, next transition) and AccessSchedule (the window or grant
open now, next transition). It reads what signet audit reads, and writes nothing.

flags:
  -n, --namespace NS       one namespace (default: the kubeconfig context's namespace, else "default")
  -A, --all-namespaces     every namespace
  -o, --output FORMAT      table (default) or json
${KUBE_FLAG_USAGE}

exit status: 0 shown (problems or not), 2 usage or API error.
`;

/** `signet status`: returns the process exit code. */
export async function runStatus(args: string[], kc?: k8s.KubeConfig): Promise<number> {
  try {
    const { values } = parseArgs({
      args,
      options: {
        namespace: { type: "string", short: "n" },
        "all-namespaces": { type: "boolean", short: "A" },
        output: { type: "string", short: "o", default: "table" },
        ...KUBE_FLAG_OPTIONS,
        help: { type: "boolean", short: "h" },
      },
      strict: true,
      allowPositionals: false,
    });
    if (values.help) {
      process.stdout.write(STATUS_USAGE);
      return 0;
    }
    const format = oneOf("output", values.output, STATUS_FORMATS);
    const config = kc ?? kubeConfigFromFlags(values);
    const scope = scopeOf({ namespace: values.namespace, allNamespaces: values["all-namespaces"] }, config);
    // The screen covers the namespace's own policies and schedules, so none are read elsewhere.
    const { input, warnings } = await gatherAudit(config, scope, { ownNamespaceOnly: true });
    for (const warning of warnings) process.stderr.write(`signet status: warning: ${warning}\n`);
    // gatherAudit returns the objects as the API server sent them; the audit's types name only the
    // fields the audit reads, the status screen reads a few more (renewalTime, nextTransition).
    const screen = buildStatusScreen({
      ...(input as Omit<StatusInput, "now" | "trustDomain">),
      now: new Date(),
      trustDomain: process.env.SIGNET_TRUST_DOMAIN ?? "cluster.local",
      ...("namespace" in scope ? { namespace: scope.namespace } : {}),
    });
    process.stdout.write(renderStatusScreen(screen, format));
    return 0;
  } catch (err) {
    if (err instanceof UsageError || (err as { code?: string }).code?.startsWith?.("ERR_PARSE_ARGS")) {
      process.stderr.write(`signet status: ${(err as Error).message}\n\n${STATUS_USAGE}`);
      return 2;
    }
    process.stderr.write(`signet status: ${describeApiError(err)}\n`);
    return 2;
  }
}
