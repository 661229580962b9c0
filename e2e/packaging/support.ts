import { execFile } from "node:child_process";
import { mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { promisify } from "node:util";
import * as k8s from "@kubernetes/client-node";
import { parseAllDocuments } from "yaml";
import { renderKubeconfig } from "../harness/kubeconfig.ts";

const run = promisify(execFile);

export interface CommandResult {
  code: number;
  stdout: string;
  stderr: string;
}

/** Runs a command to completion; a non-zero exit is returned, not thrown, so tests can assert on it. */
export async function runCommand(file: string, args: string[], input?: string): Promise<CommandResult> {
  const child = run(file, args, { encoding: "utf8", maxBuffer: 64 * 1024 * 1024 });
  if (input !== undefined) {
    child.child.stdin?.end(input);
  }
  try {
    const { stdout, stderr } = await child;
    return { code: 0, stdout, stderr };
  } catch (err) {
    const e = err as { code?: number; stdout?: string; stderr?: string };
    return { code: typeof e.code === "number" ? e.code : 1, stdout: e.stdout ?? "", stderr: e.stderr ?? "" };
  }
}

/** Like runCommand, but fails with the command's own error output. */
export async function mustRun(file: string, args: string[], input?: string): Promise<string> {
  const result = await runCommand(file, args, input);
  if (result.code !== 0) {
    throw new Error(`${file} ${args.join(" ")} exited ${result.code}:\n${result.stderr}${result.stdout}`);
  }
  return result.stdout;
}

/** Every non-empty YAML document of a multi-document stream, as plain objects. */
export function parseObjects(yamlText: string): k8s.KubernetesObject[] {
  return parseAllDocuments(yamlText)
    .map((d) => d.toJS() as k8s.KubernetesObject | null)
    .filter((o): o is k8s.KubernetesObject => o != null && typeof o === "object" && "kind" in o);
}

export const objectKey = (o: k8s.KubernetesObject) =>
  `${o.kind}/${o.metadata?.namespace ? `${o.metadata.namespace}/` : ""}${o.metadata?.name}`;

/**
 * A kubeconfig file that authenticates as a ServiceAccount with a token from the TokenRequest API,
 * against the same server and CA as `admin`.
 */
export async function serviceAccountKubeconfig(
  admin: k8s.KubeConfig,
  namespace: string,
  serviceAccount: string,
): Promise<{ path: string; kc: k8s.KubeConfig }> {
  const request = await admin.makeApiClient(k8s.CoreV1Api).createNamespacedServiceAccountToken({
    namespace,
    name: serviceAccount,
    body: { spec: { expirationSeconds: 3600, audiences: [] } },
  });
  const token = request.status?.token;
  if (!token) throw new Error(`TokenRequest for ${namespace}/${serviceAccount} returned no token`);
  const cluster = admin.getCurrentCluster();
  if (!cluster) throw new Error("the admin kubeconfig has no current cluster");
  const caPem = cluster.caData
    ? Buffer.from(cluster.caData, "base64").toString("utf8")
    : cluster.caFile
      ? readFileSync(cluster.caFile, "utf8")
      : "";
  const text = renderKubeconfig({
    server: cluster.server,
    caPem,
    user: `system:serviceaccount:${namespace}:${serviceAccount}`,
    token,
  });
  const path = join(mkdtempSync(join(tmpdir(), "signet-sa-")), "kubeconfig");
  writeFileSync(path, text, { mode: 0o600 });
  const kc = new k8s.KubeConfig();
  kc.loadFromString(text);
  return { path, kc };
}

export interface Access {
  verb: string;
  resource: string;
  group?: string;
  subresource?: string;
  namespace?: string;
  name?: string;
}

export const describeAccess = (a: Access) =>
  `${a.verb} ${a.group ? `${a.resource}.${a.group}` : a.resource}${a.subresource ? `/${a.subresource}` : ""}` +
  `${a.name ? ` "${a.name}"` : ""} ${a.namespace ? `in ${a.namespace}` : "cluster-wide"}`;

/** Asks the API server whether the kubeconfig's own identity may do `access` (SelfSubjectAccessReview). */
export async function mayI(kc: k8s.KubeConfig, access: Access): Promise<boolean> {
  const review = await kc.makeApiClient(k8s.AuthorizationV1Api).createSelfSubjectAccessReview({
    body: {
      spec: {
        resourceAttributes: {
          verb: access.verb,
          group: access.group ?? "",
          resource: access.resource,
          ...(access.subresource ? { subresource: access.subresource } : {}),
          ...(access.namespace ? { namespace: access.namespace } : {}),
          ...(access.name ? { name: access.name } : {}),
        },
      },
    },
  });
  return review.status?.allowed === true;
}

/**
 * The flags `signet run` gets from the chart's Deployment: each SIGNET_* variable becomes the flag of
 * the same name (SIGNET_WEBHOOK_DNS_NAMES -> --webhook-dns-names), POD_NAME becomes --identity, and
 * downward-API values are filled in as the kubelet would. Ports are left to the caller, who picks free
 * ones on this machine.
 */
export function flagsFromDeployment(deployment: k8s.V1Deployment, pod: { name: string }): string[] {
  const container = deployment.spec?.template.spec?.containers[0];
  if (!container) throw new Error("the Deployment has no container");
  const flags = (container.args ?? []).slice(1);
  for (const env of container.env ?? []) {
    // The API server drops an empty value, as in SIGNET_USER_CA_SECRET: "".
    let value = env.valueFrom ? undefined : (env.value ?? "");
    const field = env.valueFrom?.fieldRef?.fieldPath;
    if (field === "metadata.name") value = pod.name;
    if (field === "metadata.namespace") value = deployment.metadata?.namespace;
    // This machine's processes reach each other on loopback, which stands in for the pod IP.
    if (field === "status.podIP") value = "127.0.0.1";
    if (value === undefined) throw new Error(`cannot resolve env ${env.name} outside a pod`);
    if (["SIGNET_METRICS_PORT", "SIGNET_WEBHOOK_PORT", "SIGNET_JWT_PORT"].includes(env.name)) continue;
    // A setting of the Node.js runtime, not of Signet.
    if (env.name === "NODE_OPTIONS") continue;
    const flag =
      env.name === "POD_NAME"
        ? "identity"
        : env.name
            .replace(/^SIGNET_/, "")
            .toLowerCase()
            .replaceAll("_", "-");
    flags.push(`--${flag}=${value}`);
  }
  return flags;
}
