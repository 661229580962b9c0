#!/usr/bin/env node
// signet: one entry point, subcommands.
// Each command loads only what it uses, so that audit and discover start quickly.
import { ConfigError, configUsage, parseConfig } from "../runtime/config.ts";

const USAGE = `usage: signet <command> [flags]

commands:
  run          controllers (leader-elected), the admission webhook and the JWT-SVID endpoint, as a Deployment runs it
  controller   the leader-elected controllers only
  webhook      the admission webhook and the JWT-SVID endpoint only
  audit        identities, their consumers and expiry, and the access graph between them
  discover     static certificates, keys and tokens in Secrets that identities should replace
  proxy        a verifying reverse proxy in front of a workload (signet proxy --help)
  status       one screen: problems first, then identities, policies and schedules
  suspend      set spec.suspend of an identity, policy or schedule, recorded as an Event (--help)
  resume       set it back to false
  grant        open a just-in-time grant on a schedule (or a policy's schedule) now, for --for
  revoke       end the grants open now
  enroll       a single-use token for one machine outside the cluster to enroll as an identity (--help)
  join         on that machine: enroll with the token, then keep the SVID renewed over mTLS (--help)

flags (each also read from its environment variable):
${configUsage()}
`;

async function serve(args: string[], mode: { controllers: boolean; webhook: boolean }): Promise<void> {
  const config = parseConfig(args);
  const [{ KubeClient }, { loadConnection }, { startOperator }, { createLogger }] = await Promise.all([
    import("../kube/client.ts"),
    import("../kube/kubeconfig.ts"),
    import("../runtime/manager.ts"),
    import("../telemetry/logger.ts"),
  ]);
  const log = createLogger({ level: config.logLevel });
  const kube = new KubeClient(loadConnection());
  const operator = await startOperator({ kube, config, log, ...mode });
  log.info(
    {
      metricsPort: operator.metricsPort,
      webhookPort: operator.webhookPort,
      jwtPort: operator.jwtPort,
      enrollmentPort: operator.enrollmentPort,
      identity: config.identity,
    },
    "signet started",
  );
  let stopping = false;
  const shutdown = (signal: string, code = 0) => {
    if (stopping) return;
    stopping = true;
    log.info({ signal }, "shutting down");
    operator.stop().then(
      () => process.exit(code),
      (err: unknown) => {
        log.error({ err: (err as Error).message }, "shutdown failed");
        process.exit(1);
      },
    );
  };
  process.on("SIGTERM", () => shutdown("SIGTERM"));
  process.on("SIGINT", () => shutdown("SIGINT"));
  // A controller that cannot start leaves leadership to another replica, or to a restart.
  void operator.failure.then((err) => {
    log.error({ err: err.message }, "a controller failed to start; exiting");
    shutdown("failure", 1);
  });
}

const [command, ...args] = process.argv.slice(2);
try {
  switch (command) {
    case "run":
      await serve(args, { controllers: true, webhook: true });
      break;
    case "controller":
      await serve(args, { controllers: true, webhook: false });
      break;
    case "webhook":
      await serve(args, { controllers: false, webhook: true });
      break;
    case "audit":
      process.exitCode = await (await import("./audit.ts")).runAudit(args);
      break;
    case "discover":
      process.exitCode = await (await import("./discover.ts")).runDiscover(args);
      break;
    case "proxy":
      await (await import("./proxy.ts")).runProxy(args);
      break;
    case "status":
      process.exitCode = await (await import("./status.ts")).runStatus(args);
      break;
    case "suspend":
    case "resume":
    case "grant":
    case "revoke":
      process.exitCode = await (await import("./access.ts")).runAccess(command, args);
      break;
    case "enroll":
      process.exitCode = await (await import("./enroll.ts")).runEnroll(args);
      break;
    case "join":
      process.exitCode = await (await import("./join.ts")).runJoin(args);
      break;
    case undefined:
    case "help":
    case "--help":
    case "-h":
      process.stdout.write(USAGE);
      break;
    default:
      process.stderr.write(`signet: unknown command "${command}"\n\n${USAGE}`);
      process.exitCode = 2;
  }
} catch (err) {
  if (
    err instanceof ConfigError ||
    (err as Error).name === "ProxyUsageError" ||
    (err as Error).name === "EnrollUsageError" ||
    (err as Error).name === "JoinUsageError" ||
    (err as Error).name === "IdentityError" ||
    (err as Error).name === "KubeconfigError" ||
    (err as { code?: string }).code?.startsWith("ERR_PARSE_ARGS")
  ) {
    process.stderr.write(`signet: ${(err as Error).message}\n`);
    process.exitCode = 2;
  } else {
    throw err;
  }
}
