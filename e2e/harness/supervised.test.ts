import { execFileSync, spawn } from "node:child_process";
import { mkdtempSync, readFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { startSupervised } from "./supervised.ts";

const alive = (pid: number) => {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
};

const waitUntil = async (what: string, predicate: () => boolean, timeoutMs = 10_000) => {
  const deadline = Date.now() + timeoutMs;
  while (!predicate()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting until ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
};

/** Pids of the processes whose command line contains `marker`. */
const pidsWith = (marker: string): number[] => {
  try {
    return execFileSync("pgrep", ["-f", marker], { encoding: "utf8" })
      .trim()
      .split("\n")
      .filter(Boolean)
      .map(Number);
  } catch {
    return [];
  }
};

/** A long-running child whose own command line carries `marker`, so pgrep finds it and not only its guard. */
const sleeper = (marker: string, ignoreTerm = false): string[] => [
  "-e",
  `${ignoreTerm ? "process.on('SIGTERM', () => {});" : ""} setInterval(() => {}, 1000);`,
  marker,
];

describe("a supervised process", () => {
  it("is stopped by stop() and reports its exit", async () => {
    const dir = mkdtempSync(join(tmpdir(), "signet-sup-"));
    const marker = `signet-sup-stop-${process.pid}-${Date.now()}`;
    const p = startSupervised("sleeper", process.execPath, sleeper(marker), join(dir, "log"));
    await waitUntil("the child runs", () => pidsWith(marker).length > 0);
    await p.stop(2_000);
    expect(pidsWith(marker)).toEqual([]);
  });

  it("reports a child that exits by itself at once, with its exit code", async () => {
    const dir = mkdtempSync(join(tmpdir(), "signet-sup-"));
    const p = startSupervised("failing", "sh", ["-c", "echo boom >&2; exit 7"], join(dir, "log"));
    expect(await p.exited).toBe(7);
    expect(readFileSync(join(dir, "log"), "utf8")).toContain("boom");
    await p.stop();
  });

  it("dies with its parent even when the parent is killed with SIGKILL", async () => {
    const dir = mkdtempSync(join(tmpdir(), "signet-sup-"));
    const marker = `signet-sup-orphan-${process.pid}-${Date.now()}`;
    const script = `
      import { startSupervised } from ${JSON.stringify(new URL("./supervised.ts", import.meta.url).href)};
      startSupervised("sleeper", process.execPath, ${JSON.stringify(sleeper(marker))}, ${JSON.stringify(join(dir, "log"))});
      setInterval(() => {}, 1000);
    `;
    const parent = spawn(process.execPath, ["--input-type=module", "-e", script], { stdio: "ignore" });
    await waitUntil("the child runs", () => pidsWith(marker).length > 0);
    const [child] = pidsWith(marker);
    parent.kill("SIGKILL");
    await waitUntil("the orphaned child is gone", () => child === undefined || !alive(child));
    expect(pidsWith(marker)).toEqual([]);
  });

  it("is killed after its parent dies even when it ignores SIGTERM", async () => {
    const dir = mkdtempSync(join(tmpdir(), "signet-sup-"));
    const marker = `signet-sup-stubborn-${process.pid}-${Date.now()}`;
    const script = `
      import { startSupervised } from ${JSON.stringify(new URL("./supervised.ts", import.meta.url).href)};
      startSupervised("stubborn", process.execPath, ${JSON.stringify(sleeper(marker, true))}, ${JSON.stringify(join(dir, "log"))});
      setInterval(() => {}, 1000);
    `;
    const parent = spawn(process.execPath, ["--input-type=module", "-e", script], { stdio: "ignore" });
    await waitUntil("the child runs", () => pidsWith(`setInterval.* ${marker}$`).length > 0);
    parent.kill("SIGKILL");
    await waitUntil("the stubborn child is gone", () => pidsWith(marker).length === 0, 15_000);
  }, 20_000);
});
