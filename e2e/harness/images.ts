import { spawnSync } from "node:child_process";
import { fileURLToPath } from "node:url";

const imageScript = fileURLToPath(new URL("../../scripts/image/build.sh", import.meta.url));

/**
 * Builds (or reuses, when their inputs are unchanged) the images a node runs: Signet's own, the
 * sandbox (pause) image and the test peer. Returns their docker-archive files, for containerd.
 */
export function buildImages(): string[] {
  const result = spawnSync("bash", [imageScript], { stdio: ["ignore", "pipe", "inherit"], encoding: "utf8" });
  if (result.status !== 0)
    throw new Error(`building the images failed (exit ${result.status}); see the output above`);
  return result.stdout.split("\n").filter((line) => line.endsWith(".tar"));
}
