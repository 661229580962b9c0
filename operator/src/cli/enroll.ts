import { randomBytes } from "node:crypto";
import { writeFileSync } from "node:fs";
import { parseArgs } from "node:util";
import { stringify } from "yaml";
import {
  API_VERSION,
  DEFAULT_ENROLLMENT_TTL,
  ENROLLMENT_KIND,
  type Enrollment,
  type EnrollmentInput,
  validate,
} from "../api/index.ts";
import { generateToken, hashToken } from "../enroll/token.ts";

export const ENROLL_USAGE = `usage: signet enroll <namespace>/<identity> [--name NAME] [--ttl 10m] [--server URL]
                     [--output text|yaml] [--token-file FILE] [--wait 15s]

Creates a single-use token with which one machine outside the cluster enrolls as the MachineIdentity
(spec.delivery External), and the Enrollment that stores only its SHA-256. The token is shown once.
Run the printed signet join on the machine: it generates its key there, enrolls, and renews itself.

flags:
      --name NAME        the Enrollment's name, a DNS label (default <identity>-<random>)
      --ttl DURATION     how long the token may be used, 1m to 24h (default ${DEFAULT_ENROLLMENT_TTL}; never
                         longer than the identity's ttl)
      --server URL       the enrollment endpoint as the machine reaches it, for the printed command
                         (default https://signet-enrollment.signet-system.svc:8445)
  -o, --output FORMAT    text (default): create the Enrollment and print the token and the join command;
                         yaml: create nothing, print the Enrollment for a GitOps repository (it holds the
                         hash only) and the token on stderr
      --token-file FILE  write the token to FILE (mode 0600) instead of printing it
      --wait DURATION    how long to wait for Signet to publish the server pin (default 15s)
`;

export class EnrollUsageError extends Error {
  override name = "EnrollUsageError";
}

/** The Enrollment for `token`, as the API server would store it. */
export function enrollmentFor(
  ref: { namespace: string; name: string },
  identity: string,
  token: string,
  ttl: string,
): EnrollmentInput {
  return {
    apiVersion: API_VERSION,
    kind: ENROLLMENT_KIND,
    metadata: { name: ref.name, namespace: ref.namespace },
    spec: { identity, tokenHash: hashToken(token), ttl },
  };
}

/** `signet enroll`: returns the exit code. */
export async function runEnroll(args: string[]): Promise<number> {
  const { values, positionals } = parseArgs({
    args,
    allowPositionals: true,
    options: {
      name: { type: "string" },
      ttl: { type: "string", default: DEFAULT_ENROLLMENT_TTL },
      server: { type: "string" },
      output: { type: "string", short: "o", default: "text" },
      "token-file": { type: "string" },
      wait: { type: "string", default: "15s" },
      help: { type: "boolean", short: "h" },
    },
  });
  if (values.help) {
    process.stdout.write(ENROLL_USAGE);
    return 0;
  }
  const [target] = positionals;
  const match = /^([a-z0-9-]+)\/([a-z0-9.-]+)$/.exec(target ?? "");
  if (!match || positionals.length !== 1)
    throw new EnrollUsageError(`give one <namespace>/<identity>, e.g. shop/build-agent\n\n${ENROLL_USAGE}`);
  const [, namespace = "", identity = ""] = match;
  if (values.output !== "text" && values.output !== "yaml")
    throw new EnrollUsageError(`--output must be text or yaml, not ${JSON.stringify(values.output)}`);
  const name =
    values.name ?? `${identity.replaceAll(".", "-").slice(0, 52)}-${randomBytes(5).toString("hex")}`;
  const ref = { namespace, name };
  let token: string;
  try {
    token = generateToken(ref);
  } catch (err) {
    throw new EnrollUsageError(`--name: ${(err as Error).message}`);
  }
  const body = enrollmentFor(ref, identity, token, values.ttl);
  const checked = validate(ENROLLMENT_KIND, body);
  if (!checked.ok) {
    throw new EnrollUsageError(
      `Enrollment ${namespace}/${name}: ${checked.problems.map((p) => `${p.field}: ${p.message}`).join("; ")}`,
    );
  }
  const showToken = (to: NodeJS.WriteStream) => {
    if (values["token-file"]) {
      writeFileSync(values["token-file"], `${token}\n`, { mode: 0o600 });
      to.write(`token written to ${values["token-file"]} (mode 0600); it is shown nowhere else\n`);
    } else to.write(`token (shown once): ${token}\n`);
  };
  if (values.output === "yaml") {
    process.stdout.write(stringify(body));
    showToken(process.stderr);
    process.stderr.write(
      "commit the Enrollment; once applied, kubectl get enrollment -n " +
        `${namespace} ${name} -o jsonpath='{.status.server.caSHA256}' gives the pin for signet join\n`,
    );
    return 0;
  }

  const [{ KubeClient }, { loadConnection }, { resourceClient, ENROLLMENTS }, { parseDuration }] =
    await Promise.all([
      import("../kube/client.ts"),
      import("../kube/kubeconfig.ts"),
      import("../kube/resources.ts"),
      import("../api/duration.ts"),
    ]);
  const kube = new KubeClient(loadConnection());
  const client = resourceClient(kube, ENROLLMENTS);
  try {
    await client.create(body as Enrollment);
  } catch (err) {
    const message = (err as { body?: { message?: string } }).body?.message ?? (err as Error).message;
    process.stderr.write(`signet enroll: Enrollment ${namespace}/${name}: ${message}\n`);
    return 1;
  }
  // Signet publishes the expiry and the serving CA pin within a moment; the watch ends as soon
  // as both are there, or at --wait.
  const published = await waitForStatus(kube, namespace, name, parseDuration(values.wait));
  process.stdout.write(
    `Enrollment ${namespace}/${name} created for MachineIdentity ${namespace}/${identity}.\n`,
  );
  showToken(process.stdout);
  const pin = published?.status?.server?.caSHA256;
  if (published?.status?.expiresAt) process.stdout.write(`expires at ${published.status.expiresAt}\n`);
  if (!pin) {
    process.stderr.write(
      `Signet did not publish the server pin within ${values.wait}; is the operator running? Read it later with\n` +
        `  kubectl get enrollment -n ${namespace} ${name} -o jsonpath='{.status.server.caSHA256}'\n`,
    );
  }
  const server = values.server ?? "https://signet-enrollment.signet-system.svc:8445";
  process.stdout.write(
    `on the machine:\n  signet join --server ${server} --identity ${namespace}/${identity} --ca-sha256 ${pin ?? "<pin>"} \\\n` +
      `    --dir /var/lib/signet --token-file <file with the token>\n`,
  );
  kube.close();
  return 0;
}

async function waitForStatus(
  kube: import("../kube/client.ts").KubeClient,
  namespace: string,
  name: string,
  timeoutMs: number,
): Promise<Enrollment | undefined> {
  const { informerFor } = await import("../runtime/informers.ts");
  const { ENROLLMENTS } = await import("../kube/resources.ts");
  const informer = informerFor<Enrollment>(kube, ENROLLMENTS, [namespace], {
    fieldSelector: `metadata.name=${name}`,
  });
  const done = (e: Enrollment | undefined) => !!e?.status?.server?.caSHA256 && !!e.status.expiresAt;
  try {
    return await new Promise<Enrollment | undefined>((resolve) => {
      const timer = setTimeout(() => resolve(informer.get(namespace, name)), timeoutMs);
      const check = (e: Enrollment) => {
        if (done(e)) {
          clearTimeout(timer);
          resolve(e);
        }
      };
      informer.on("add", check);
      informer.on("update", check);
      informer.start().catch(() => undefined);
    });
  } finally {
    informer.stop();
  }
}
