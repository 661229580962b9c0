import { spawnSync } from "node:child_process";
import { existsSync } from "node:fs";
import { fileURLToPath } from "node:url";

const buildScript = fileURLToPath(new URL("../e2e/tools/promtool/build.sh", import.meta.url));

let cached: string | undefined;

/**
 * promtool: $PROMTOOL when set, else the one e2e/tools/promtool/build.sh builds from its Go module
 * into the cache (building it first when missing; the build prints its progress on stderr).
 */
export function promtoolBinary(): string {
  if (process.env.PROMTOOL) return process.env.PROMTOOL;
  if (cached) return cached;
  const result = spawnSync("bash", [buildScript], { stdio: ["ignore", "pipe", "inherit"], encoding: "utf8" });
  if (result.status !== 0)
    throw new Error(`building promtool failed (exit ${result.status}); see the output above`);
  const path = result.stdout.trim().split("\n").pop() ?? "";
  if (!existsSync(path)) throw new Error(`the promtool build did not produce ${path}`);
  cached = path;
  return path;
}
