import type { TestProject } from "vitest/node";
import { type ControlPlane, startControlPlane } from "../harness/controlplane.ts";

declare module "vitest" {
  export interface ProvidedContext {
    kubeconfigPath: string;
    /** True when the suite runs against the local control plane it started itself. */
    localControlPlane: boolean;
    controlPlaneDir: string;
  }
}

/**
 * Starts a control plane for the e2e project that calls it (each project gets its own), or uses
 * the cluster named by SIGNET_E2E_KUBECONFIG (kind, k3d, a cloud cluster).
 */
export default async function setup(project: TestProject): Promise<() => Promise<void>> {
  const external = process.env.SIGNET_E2E_KUBECONFIG;
  if (external) {
    project.provide("kubeconfigPath", external);
    project.provide("localControlPlane", false);
    project.provide("controlPlaneDir", "");
    return async () => {};
  }
  const controlPlane: ControlPlane = await startControlPlane();
  process.once("SIGINT", () => void controlPlane.stop().finally(() => process.exit(130)));
  process.once("SIGTERM", () => void controlPlane.stop().finally(() => process.exit(143)));
  project.provide("kubeconfigPath", controlPlane.kubeconfigPath);
  project.provide("localControlPlane", true);
  project.provide("controlPlaneDir", controlPlane.dir);
  return () => controlPlane.stop();
}
