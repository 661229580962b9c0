import { existsSync, readFileSync } from "node:fs";
import { dirname, join } from "node:path";
import type { TestProject } from "vitest/node";
import { buildImages } from "../harness/images.ts";
import { NODE_NAME, type NodeCluster, startNodeCluster } from "../harness/node.ts";

declare module "vitest" {
  export interface ProvidedContext {
    kubeconfigPath: string;
    localControlPlane: boolean;
    controlPlaneDir: string;
    /** The node tier's node, where the pods of its tests run. */
    nodeName: string;
    /** The host pid of the first process in the node's namespaces; 0 when unknown. */
    nodeInitPid: number;
  }
}

/**
 * The node tier runs on a node of its own (a full control plane and a real kubelet), or on the
 * cluster of `npm run cluster -- up` named by SIGNET_E2E_NODE_KUBECONFIG, which has the images.
 */
export default async function setup(project: TestProject): Promise<() => Promise<void>> {
  const existing = process.env.SIGNET_E2E_NODE_KUBECONFIG;
  if (existing) {
    project.provide("kubeconfigPath", existing);
    project.provide("localControlPlane", false);
    project.provide("controlPlaneDir", "");
    project.provide("nodeName", NODE_NAME);
    project.provide("nodeInitPid", initPidOf(existing));
    return async () => {};
  }
  const images = buildImages();
  const cluster: NodeCluster = await startNodeCluster({ images });
  process.once("SIGINT", () => void cluster.stop().finally(() => process.exit(130)));
  process.once("SIGTERM", () => void cluster.stop().finally(() => process.exit(143)));
  project.provide("kubeconfigPath", cluster.kubeconfigPath);
  project.provide("localControlPlane", true);
  project.provide("controlPlaneDir", cluster.controlPlane.dir);
  project.provide("nodeName", cluster.nodeName);
  project.provide("nodeInitPid", cluster.initPid);
  return () => cluster.stop();
}

/** The init pid that `npm run cluster -- up` recorded for the cluster of this kubeconfig. */
function initPidOf(kubeconfig: string): number {
  const stateFile = join(dirname(dirname(kubeconfig)), "state.json");
  if (!existsSync(stateFile)) return 0;
  const state = JSON.parse(readFileSync(stateFile, "utf8")) as { kubeconfig?: string; initPid?: number };
  return state.kubeconfig === kubeconfig ? (state.initPid ?? 0) : 0;
}
