import type { V1Container, V1EphemeralContainer, V1Pod, V1Secret } from "@kubernetes/client-node";
import { stringify } from "yaml";
import { type IdentitySecretOwner, identityOfSecret } from "../api/identity-secret.ts";
import { API_VERSION, MACHINE_IDENTITY_KIND } from "../api/index.ts";
import { MANAGED_BY_LABEL, MANAGED_BY_VALUE } from "../api/names.ts";
import { compareStrings, daysUntil, relativeExpiry } from "../audit/time.ts";
import { type CredentialFacts, credentialsIn } from "./credentials.ts";

export const RISKS = ["low", "medium", "high"] as const;
export type Risk = (typeof RISKS)[number];

/** Rank of a risk, higher is worse, for sorting and for --fail-on. */
export function riskRank(risk: Risk): number {
  return RISKS.indexOf(risk);
}

export const SERVICE_ACCOUNT_TOKEN_TYPE = "kubernetes.io/service-account-token";
const SERVICE_ACCOUNT_ANNOTATION = "kubernetes.io/service-account.name";
const DAY_MS = 86_400_000;
/** A certificate valid longer than this is high risk: nobody rotates it often enough to matter. */
export const LONG_CERTIFICATE_DAYS = 365;
/** A certificate valid longer than this, up to LONG_CERTIFICATE_DAYS, is medium risk. */
export const MEDIUM_CERTIFICATE_DAYS = 90;
/** A token expiring further ahead than this counts as not expiring at all. */
export const LONG_TOKEN_DAYS = 365;
/** A token expiring further ahead than this, up to LONG_TOKEN_DAYS, is medium risk. */
export const MEDIUM_TOKEN_DAYS = 30;

/** How a pod reaches a Secret: "volume/<name>", "env/<container>/<VAR>", "envFrom/<container>", "imagePullSecrets". */
export interface Consumer {
  pod: string;
  serviceAccount: string;
  via: string[];
}

/** One credential in a Secret, its risk, and why, in metadata only. */
export type CredentialFinding = (
  | {
      kind: "Certificate";
      key: string;
      subject: string;
      issuer: string;
      selfSigned: boolean;
      isCa: boolean;
      notBefore: string;
      notAfter: string;
      validityDays: number;
      daysLeft: number;
      fingerprintSHA256: string;
      keyAlgorithm: string;
    }
  | { kind: "PrivateKey"; key: string; algorithm: string; encrypted: boolean }
  | { kind: "ServiceAccountToken"; key: string | null; serviceAccount: string | null }
  | {
      kind: "JWT";
      key: string;
      algorithm: string;
      issuer: string | null;
      expiresAt: string | null;
      daysLeft: number | null;
    }
  | { kind: "RegistryCredential"; key: string; registries: string[] }
) & { risk: Risk; reason: string };

export interface Suggestion {
  /** The MachineIdentity that would replace the credential; null when none would. */
  identity: string | null;
  /** The MachineIdentity manifest, when there is one to suggest. */
  yaml: string | null;
  /** One line: what to do. */
  hint: string;
}

export interface Finding {
  namespace: string;
  secret: string;
  type: string;
  risk: Risk;
  /** One line: the riskiest credential's reason. */
  reason: string;
  credentials: CredentialFinding[];
  consumers: Consumer[];
  suggestion: Suggestion;
}

export interface DiscoverReport {
  generatedAt: string;
  scanned: { secrets: number; pods: number; excluded: number };
  summary: Record<Risk, number>;
  findings: Finding[];
}

export interface DiscoverInput {
  now: Date;
  secrets: readonly V1Secret[];
  pods: readonly V1Pod[];
  /** The MachineIdentities of the scanned namespaces: the Secret each names and controls is Signet's. */
  identities: readonly IdentitySecretOwner[];
  /** The operator's namespace, where Signet keeps its CA and webhook certificate. */
  signetNamespace: string;
}

/** What makes a Secret Signet's own; see isSignetSecret. */
export interface SignetOwners {
  identity: (namespace: string, name: string) => IdentitySecretOwner | undefined;
  namespace: string;
}

export function signetOwners(identities: readonly IdentitySecretOwner[], namespace: string): SignetOwners {
  const byKey = new Map<string, IdentitySecretOwner>();
  for (const mi of identities) byKey.set(`${mi.metadata?.namespace ?? ""}/${mi.metadata?.name ?? ""}`, mi);
  return { identity: (ns, name) => byKey.get(`${ns}/${name}`), namespace };
}

/**
 * Signet's own Secrets are what replaces the rest: an identity Secret (the one a MachineIdentity of
 * its namespace names, controlled by that identity's uid), or a Secret labelled as Signet's in
 * Signet's own namespace (its CA, its webhook certificate). The managed-by label alone decides
 * nothing elsewhere: any tenant can set it on a static credential to hide it from the scan.
 */
export function isSignetSecret(secret: V1Secret, owners: SignetOwners): boolean {
  if (identityOfSecret(secret, owners.identity)) return true;
  return (
    secret.metadata?.namespace === owners.namespace &&
    secret.metadata?.labels?.[MANAGED_BY_LABEL] === MANAGED_BY_VALUE
  );
}

function add(map: Map<string, string[]>, secret: string, via: string): void {
  const list = map.get(secret) ?? [];
  if (!list.includes(via)) list.push(via);
  map.set(secret, list);
}

/** Every Secret a pod mounts or reads, and how. Pods can only reach Secrets in their own namespace. */
export function secretReferences(pod: V1Pod): Map<string, string[]> {
  const refs = new Map<string, string[]>();
  for (const volume of pod.spec?.volumes ?? []) {
    if (volume.secret?.secretName) add(refs, volume.secret.secretName, `volume/${volume.name}`);
    for (const source of volume.projected?.sources ?? []) {
      if (source.secret?.name) add(refs, source.secret.name, `volume/${volume.name}`);
    }
  }
  const containers: (V1Container | V1EphemeralContainer)[] = [
    ...(pod.spec?.initContainers ?? []),
    ...(pod.spec?.containers ?? []),
    ...(pod.spec?.ephemeralContainers ?? []),
  ];
  for (const container of containers) {
    for (const env of container.env ?? []) {
      const name = env.valueFrom?.secretKeyRef?.name;
      if (name) add(refs, name, `env/${container.name}/${env.name}`);
    }
    for (const from of container.envFrom ?? []) {
      if (from.secretRef?.name) add(refs, from.secretRef.name, `envFrom/${container.name}`);
    }
  }
  for (const pull of pod.spec?.imagePullSecrets ?? []) {
    if (pull.name) add(refs, pull.name, "imagePullSecrets");
  }
  return refs;
}

/** Whether the workload itself reads the Secret (the kubelet alone reads image pull Secrets). */
function readByWorkload(consumers: readonly Consumer[]): boolean {
  return consumers.some((c) => c.via.some((v) => v !== "imagePullSecrets"));
}

type Assessed = { risk: Risk; reason: string };

function assessCertificate(
  cert: Extract<CredentialFacts, { kind: "Certificate" }>,
  now: Date,
  withKey: boolean,
): CredentialFinding {
  const validityDays = Math.floor((cert.notAfter.getTime() - cert.notBefore.getTime()) / DAY_MS);
  const daysLeft = daysUntil(cert.notAfter, now);
  const what = `${cert.selfSigned ? "self-signed " : ""}${cert.isCa ? "CA " : ""}certificate in ${cert.key}${withKey ? " with its private key" : ""}`;
  let assessed: Assessed;
  if (cert.notAfter.getTime() <= now.getTime()) {
    assessed = {
      risk: "medium",
      reason: `${what} ${relativeExpiry(cert.notAfter, now)}: nothing renews it, and whatever uses it is failing or not checking expiry`,
    };
  } else if (validityDays > LONG_CERTIFICATE_DAYS) {
    assessed = {
      risk: "high",
      reason: `${what} valid for ${validityDays} days (${daysLeft} left): a stolen copy stays usable for years`,
    };
  } else if (validityDays > MEDIUM_CERTIFICATE_DAYS) {
    assessed = {
      risk: "medium",
      reason: `${what} valid for ${validityDays} days (${daysLeft} left): a stolen copy stays usable for months`,
    };
  } else {
    assessed = {
      risk: "low",
      reason: `${what} valid for ${validityDays} days (${daysLeft} left): short-lived, but static and rotated outside Signet`,
    };
  }
  return {
    kind: "Certificate",
    key: cert.key,
    subject: cert.subject,
    issuer: cert.issuer,
    selfSigned: cert.selfSigned,
    isCa: cert.isCa,
    notBefore: cert.notBefore.toISOString(),
    notAfter: cert.notAfter.toISOString(),
    validityDays,
    daysLeft,
    fingerprintSHA256: cert.fingerprintSHA256,
    keyAlgorithm: cert.keyAlgorithm,
    ...assessed,
  };
}

function assessToken(lifetime: string, read: boolean): Assessed {
  return read
    ? { risk: "high", reason: `${lifetime} and read by pods: whoever copies it keeps the access` }
    : { risk: "medium", reason: `${lifetime}; no pod reads it, so it is standing access nobody watches` };
}

function assessJwt(
  jwt: Extract<CredentialFacts, { kind: "JWT" }>,
  now: Date,
  read: boolean,
): CredentialFinding {
  const base = {
    kind: "JWT" as const,
    key: jwt.key,
    algorithm: jwt.algorithm,
    issuer: jwt.issuer ?? null,
    expiresAt: jwt.expiresAt?.toISOString() ?? null,
    daysLeft: jwt.expiresAt === undefined ? null : daysUntil(jwt.expiresAt, now),
  };
  const what = `${jwt.algorithm} JWT in ${jwt.key}`;
  if (jwt.expiresAt === undefined)
    return { ...base, ...assessToken(`${what} has no exp: it never expires`, read) };
  const days = daysUntil(jwt.expiresAt, now);
  if (days > LONG_TOKEN_DAYS) {
    return { ...base, ...assessToken(`${what} expires in ${days} days, as good as never`, read) };
  }
  if (days > MEDIUM_TOKEN_DAYS) {
    return {
      ...base,
      risk: "medium",
      reason: `${what} expires in ${days} days: a stolen copy stays usable for months`,
    };
  }
  if (jwt.expiresAt.getTime() <= now.getTime()) {
    return { ...base, risk: "low", reason: `${what} ${relativeExpiry(jwt.expiresAt, now)}: dead weight` };
  }
  return {
    ...base,
    risk: "low",
    reason: `${what} expires ${relativeExpiry(jwt.expiresAt, now)}: short-lived, but a static copy of a token belongs in a projected volume`,
  };
}

const TRUST_BUNDLE_KEYS = new Set(["ca.crt", "ca.pem", "ca-bundle.crt", "ca-bundle.pem", "trust-bundle.pem"]);

/**
 * The credentials of one Secret with their risk. Certificates count only next to a private key:
 * without the key a certificate is public. A key next to a certificate is judged with it, since the
 * certificate bounds what the key is good for; a bare key never expires.
 */
export function assessSecret(
  secret: V1Secret,
  consumers: readonly Consumer[],
  now: Date,
): CredentialFinding[] {
  const read = readByWorkload(consumers);
  const facts: CredentialFacts[] = [];
  const data = secret.data ?? {};
  for (const key of Object.keys(data).sort(compareStrings)) {
    // A token Secret's token is judged by the Secret's type; its ca.crt is the public cluster CA.
    if (secret.type === SERVICE_ACCOUNT_TOKEN_TYPE) break;
    facts.push(...credentialsIn(key, Buffer.from(data[key] ?? "", "base64").toString("utf8")));
  }
  const out: CredentialFinding[] = [];
  if (secret.type === SERVICE_ACCOUNT_TOKEN_TYPE) {
    const serviceAccount = secret.metadata?.annotations?.[SERVICE_ACCOUNT_ANNOTATION] ?? null;
    out.push({
      kind: "ServiceAccountToken",
      key: "token" in data ? "token" : null,
      serviceAccount,
      ...assessToken(
        `legacy token Secret for ServiceAccount ${serviceAccount ?? "(unnamed)"} never expires`,
        read,
      ),
    });
  }
  const keys = facts.filter((f) => f.kind === "PrivateKey");
  const leafCerts = facts.filter((f) => f.kind === "Certificate" && !TRUST_BUNDLE_KEYS.has(f.key));
  // A CA certificate next to a leaf is its chain or bundle; a CA certificate alone with a key is a CA.
  const certs = leafCerts.some((c) => c.kind === "Certificate" && !c.isCa)
    ? leafCerts.filter((c) => c.kind === "Certificate" && !c.isCa)
    : leafCerts;
  const withKey = keys.length > 0;
  for (const fact of facts) {
    switch (fact.kind) {
      case "Certificate":
        if (withKey && certs.includes(fact)) out.push(assessCertificate(fact, now, true));
        break;
      case "PrivateKey":
        if (certs.length === 0) {
          const what = `${fact.encrypted ? "encrypted " : ""}${fact.algorithm} private key in ${fact.key} with no certificate`;
          out.push({
            ...fact,
            ...(read
              ? { risk: "high" as const, reason: `${what}, read by pods: a key never expires` }
              : { risk: "medium" as const, reason: `${what}: a key never expires; no pod reads it` }),
          });
        }
        break;
      case "JWT":
        out.push(assessJwt(fact, now, read));
        break;
      case "RegistryCredential":
        out.push({
          ...fact,
          risk: "low",
          reason: `static registry password for ${fact.registries.join(", ")}: the kubelet's image credential provider can fetch short-lived ones`,
        });
        break;
    }
  }
  return out.sort((a, b) => riskRank(b.risk) - riskRank(a.risk) || compareStrings(a.key ?? "", b.key ?? ""));
}

const SUFFIXES = /-(tls|certs?|certificates?|keys?|tokens?|secrets?|creds|credentials|jwt)$/;

/** A MachineIdentity name for the workload behind a Secret: the Secret's name without its credential suffix. */
export function identityNameFor(secretName: string): string {
  const stem = secretName
    .toLowerCase()
    .replace(/[^a-z0-9-]+/g, "-")
    .replace(SUFFIXES, "")
    .slice(0, 63)
    .replace(/^-+|-+$/g, "");
  return stem === "" ? "workload" : stem;
}

function suggestionFor(
  secret: V1Secret,
  credentials: readonly CredentialFinding[],
  consumers: Consumer[],
): Suggestion {
  const name = secret.metadata?.name ?? "";
  const namespace = secret.metadata?.namespace ?? "default";
  if (credentials.every((c) => c.kind === "RegistryCredential")) {
    return {
      identity: null,
      yaml: null,
      hint: "Registry credentials are the kubelet's, not a workload identity: use a kubelet image credential provider or workload identity federation for the registry.",
    };
  }
  const serviceAccounts = [
    ...new Set(
      consumers.filter((c) => c.via.some((v) => v !== "imagePullSecrets")).map((c) => c.serviceAccount),
    ),
  ].sort(compareStrings);
  if (serviceAccounts.length === 0) {
    return {
      identity: null,
      yaml: null,
      hint: `No pod reads Secret ${namespace}/${name}: if nothing outside the cluster uses it, delete it; otherwise move its user to a MachineIdentity.`,
    };
  }
  const identity = identityNameFor(name);
  const yaml = stringify(
    {
      apiVersion: API_VERSION,
      kind: MACHINE_IDENTITY_KIND,
      metadata: { name: identity, namespace },
      spec: { serviceAccounts, ttl: "1h" },
    },
    { lineWidth: 0 },
  );
  return {
    identity,
    yaml,
    hint: `kubectl apply a MachineIdentity ${namespace}/${identity} for ServiceAccount${serviceAccounts.length === 1 ? "" : "s"} ${serviceAccounts.join(", ")}, give the pods label signet.dev/inject=true and annotation signet.dev/identity=${identity}, then delete Secret ${name}.`,
  };
}

/**
 * Finds the static credentials in `input.secrets` and the pods that use them, ranked by risk, in
 * metadata only. Signet's own Secrets are excluded: they are the short-lived replacement.
 */
export function buildDiscoverReport(input: DiscoverInput): DiscoverReport {
  const { now } = input;
  const consumersBySecret = new Map<string, Consumer[]>();
  for (const pod of input.pods) {
    const namespace = pod.metadata?.namespace ?? "default";
    for (const [secret, via] of secretReferences(pod)) {
      const key = `${namespace}/${secret}`;
      consumersBySecret.set(key, [
        ...(consumersBySecret.get(key) ?? []),
        { pod: pod.metadata?.name ?? "", serviceAccount: pod.spec?.serviceAccountName ?? "default", via },
      ]);
    }
  }
  const owners = signetOwners(input.identities, input.signetNamespace);
  let excluded = 0;
  const findings: Finding[] = [];
  for (const secret of input.secrets) {
    if (isSignetSecret(secret, owners)) {
      excluded++;
      continue;
    }
    const namespace = secret.metadata?.namespace ?? "default";
    const name = secret.metadata?.name ?? "";
    const consumers = [...(consumersBySecret.get(`${namespace}/${name}`) ?? [])].sort((a, b) =>
      compareStrings(a.pod, b.pod),
    );
    const credentials = assessSecret(secret, consumers, now);
    const [worst] = credentials;
    if (worst === undefined) continue;
    findings.push({
      namespace,
      secret: name,
      type: secret.type ?? "Opaque",
      risk: worst.risk,
      reason: worst.reason,
      credentials,
      consumers,
      suggestion: suggestionFor(secret, credentials, consumers),
    });
  }
  findings.sort(
    (a, b) =>
      riskRank(b.risk) - riskRank(a.risk) ||
      compareStrings(a.namespace, b.namespace) ||
      compareStrings(a.secret, b.secret),
  );
  const summary: Record<Risk, number> = { high: 0, medium: 0, low: 0 };
  for (const f of findings) summary[f.risk]++;
  return {
    generatedAt: now.toISOString(),
    scanned: { secrets: input.secrets.length, pods: input.pods.length, excluded },
    summary,
    findings,
  };
}

/** Whether any finding is at or above `threshold`: the --fail-on test. */
export function failsAt(report: DiscoverReport, threshold: Risk): boolean {
  return report.findings.some((f) => riskRank(f.risk) >= riskRank(threshold));
}
