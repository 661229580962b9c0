// What the node tier's tests share: commands inside running pods, the chart installed with Helm,
// workload pods that carry a Signet identity, and Signet's own resources. The operations live in
// cluster-ops.ts (no test runner there, `npm run demo` uses them too); here they are bound to the
// cluster the tier's global setup provides.
import { kubeConfig, kubeconfigPath } from "../support/cluster.ts";
import { clusterOps } from "./cluster-ops.ts";

export {
  type ExecResult,
  GROUP,
  PEER_IMAGE,
  PEER_PORT,
  probeLines,
  RELEASE_NAMESPACE,
  SIGNET_IMAGE,
  type SignetStatus,
  VERSION,
} from "./cluster-ops.ts";

const ops = clusterOps(kubeConfig(), kubeconfigPath);

export const admin = ops.kc;
export const core = ops.core;
export const apps = ops.apps;
export const coordination = ops.coordination;
export const networking = ops.networking;
export const objects = ops.objects;

/** Runs a command in a container through the API server and the kubelet, as `kubectl exec` does. */
export const execIn = ops.execIn;
export const helm = ops.helm;
/** `helm install` of the chart with the locally built image; returns once every replica is Ready. */
export const installChart = ops.installChart;
/** The Lease's holder, once one holds it. */
export const leaseHolder = ops.leaseHolder;
export const deleteSignet = ops.deleteSignet;
export const createSignet = ops.createSignet;
export const patchSignet = ops.patchSignet;
export const readSignet = ops.readSignet;
/** A ServiceAccount, a MachineIdentity for it, and waits until the identity is Ready. */
export const createIdentity = ops.createIdentity;
/**
 * A pod of the test peer image running as the identity's ServiceAccount, opted in to injection;
 * `args` is the peer's command (serve, or sleep to exec clients in). Returns the running pod.
 */
export const startPeerPod = ops.startPeerPod;
export const waitRunning = ops.waitRunning;
