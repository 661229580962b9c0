import { execFile } from "node:child_process";
import { fileURLToPath } from "node:url";
import { kubeconfigPath } from "../support/cluster.ts";

const cli = fileURLToPath(new URL("../../operator/src/cli/main.ts", import.meta.url));

export interface CliResult {
  code: number;
  stdout: string;
  stderr: string;
}

/** Runs the real `signet` CLI as a child process against the test cluster, as a user would. */
export function signet(...args: string[]): Promise<CliResult> {
  return signetAs(kubeconfigPath(), ...args);
}

/** The same, with the credentials of another kubeconfig file. */
export function signetAs(kubeconfig: string, ...args: string[]): Promise<CliResult> {
  return new Promise((resolve, reject) => {
    execFile(
      process.execPath,
      [cli, ...args],
      {
        env: { ...process.env, KUBECONFIG: kubeconfig, NO_PROXY: "127.0.0.1,localhost" },
        maxBuffer: 64 * 1024 * 1024,
        timeout: 60_000,
      },
      (err, stdout, stderr) => {
        const code = err === null ? 0 : (err as { code?: unknown }).code;
        if (typeof code !== "number") reject(err);
        else resolve({ code, stdout, stderr });
      },
    );
  });
}
