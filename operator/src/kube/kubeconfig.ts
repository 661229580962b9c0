import { existsSync, readFileSync } from "node:fs";
import { createRequire } from "node:module";
import { homedir } from "node:os";
import { delimiter, dirname, isAbsolute, join } from "node:path";

/**
 * Where and how to reach one API server: what a kubeconfig context or a pod's service account
 * resolves to. Credentials are material, not paths, except a token file, which is read again on
 * each use because the kubelet rotates projected service-account tokens.
 */
export interface Connection {
  /** e.g. https://10.96.0.1:443; no trailing slash. */
  server: string;
  /** PEM of the CAs that verify the API server; the system roots when absent. */
  ca?: Buffer;
  /** PEM of the client certificate and key, for client-certificate users. */
  cert?: Buffer;
  key?: Buffer;
  /** A bearer token, fixed, or read from `tokenFile` at each request (cached for a minute). */
  token?: string;
  tokenFile?: string;
  /** kubeconfig's insecure-skip-tls-verify. */
  insecureSkipTlsVerify?: boolean;
  /** kubeconfig's tls-server-name: the name the server certificate is checked against. */
  tlsServerName?: string;
  /** Where the connection came from, for error messages ("kubeconfig /x, context y" or "in-cluster"). */
  source: string;
}

/** A kubeconfig or in-cluster configuration that cannot be used, with what is wrong in it. */
export class KubeconfigError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "KubeconfigError";
  }
}

const SERVICE_ACCOUNT_DIR = "/var/run/secrets/kubernetes.io/serviceaccount";

interface Named<T> {
  name?: string;
  cluster?: T;
  user?: T;
  context?: T;
}

interface KubeconfigCluster {
  server?: string;
  "certificate-authority"?: string;
  "certificate-authority-data"?: string;
  "insecure-skip-tls-verify"?: boolean;
  "tls-server-name"?: string;
  "proxy-url"?: string;
}

interface KubeconfigUser {
  "client-certificate"?: string;
  "client-certificate-data"?: string;
  "client-key"?: string;
  "client-key-data"?: string;
  token?: string;
  tokenFile?: string;
  exec?: unknown;
  "auth-provider"?: unknown;
  username?: string;
}

interface KubeconfigContext {
  cluster?: string;
  user?: string;
}

interface KubeconfigFile {
  path: string;
  clusters: Named<KubeconfigCluster>[];
  users: Named<KubeconfigUser>[];
  contexts: Named<KubeconfigContext>[];
  currentContext?: string;
}

export interface LoadOptions {
  /** Default process.env: KUBECONFIG, KUBERNETES_SERVICE_HOST and KUBERNETES_SERVICE_PORT are read. */
  env?: NodeJS.ProcessEnv;
  /** A context other than the current one. */
  context?: string;
  /** Where the service account's token, ca.crt and namespace are mounted. */
  serviceAccountDir?: string;
}

/**
 * The connection kubectl would use: the files in $KUBECONFIG (merged, the first to name a cluster,
 * user or context wins), else ~/.kube/config, else the pod's service account. Signet authenticates
 * with client certificates and bearer tokens (fixed or from a file); a user that needs an exec
 * plugin or an auth provider is refused with its name, rather than sent unauthenticated.
 */
export function loadConnection(options: LoadOptions = {}): Connection {
  const env = options.env ?? process.env;
  const listed = (env.KUBECONFIG ?? "").split(delimiter).filter(Boolean);
  const paths = listed.length > 0 ? listed : [join(homedir(), ".kube", "config")].filter(existsSync);
  if (paths.length > 0) return fromKubeconfig(paths, options.context);
  if (env.KUBERNETES_SERVICE_HOST) return inCluster(env, options.serviceAccountDir ?? SERVICE_ACCOUNT_DIR);
  throw new KubeconfigError(
    "no Kubernetes configuration: set KUBECONFIG, create ~/.kube/config, or run in a pod with a service account",
  );
}

/** The service account of the pod this process runs in. */
export function inCluster(env: NodeJS.ProcessEnv, dir = SERVICE_ACCOUNT_DIR): Connection {
  const host = env.KUBERNETES_SERVICE_HOST ?? "";
  const port = env.KUBERNETES_SERVICE_PORT ?? "443";
  const tokenFile = join(dir, "token");
  const caFile = join(dir, "ca.crt");
  if (!existsSync(tokenFile))
    throw new KubeconfigError(`in-cluster: no service account token at ${tokenFile}`);
  return {
    server: `https://${host.includes(":") ? `[${host}]` : host}:${port}`,
    ...(existsSync(caFile) ? { ca: readFileSync(caFile) } : {}),
    tokenFile,
    source: "in-cluster service account",
  };
}

function readKubeconfig(path: string): KubeconfigFile {
  let doc: Record<string, unknown>;
  try {
    // Loaded here, not at the top: a pod's in-cluster configuration needs no YAML parser, which
    // would otherwise take about 14 MB of the operator's memory for nothing.
    const { parse } = createRequire(import.meta.url)("yaml") as typeof import("yaml");
    doc = (parse(readFileSync(path, "utf8")) ?? {}) as Record<string, unknown>;
  } catch (error) {
    throw new KubeconfigError(`kubeconfig ${path}: ${(error as Error).message}`);
  }
  const list = <T>(key: string) => (Array.isArray(doc[key]) ? (doc[key] as Named<T>[]) : []);
  return {
    path,
    clusters: list<KubeconfigCluster>("clusters"),
    users: list<KubeconfigUser>("users"),
    contexts: list<KubeconfigContext>("contexts"),
    ...(typeof doc["current-context"] === "string" ? { currentContext: doc["current-context"] } : {}),
  };
}

function fromKubeconfig(paths: string[], contextName?: string): Connection {
  const files = paths.filter((p) => existsSync(p)).map(readKubeconfig);
  if (files.length === 0) throw new KubeconfigError(`kubeconfig: none of ${paths.join(", ")} exists`);
  const find = <T>(
    pick: (f: KubeconfigFile) => Named<T>[],
    name: string,
    key: "cluster" | "user" | "context",
  ) => {
    for (const file of files) {
      const entry = pick(file).find((e) => e.name === name);
      if (entry?.[key] !== undefined) return { value: entry[key] as T, file };
    }
    return undefined;
  };
  const where = files.map((f) => f.path).join(", ");
  const current = contextName ?? files.find((f) => f.currentContext)?.currentContext;
  if (!current) throw new KubeconfigError(`kubeconfig ${where}: no current-context`);
  const context = find<KubeconfigContext>((f) => f.contexts, current, "context");
  if (!context) throw new KubeconfigError(`kubeconfig ${where}: context "${current}" is not defined`);
  const clusterName = context.value.cluster ?? "";
  const cluster = find<KubeconfigCluster>((f) => f.clusters, clusterName, "cluster");
  if (!cluster?.value.server) {
    throw new KubeconfigError(
      `kubeconfig ${where}: cluster "${clusterName}" of context "${current}" has no server`,
    );
  }
  if (cluster.value["proxy-url"]) {
    throw new KubeconfigError(
      `kubeconfig ${where}: cluster "${clusterName}" uses proxy-url, which Signet does not support`,
    );
  }
  const userName = context.value.user ?? "";
  const user = find<KubeconfigUser>((f) => f.users, userName, "user")?.value ?? {};
  const source = `kubeconfig ${where}, context "${current}"`;
  for (const unsupported of ["exec", "auth-provider"] as const) {
    if (user[unsupported] !== undefined) {
      throw new KubeconfigError(
        `${source}: user "${userName}" authenticates with ${unsupported}, which Signet does not support; give it a token, a tokenFile or a client certificate`,
      );
    }
  }
  // Relative paths in a kubeconfig are relative to the file that holds them.
  const resolve = (path: string, file: KubeconfigFile) =>
    isAbsolute(path) ? path : join(dirname(file.path), path);
  const userFile = find<KubeconfigUser>((f) => f.users, userName, "user")?.file ?? cluster.file;
  const material = (
    data: string | undefined,
    path: string | undefined,
    file: KubeconfigFile,
    what: string,
  ) => {
    if (data) return Buffer.from(data, "base64");
    if (!path) return undefined;
    const full = resolve(path, file);
    try {
      return readFileSync(full);
    } catch (error) {
      throw new KubeconfigError(`${source}: cannot read the ${what} ${full}: ${(error as Error).message}`);
    }
  };
  const ca = material(
    cluster.value["certificate-authority-data"],
    cluster.value["certificate-authority"],
    cluster.file,
    "certificate-authority",
  );
  const cert = material(
    user["client-certificate-data"],
    user["client-certificate"],
    userFile,
    "client-certificate",
  );
  const key = material(user["client-key-data"], user["client-key"], userFile, "client-key");
  if ((cert === undefined) !== (key === undefined)) {
    throw new KubeconfigError(
      `${source}: user "${userName}" has a client certificate without its key, or a key without its certificate`,
    );
  }
  return {
    server: cluster.value.server.replace(/\/+$/, ""),
    ...(ca ? { ca } : {}),
    ...(cert && key ? { cert, key } : {}),
    ...(user.token ? { token: user.token } : {}),
    ...(user.tokenFile ? { tokenFile: resolve(user.tokenFile, userFile) } : {}),
    ...(cluster.value["insecure-skip-tls-verify"] ? { insecureSkipTlsVerify: true } : {}),
    ...(cluster.value["tls-server-name"] ? { tlsServerName: cluster.value["tls-server-name"] } : {}),
    source,
  };
}
