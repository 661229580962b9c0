import { isIP } from "node:net";
import { parseArgs } from "node:util";
import { parseDuration } from "../api/index.ts";

/**
 * Where a PodCertificate identity's pods take ca.crt from: "auto" from the signer's
 * ClusterTrustBundles where the API server serves them, else from the ConfigMap Signet keeps in the
 * identity's namespace; or always the one named.
 */
export type TrustBundleMode = "auto" | "ClusterTrustBundle" | "ConfigMap";
const TRUST_BUNDLE_MODES: readonly TrustBundleMode[] = ["auto", "ClusterTrustBundle", "ConfigMap"];

/** Everything the operator process is configured with: flags first, then SIGNET_* environment variables. */
export interface OperatorConfig {
  /** The SPIFFE trust domain of every identity (spiffe://<trustDomain>/...). */
  trustDomain: string;
  /** The operator's own namespace: CA Secret, webhook Secret, leader Lease. */
  namespace: string;
  caSecretName: string;
  /** A user-supplied CA Secret (tls.crt with its chain, tls.key) to issue from instead of a generated root. */
  userCaSecretName: string | undefined;
  minTtlMs: number;
  maxTtlMs: number;
  /** Namespaces to watch; empty means all. */
  watchNamespaces: string[];
  leaderElection: boolean;
  leaseName: string;
  leaseDurationMs: number;
  renewDeadlineMs: number;
  retryPeriodMs: number;
  /** This replica's name in the Lease (the pod name in a cluster). */
  identity: string;
  metricsPort: number;
  /** The address /metrics, /healthz and /readyz listen on: loopback by default, the pod IP in the chart. */
  metricsHost: string;
  webhookPort: number;
  webhookHost: string | undefined;
  webhookSecretName: string;
  /** DNS names of the webhook's serving certificate (the Service's names in a cluster). */
  webhookDnsNames: string[];
  /** IP SANs of the webhook's serving certificate, for an API server that calls it at an address. */
  webhookIpAddresses: string[];
  /** When set, the operator keeps this MutatingWebhookConfiguration's caBundle current. */
  webhookConfigurationName: string | undefined;
  /** When set, the operator keeps this ValidatingWebhookConfiguration's caBundle current. */
  validatingWebhookConfigurationName: string | undefined;
  workers: number;
  /** How long the move of every identity to a new issuing CA is spread over (cut short by each leaf's renewal time). */
  issuerSpreadMs: number;
  /** The most re-keys per second over all identities; a move to a new issuer waits for room. */
  rekeysPerSecond: number;
  logLevel: string;
  /** The cluster's DNS domain: the default issuance rule lets a namespace claim <svc>.<ns>.svc.<clusterDomain>. */
  clusterDomain: string;
  /**
   * The Deployment that runs the operator, in its namespace. When set, what the operator creates
   * there (its CAs, the webhook's Secret, the Lease) is owned by it, so that deleting the
   * Deployment (helm uninstall) garbage-collects them.
   */
  ownerDeployment: string | undefined;
  /**
   * Whether this operator is the cluster's pod certificate signer (signet.dev/svid) and publishes
   * its ClusterTrustBundle. One per cluster: a second Signet release sets it false.
   */
  podCertificateSigner: boolean;
  trustBundle: TrustBundleMode;
  /** The JWT-SVID endpoint's port (POST /v1/jwt-svid, OIDC discovery, /keys). */
  jwtPort: number;
  jwtHost: string | undefined;
  /** The iss of every JWT-SVID, and the base of its discovery document. */
  jwtIssuer: string;
  /** The Secret of the JWT-SVID signing keys, in the operator's namespace. */
  jwtSigningSecretName: string;
  /** The JWT endpoint's serving certificate and the workload trust bundle it verifies clients with. */
  jwtTlsSecretName: string;
  jwtDnsNames: string[];
  jwtIpAddresses: string[];
  /** How long a JWT signing key signs before the next takes over. */
  jwtKeyRotationMs: number;
  /** How long a next key is in the JWKS before it signs. */
  jwtPublishAheadMs: number;
  /**
   * The image the webhook runs the `signet proxy` sidecar from, for pods with the signet.dev/proxy
   * annotation (the chart sets the operator's own); unset, such pods are denied.
   */
  proxyImage: string | undefined;
  /** The enrollment endpoint's port (enroll, renew and token exchange for machines outside the cluster). */
  enrollmentPort: number;
  enrollmentHost: string | undefined;
  /** The enrollment endpoint's serving certificate and the workload trust bundle it verifies renewals with. */
  enrollmentTlsSecretName: string;
  /** DNS names of that certificate: the Service's, plus the names outside machines reach it by. */
  enrollmentDnsNames: string[];
  enrollmentIpAddresses: string[];
}

const OPTIONS = {
  "trust-domain": { type: "string", env: "SIGNET_TRUST_DOMAIN", default: "cluster.local" },
  namespace: { type: "string", env: "SIGNET_NAMESPACE", default: "signet-system" },
  "ca-secret": { type: "string", env: "SIGNET_CA_SECRET", default: "signet-ca" },
  "user-ca-secret": { type: "string", env: "SIGNET_USER_CA_SECRET", default: "" },
  "min-ttl": { type: "string", env: "SIGNET_MIN_TTL", default: "5m" },
  "max-ttl": { type: "string", env: "SIGNET_MAX_TTL", default: "24h" },
  "watch-namespaces": { type: "string", env: "SIGNET_WATCH_NAMESPACES", default: "" },
  "leader-elect": { type: "string", env: "SIGNET_LEADER_ELECT", default: "true" },
  "lease-name": { type: "string", env: "SIGNET_LEASE_NAME", default: "signet-controller" },
  "owner-deployment": { type: "string", env: "SIGNET_OWNER_DEPLOYMENT", default: "" },
  "lease-duration": { type: "string", env: "SIGNET_LEASE_DURATION", default: "15s" },
  "renew-deadline": { type: "string", env: "SIGNET_RENEW_DEADLINE", default: "10s" },
  "retry-period": { type: "string", env: "SIGNET_RETRY_PERIOD", default: "2s" },
  identity: { type: "string", env: "POD_NAME", default: "" },
  "metrics-port": { type: "string", env: "SIGNET_METRICS_PORT", default: "8080" },
  "metrics-host": { type: "string", env: "SIGNET_METRICS_HOST", default: "127.0.0.1" },
  "webhook-port": { type: "string", env: "SIGNET_WEBHOOK_PORT", default: "9443" },
  "webhook-host": { type: "string", env: "SIGNET_WEBHOOK_HOST", default: "" },
  "webhook-secret": { type: "string", env: "SIGNET_WEBHOOK_SECRET", default: "signet-webhook-tls" },
  "webhook-dns-names": { type: "string", env: "SIGNET_WEBHOOK_DNS_NAMES", default: "" },
  "webhook-ip-addresses": { type: "string", env: "SIGNET_WEBHOOK_IP_ADDRESSES", default: "" },
  "webhook-configuration": { type: "string", env: "SIGNET_WEBHOOK_CONFIGURATION", default: "" },
  "validating-webhook-configuration": {
    type: "string",
    env: "SIGNET_VALIDATING_WEBHOOK_CONFIGURATION",
    default: "",
  },
  workers: { type: "string", env: "SIGNET_WORKERS", default: "4" },
  "issuer-spread": { type: "string", env: "SIGNET_ISSUER_SPREAD", default: "10m" },
  "rekeys-per-second": { type: "string", env: "SIGNET_REKEYS_PER_SECOND", default: "20" },
  "log-level": { type: "string", env: "SIGNET_LOG_LEVEL", default: "info" },
  "cluster-domain": { type: "string", env: "SIGNET_CLUSTER_DOMAIN", default: "cluster.local" },
  "pod-certificate-signer": { type: "string", env: "SIGNET_POD_CERTIFICATE_SIGNER", default: "true" },
  "trust-bundle": { type: "string", env: "SIGNET_TRUST_BUNDLE", default: "auto" },
  "jwt-port": { type: "string", env: "SIGNET_JWT_PORT", default: "8444" },
  "jwt-host": { type: "string", env: "SIGNET_JWT_HOST", default: "" },
  "jwt-issuer": { type: "string", env: "SIGNET_JWT_ISSUER", default: "" },
  "jwt-signing-secret": { type: "string", env: "SIGNET_JWT_SIGNING_SECRET", default: "signet-jwt-signing" },
  "jwt-tls-secret": { type: "string", env: "SIGNET_JWT_TLS_SECRET", default: "signet-jwt-tls" },
  "jwt-dns-names": { type: "string", env: "SIGNET_JWT_DNS_NAMES", default: "" },
  "jwt-ip-addresses": { type: "string", env: "SIGNET_JWT_IP_ADDRESSES", default: "" },
  "jwt-key-rotation": { type: "string", env: "SIGNET_JWT_KEY_ROTATION", default: "24h" },
  "jwt-publish-ahead": { type: "string", env: "SIGNET_JWT_PUBLISH_AHEAD", default: "15m" },
  "proxy-image": { type: "string", env: "SIGNET_PROXY_IMAGE", default: "" },
  "enrollment-port": { type: "string", env: "SIGNET_ENROLLMENT_PORT", default: "8445" },
  "enrollment-host": { type: "string", env: "SIGNET_ENROLLMENT_HOST", default: "" },
  "enrollment-tls-secret": {
    type: "string",
    env: "SIGNET_ENROLLMENT_TLS_SECRET",
    default: "signet-enrollment-tls",
  },
  "enrollment-dns-names": { type: "string", env: "SIGNET_ENROLLMENT_DNS_NAMES", default: "" },
  "enrollment-ip-addresses": { type: "string", env: "SIGNET_ENROLLMENT_IP_ADDRESSES", default: "" },
} as const;

type Key = keyof typeof OPTIONS;

export class ConfigError extends Error {}

export function configUsage(): string {
  return Object.entries(OPTIONS)
    .map(([name, o]) => `  --${name.padEnd(34)} (env ${o.env}, default ${JSON.stringify(o.default)})`)
    .join("\n");
}

export function parseConfig(argv: string[], env: NodeJS.ProcessEnv = process.env): OperatorConfig {
  const { values } = parseArgs({
    args: argv,
    options: Object.fromEntries(Object.keys(OPTIONS).map((k) => [k, { type: "string" as const }])),
    strict: true,
    allowPositionals: false,
  });
  const get = (key: Key): string =>
    (values[key] as string | undefined) ?? env[OPTIONS[key].env] ?? OPTIONS[key].default;
  const duration = (key: Key): number => {
    try {
      return parseDuration(get(key));
    } catch (err) {
      throw new ConfigError(`--${key}: ${(err as Error).message}`);
    }
  };
  const port = (key: Key): number => {
    const n = Number(get(key));
    if (!Number.isInteger(n) || n < 0 || n > 65535)
      throw new ConfigError(`--${key}: ${get(key)} is not a port (0-65535)`);
    return n;
  };
  const list = (key: Key) =>
    get(key)
      .split(",")
      .map((s) => s.trim())
      .filter(Boolean);
  const namespace = get("namespace");
  const config: OperatorConfig = {
    trustDomain: get("trust-domain"),
    namespace,
    caSecretName: get("ca-secret"),
    userCaSecretName: get("user-ca-secret") || undefined,
    minTtlMs: duration("min-ttl"),
    maxTtlMs: duration("max-ttl"),
    watchNamespaces: list("watch-namespaces"),
    leaderElection: get("leader-elect") !== "false",
    leaseName: get("lease-name"),
    ownerDeployment: get("owner-deployment") || undefined,
    leaseDurationMs: duration("lease-duration"),
    renewDeadlineMs: duration("renew-deadline"),
    retryPeriodMs: duration("retry-period"),
    identity: get("identity") || `${env.HOSTNAME ?? "signet"}-${process.pid}`,
    metricsPort: port("metrics-port"),
    metricsHost: get("metrics-host"),
    webhookPort: port("webhook-port"),
    webhookHost: get("webhook-host") || undefined,
    webhookSecretName: get("webhook-secret"),
    webhookDnsNames: list("webhook-dns-names").length
      ? list("webhook-dns-names")
      : [`signet-webhook.${namespace}.svc`, `signet-webhook.${namespace}.svc.cluster.local`],
    webhookIpAddresses: list("webhook-ip-addresses"),
    webhookConfigurationName: get("webhook-configuration") || undefined,
    validatingWebhookConfigurationName: get("validating-webhook-configuration") || undefined,
    workers: Number(get("workers")),
    issuerSpreadMs: duration("issuer-spread"),
    rekeysPerSecond: Number(get("rekeys-per-second")),
    logLevel: get("log-level"),
    clusterDomain: get("cluster-domain"),
    podCertificateSigner: get("pod-certificate-signer") !== "false",
    trustBundle: get("trust-bundle") as TrustBundleMode,
    jwtPort: port("jwt-port"),
    jwtHost: get("jwt-host") || undefined,
    jwtIssuer: get("jwt-issuer") || `https://signet-jwt.${namespace}.svc:${port("jwt-port")}`,
    jwtSigningSecretName: get("jwt-signing-secret"),
    jwtTlsSecretName: get("jwt-tls-secret"),
    jwtDnsNames: list("jwt-dns-names").length
      ? list("jwt-dns-names")
      : [`signet-jwt.${namespace}.svc`, `signet-jwt.${namespace}.svc.cluster.local`],
    jwtIpAddresses: list("jwt-ip-addresses"),
    jwtKeyRotationMs: duration("jwt-key-rotation"),
    jwtPublishAheadMs: duration("jwt-publish-ahead"),
    proxyImage: get("proxy-image").trim() || undefined,
    enrollmentPort: port("enrollment-port"),
    enrollmentHost: get("enrollment-host") || undefined,
    enrollmentTlsSecretName: get("enrollment-tls-secret"),
    enrollmentDnsNames: list("enrollment-dns-names").length
      ? list("enrollment-dns-names")
      : [`signet-enrollment.${namespace}.svc`, `signet-enrollment.${namespace}.svc.cluster.local`],
    enrollmentIpAddresses: list("enrollment-ip-addresses"),
  };
  if (!TRUST_BUNDLE_MODES.includes(config.trustBundle)) {
    throw new ConfigError(
      `--trust-bundle: "${config.trustBundle}" is not one of ${TRUST_BUNDLE_MODES.join(", ")}; use auto unless ` +
        "pods must take ca.crt from one source whatever the API server serves",
    );
  }
  if (!/^[a-z0-9._-]+$/.test(config.trustDomain)) {
    throw new ConfigError(
      `--trust-domain: "${config.trustDomain}" may hold only lowercase letters, digits, ".", "-" and "_"`,
    );
  }
  if (isIP(config.metricsHost) === 0 && config.metricsHost !== "localhost") {
    throw new ConfigError(
      `--metrics-host: "${config.metricsHost}" is not an IP address; use 127.0.0.1, the pod IP, or 0.0.0.0 for every interface`,
    );
  }
  for (const ip of config.jwtIpAddresses) {
    if (isIP(ip) === 0)
      throw new ConfigError(
        `--jwt-ip-addresses: "${ip}" is not an IP address; list addresses such as 127.0.0.1`,
      );
  }
  let issuer: URL | undefined;
  try {
    issuer = new URL(config.jwtIssuer);
  } catch {}
  if (issuer?.protocol !== "https:" || issuer.search || issuer.hash || config.jwtIssuer.endsWith("/")) {
    throw new ConfigError(
      `--jwt-issuer: "${config.jwtIssuer}" must be an https URL without query, fragment or trailing "/" (OIDC discovery requires it)`,
    );
  }
  if (!(config.jwtPublishAheadMs > 0 && config.jwtPublishAheadMs < config.jwtKeyRotationMs)) {
    throw new ConfigError(
      "--jwt-publish-ahead must be positive and shorter than --jwt-key-rotation: a next key is published that long before it signs",
    );
  }
  for (const ip of config.enrollmentIpAddresses) {
    if (isIP(ip) === 0)
      throw new ConfigError(
        `--enrollment-ip-addresses: "${ip}" is not an IP address; list addresses such as 127.0.0.1`,
      );
  }
  for (const ip of config.webhookIpAddresses) {
    if (isIP(ip) === 0)
      throw new ConfigError(
        `--webhook-ip-addresses: "${ip}" is not an IP address; list addresses such as 127.0.0.1`,
      );
  }
  if (config.minTtlMs > config.maxTtlMs) throw new ConfigError("--min-ttl must not exceed --max-ttl");
  if (!(config.renewDeadlineMs < config.leaseDurationMs))
    throw new ConfigError("--renew-deadline must be shorter than --lease-duration");
  if (!Number.isInteger(config.workers) || config.workers < 1)
    throw new ConfigError("--workers must be a positive integer");
  if (!(config.rekeysPerSecond > 0) || !Number.isFinite(config.rekeysPerSecond))
    throw new ConfigError("--rekeys-per-second must be a positive number");
  return config;
}
