import { spawnSync } from "node:child_process";
import { existsSync } from "node:fs";
import { join } from "node:path";
import { fileURLToPath } from "node:url";

const buildScript = fileURLToPath(new URL("../controlplane/build.sh", import.meta.url));

export interface ControlPlaneBinaries {
  dir: string;
  etcd: string;
  kubeApiserver: string;
  kubeControllerManager: string;
  kubeScheduler: string;
  kubelet: string;
  kubeProxy: string;
  kubeRouter: string;
  helm: string;
}

let cached: ControlPlaneBinaries | undefined;

/**
 * Returns the cached control-plane binaries, building them first when missing.
 * The build prints its progress on stderr; a warm cache returns at once.
 */
export function controlPlaneBinaries(): ControlPlaneBinaries {
  if (cached) return cached;
  const result = spawnSync("bash", [buildScript], { stdio: ["ignore", "pipe", "inherit"], encoding: "utf8" });
  if (result.status !== 0) {
    throw new Error(`building the control plane failed (exit ${result.status}); see the output above`);
  }
  const dir = result.stdout.trim().split("\n").pop() ?? "";
  const bins = {
    dir,
    etcd: join(dir, "etcd"),
    kubeApiserver: join(dir, "kube-apiserver"),
    kubeControllerManager: join(dir, "kube-controller-manager"),
    kubeScheduler: join(dir, "kube-scheduler"),
    kubelet: join(dir, "kubelet"),
    kubeProxy: join(dir, "kube-proxy"),
    kubeRouter: join(dir, "kube-router"),
    helm: join(dir, "helm"),
  };
  for (const path of Object.values(bins).slice(1)) {
    if (!existsSync(path)) throw new Error(`control-plane build did not produce ${path}`);
  }
  cached = bins;
  return bins;
}
