import * as k8s from "@kubernetes/client-node";
import { UsageError } from "../audit/cli-scope.ts";

/** The flags by which a person picks a cluster, as kubectl has them (kubectl passes none to a plugin). */
export const KUBE_FLAG_OPTIONS = {
  kubeconfig: { type: "string" },
  context: { type: "string" },
} as const;

export const KUBE_FLAG_USAGE = `      --kubeconfig FILE    instead of KUBECONFIG or ~/.kube/config
      --context NAME       a context of the kubeconfig other than the current one`;

/** The kubeconfig of --kubeconfig, else KUBECONFIG or ~/.kube/config (or in-cluster), at --context. */
export function kubeConfigFromFlags(flags: {
  kubeconfig?: string | undefined;
  context?: string | undefined;
}) {
  const kc = new k8s.KubeConfig();
  if (flags.kubeconfig !== undefined) kc.loadFromFile(flags.kubeconfig);
  else kc.loadFromDefault();
  if (flags.context !== undefined) {
    if (kc.getContextObject(flags.context) === null) {
      throw new UsageError(`--context ${JSON.stringify(flags.context)} is not a context of the kubeconfig`);
    }
    kc.setCurrentContext(flags.context);
  }
  return kc;
}
