import { Agent, request } from "node:https";
import { monitorEventLoopDelay } from "node:perf_hooks";

/**
 * Open-loop load generator, run as a child process of run.ts. Request i is due at start + i/rate,
 * whether or not earlier answers have arrived, and its latency is measured from that due time:
 * a stalled server therefore shows up in the figures instead of slowing the generator down
 * (no coordinated omission).
 */

export interface GeneratorTask {
  port: number;
  path: string;
  caPem: string;
  body: string;
  rate: number;
  warmupSeconds: number;
  durationSeconds: number;
}

export interface GeneratorResult {
  /** Latencies in milliseconds of the measured (post-warm-up) requests, from their due time. */
  latenciesMs: number[];
  /** The same requests' latencies from the moment the generator actually sent them. */
  fromSendMs: number[];
  sent: number;
  errors: number;
  non200: number;
  elapsedSeconds: number;
  eventLoopDelay: { p99: string; max: string };
}

function run(task: GeneratorTask): Promise<GeneratorResult> {
  const agent = new Agent({ keepAlive: true, ca: task.caPem, maxSockets: 256, keepAliveMsecs: 10_000 });
  const body = Buffer.from(task.body);
  const intervalNs = 1e9 / task.rate;
  const warmup = Math.round(task.warmupSeconds * task.rate);
  const total = warmup + Math.round(task.durationSeconds * task.rate);
  const latenciesMs: number[] = [];
  const fromSendMs: number[] = [];
  let sent = 0;
  let done = 0;
  let errors = 0;
  let non200 = 0;
  const loop = monitorEventLoopDelay({ resolution: 1 });
  loop.enable();
  const start = process.hrtime.bigint();

  return new Promise((resolve) => {
    const finish = (): void => {
      if (done < total) return;
      agent.destroy();
      loop.disable();
      resolve({
        eventLoopDelay: {
          p99: `${(loop.percentile(99) / 1e6).toFixed(2)} ms`,
          max: `${(loop.max / 1e6).toFixed(2)} ms`,
        },
        latenciesMs,
        fromSendMs,
        sent,
        errors,
        non200,
        elapsedSeconds: Number(process.hrtime.bigint() - start) / 1e9,
      });
    };
    const fire = (index: number, due: bigint): void => {
      const sentAt = process.hrtime.bigint();
      const req = request(
        {
          host: "127.0.0.1",
          port: task.port,
          path: task.path,
          method: "POST",
          agent,
          headers: { "content-type": "application/json", "content-length": body.length },
        },
        (res) => {
          if (res.statusCode !== 200) non200++;
          res.resume();
          res.on("end", () => {
            if (index >= warmup) {
              const end = process.hrtime.bigint();
              latenciesMs.push(Number(end - due) / 1e6);
              fromSendMs.push(Number(end - sentAt) / 1e6);
            }
            done++;
            finish();
          });
        },
      );
      req.on("error", () => {
        errors++;
        done++;
        finish();
      });
      req.end(body);
    };
    const tick = (): void => {
      const now = process.hrtime.bigint();
      while (sent < total) {
        const due = start + BigInt(Math.round(sent * intervalNs));
        if (due > now) break;
        fire(sent, due);
        sent++;
      }
      // Sleeping until the next due time, instead of spinning, leaves the CPU to the server under
      // test; the timer's lateness is charged to the measured latency, so it can only inflate it.
      if (sent < total) {
        const next = start + BigInt(Math.round(sent * intervalNs));
        setTimeout(tick, Math.max(0, Number(next - process.hrtime.bigint()) / 1e6 - 0.5));
      }
    };
    tick();
  });
}

process.once("message", (task: GeneratorTask) => {
  void run(task).then((result) => {
    process.send?.(result, () => process.exit(0));
  });
});
