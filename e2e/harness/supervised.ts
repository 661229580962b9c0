import { type ChildProcess, spawn } from "node:child_process";
import { openSync, readFileSync } from "node:fs";

/**
 * A child process that cannot outlive its parent. It is started through a small
 * shell that holds a pipe from us: when we exit for any reason (even SIGKILL)
 * the pipe closes, the watcher's `cat` returns and it kills the child.
 */
export interface Supervised {
  readonly name: string;
  readonly pid: number;
  readonly exited: Promise<number | null>;
  stop(graceMs?: number): Promise<void>;
}

// The child's stdin is /dev/null; a watcher reads our pipe (fd 3) and, at EOF, asks the child to
// stop and kills it 5 s later if it has not (kube-apiserver can hang in shutdown once etcd is gone).
// The shell exits with the child's status, so a crash is seen at once.
const GUARD =
  'exec 3<&0; "$@" </dev/null & child=$!; ' +
  '{ cat <&3 >/dev/null; kill -TERM "$child" 2>/dev/null; sleep 5; kill -KILL "$child" 2>/dev/null; } & ' +
  'exec 3<&-; wait "$child"';

export function startSupervised(
  name: string,
  command: string,
  args: string[],
  logFile: string,
  env: NodeJS.ProcessEnv = process.env,
): Supervised {
  const log = openSync(logFile, "a");
  const child: ChildProcess = spawn("sh", ["-c", GUARD, name, command, ...args], {
    stdio: ["pipe", log, log],
    detached: true,
    env,
  });
  if (child.pid === undefined) throw new Error(`could not start ${name}`);
  const pid = child.pid;
  const exited = new Promise<number | null>((resolve) => child.once("exit", (code) => resolve(code)));
  let stopping: Promise<void> | undefined;
  return {
    name,
    pid,
    exited,
    stop(graceMs = 5_000) {
      stopping ??= (async () => {
        // Closing the pipe makes the guard shell send SIGTERM and wait for the child.
        child.stdin?.end();
        const timer = setTimeout(() => signalGroup(pid, "SIGKILL"), graceMs);
        await exited;
        clearTimeout(timer);
        signalGroup(pid, "SIGKILL");
      })();
      return stopping;
    },
  };
}

function signalGroup(pid: number, signal: NodeJS.Signals): void {
  try {
    process.kill(-pid, signal);
  } catch {
    // the group is already gone
  }
}

/** The pids of a process's children, oldest first; empty when it has none or is gone. */
export function childrenOf(pid: number): number[] {
  try {
    return readFileSync(`/proc/${pid}/task/${pid}/children`, "utf8")
      .trim()
      .split(/\s+/)
      .filter(Boolean)
      .map(Number);
  } catch {
    return [];
  }
}

/** The child of `parent` whose command is `name` (the process a guard shell runs), if any. */
export function childNamed(parent: number, name: string): number | undefined {
  return childrenOf(parent).find((pid) => {
    try {
      return readFileSync(`/proc/${pid}/comm`, "utf8").trim() === name;
    } catch {
      return false;
    }
  });
}
