import {
  DEFAULT_TTL,
  type IssuancePolicy,
  type KeyAlgorithm,
  type MachineIdentity,
  NAMESPACE_PLACEHOLDER,
  type Problem,
  parseDuration,
  spiffeIDOf,
} from "../api/index.ts";
import { selectorMatches } from "./selector.ts";

/** Reasons that appear verbatim in conditions, events and admission answers. */
export const IssuanceReason = {
  ClaimNotPermitted: "ClaimNotPermitted",
  SpiffeIDConflict: "SpiffeIDConflict",
} as const;

/** What a MachineIdentity asks for, with its defaults applied. */
export interface IdentityClaim {
  namespace: string;
  spiffeId: string;
  dnsNames: readonly string[];
  /** spec.ttl as written, for messages, and in milliseconds. */
  ttl: string;
  ttlMs: number;
  keyAlgorithm: KeyAlgorithm;
}

export interface ClaimRules {
  trustDomain: string;
  /** The cluster's DNS domain, as in <service>.<namespace>.svc.<clusterDomain>. */
  clusterDomain: string;
  /** Every IssuancePolicy of the cluster; those that select the namespace apply. */
  policies: readonly IssuancePolicy[];
  /**
   * Labels of the identity's namespace. Undefined when the namespace is not known: then no policy
   * selects it and only the default rule grants anything.
   */
  namespaceLabels: Readonly<Record<string, string>> | undefined;
}

const DNS_LABEL = /^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$/;
const SPIFFE_SEGMENT = /^[A-Za-z0-9._-]+$/;

/** The policies whose namespaceSelector selects the namespace, in name order. */
export function policiesFor(rules: ClaimRules): IssuancePolicy[] {
  const labels = rules.namespaceLabels;
  if (labels === undefined) return [];
  return rules.policies
    .filter((p) => selectorMatches(p.spec.namespaceSelector, labels))
    .sort((a, b) => compare(a.metadata.name, b.metadata.name));
}

/**
 * Everything the identity claims that its namespace may not: the SPIFFE ID, each DNS name, the ttl
 * and the key algorithm. Without an IssuancePolicy a namespace may claim only
 * spiffe://<trust domain>/ns/<namespace>/... and the DNS names of its own Services; the policies that
 * select it add SPIFFE ID and DNS name patterns (any one grants), and each bounds ttl and key types
 * (all apply). Empty when every claim is permitted.
 */
export function claimProblems(claim: IdentityClaim, rules: ClaimRules): Problem[] {
  const problems: Problem[] = [];
  const selecting = policiesFor(rules);
  const ns = claim.namespace;
  const grantedBy =
    selecting.length === 0
      ? `no IssuancePolicy selects namespace "${ns}"`
      : `none of the IssuancePolicies that select namespace "${ns}" (${selecting.map((p) => p.metadata.name).join(", ")}) grants it`;

  const id = parseSpiffeId(claim.spiffeId);
  if (!id) {
    problems.push({
      field: "spec.spiffeID",
      message: `${claim.spiffeId} is not a SPIFFE ID: use spiffe://${rules.trustDomain}/ns/${ns}/<path> with segments of letters, digits, '.', '-' and '_'`,
    });
  } else if (id.trustDomain !== rules.trustDomain) {
    problems.push({
      field: "spec.spiffeID",
      message: `${claim.spiffeId} is outside this cluster's trust domain ${rules.trustDomain}; use spiffe://${rules.trustDomain}/ns/${ns}/...`,
    });
  } else if (!isOwnSpiffePath(id.segments, ns) && !selecting.some((p) => grantsSpiffeId(p, id, ns))) {
    problems.push({
      field: "spec.spiffeID",
      message: `namespace "${ns}" may not claim ${claim.spiffeId}: by default it may claim only spiffe://${rules.trustDomain}/ns/${ns}/..., and ${grantedBy}; choose an ID under /ns/${ns}/ or ask a cluster admin for an IssuancePolicy`,
    });
  }

  claim.dnsNames.forEach((name, i) => {
    const field = `spec.dnsNames[${i}]`;
    const labels = dnsLabels(name);
    if (!labels) {
      problems.push({
        field,
        message: `"${name}" is not a DNS name: use lowercase labels of letters, digits and '-' separated by single dots, no trailing dot, with '*' only as the whole leftmost label (IDNs in their xn-- form)`,
      });
      return;
    }
    if (isOwnServiceName(labels, ns, rules.clusterDomain)) return;
    if (selecting.some((p) => grantsDnsName(p, labels, ns))) return;
    problems.push({
      field,
      message: `namespace "${ns}" may not claim DNS name "${name}": by default it may claim only its own Services' names (<service>.${ns}, <service>.${ns}.svc, <service>.${ns}.svc.${rules.clusterDomain}, *.${ns}.svc and *.<service>.${ns}.svc forms), and ${grantedBy}; remove it or ask a cluster admin for an IssuancePolicy`,
    });
  });

  for (const policy of selecting) {
    const { maxTTL, keyAlgorithms } = policy.spec;
    if (maxTTL !== undefined && claim.ttlMs > parseDuration(maxTTL)) {
      problems.push({
        field: "spec.ttl",
        message: `ttl ${claim.ttl} is longer than ${maxTTL}, the maxTTL of IssuancePolicy ${policy.metadata.name} that selects namespace "${ns}"; choose a ttl of at most ${maxTTL}`,
      });
    }
    if (keyAlgorithms !== undefined && !keyAlgorithms.includes(claim.keyAlgorithm)) {
      problems.push({
        field: "spec.privateKey.algorithm",
        message: `key algorithm ${claim.keyAlgorithm} is not among the keyAlgorithms (${keyAlgorithms.join(", ")}) of IssuancePolicy ${policy.metadata.name} that selects namespace "${ns}"; choose one of them`,
      });
    }
  }
  return problems;
}

interface SpiffeId {
  trustDomain: string;
  segments: string[];
}

/** A SPIFFE ID split into its trust domain and path segments, or undefined when it is not one. */
export function parseSpiffeId(text: string): SpiffeId | undefined {
  const match = /^spiffe:\/\/([a-z0-9._-]+)((?:\/[^/]*)+)$/.exec(text);
  if (!match) return undefined;
  const segments = (match[2] as string).slice(1).split("/");
  if (segments.some((s) => s === "" || s === "." || s === ".." || !SPIFFE_SEGMENT.test(s))) return undefined;
  return { trustDomain: match[1] as string, segments };
}

/** /ns/<namespace>/<at least one more segment>: the form every namespace owns. */
function isOwnSpiffePath(segments: readonly string[], namespace: string): boolean {
  return segments.length >= 3 && segments[0] === "ns" && segments[1] === namespace;
}

function grantsSpiffeId(policy: IssuancePolicy, id: SpiffeId, namespace: string): boolean {
  return (policy.spec.spiffeIDs ?? []).some((pattern) => {
    const parsed = /^spiffe:\/\/([^/]+)((?:\/[^/]+)+)$/.exec(pattern);
    if (!parsed || parsed[1] !== id.trustDomain) return false;
    const segments = (parsed[2] as string)
      .slice(1)
      .split("/")
      .map((s) => s.replaceAll(NAMESPACE_PLACEHOLDER, namespace));
    return matchParts(segments, id.segments, (p, s) => globMatches(p, s));
  });
}

/** The labels of a DNS name, or undefined when it is not a well-formed (possibly wildcard) name. */
export function dnsLabels(name: string): string[] | undefined {
  if (name.length === 0 || name.length > 253) return undefined;
  const labels = name.split(".");
  for (const [i, label] of labels.entries()) {
    if (label === "*" && i === 0 && labels.length > 1) continue;
    if (!DNS_LABEL.test(label)) return undefined;
  }
  return labels;
}

/**
 * The names of the namespace's own Services: <svc>.<ns>, <svc>.<ns>.svc and
 * <svc>.<ns>.svc.<cluster domain>; the wildcard over every Service of the namespace,
 * *.<ns>.svc[.<cluster domain>]; and the wildcard over a headless Service's pods,
 * *.<svc>.<ns>.svc[.<cluster domain>]. Not *.<ns>, which would also cover names under a public
 * suffix of the same spelling.
 */
function isOwnServiceName(labels: readonly string[], namespace: string, clusterDomain: string): boolean {
  const domain = clusterDomain.split(".");
  const suffixes = [
    [namespace, "svc"],
    [namespace, "svc", ...domain],
  ];
  if (labels.length === 2 && labels[0] !== "*" && labels[1] === namespace) return true;
  for (const suffix of suffixes) {
    const head = labels.slice(0, labels.length - suffix.length);
    if (!equalParts(labels.slice(labels.length - suffix.length), suffix)) continue;
    if (head.length === 1) return true; // <svc> or *
    if (head.length === 2 && head[0] === "*" && head[1] !== "*") return true;
  }
  return false;
}

function grantsDnsName(policy: IssuancePolicy, labels: readonly string[], namespace: string): boolean {
  return (policy.spec.dnsNames ?? []).some((pattern) => {
    const parts = pattern.split(".").map((l) => l.replaceAll(NAMESPACE_PLACEHOLDER, namespace));
    // A requested wildcard label stands for every label, so only a pattern label that allows every
    // label (exactly "*") covers it.
    return matchParts(parts, labels, (p, l) => (l === "*" ? p === "*" : globMatches(p, l)));
  });
}

/**
 * Matches parts (path segments or DNS labels) against a pattern whose part "**" stands for one or
 * more parts and whose other parts match one part each.
 */
function matchParts(
  pattern: readonly string[],
  parts: readonly string[],
  one: (pattern: string, part: string) => boolean,
): boolean {
  const memo = new Map<number, boolean>();
  const from = (i: number, j: number): boolean => {
    const key = i * (parts.length + 1) + j;
    const known = memo.get(key);
    if (known !== undefined) return known;
    let result: boolean;
    if (i === pattern.length) result = j === parts.length;
    else if (j === parts.length) result = false;
    else if (pattern[i] === "**") result = from(i + 1, j + 1) || from(i, j + 1);
    else result = one(pattern[i] as string, parts[j] as string) && from(i + 1, j + 1);
    memo.set(key, result);
    return result;
  };
  return from(0, 0);
}

/** `*` matches any run of characters (none included); everything else matches itself. */
export function globMatches(pattern: string, text: string): boolean {
  const pieces = pattern.split("*");
  if (pieces.length === 1) return pattern === text;
  const first = pieces[0] as string;
  const last = pieces[pieces.length - 1] as string;
  if (text.length < first.length + last.length || !text.startsWith(first) || !text.endsWith(last))
    return false;
  let at = first.length;
  const end = text.length - last.length;
  for (const piece of pieces.slice(1, -1)) {
    const found = text.indexOf(piece, at);
    if (found < 0 || found + piece.length > end) return false;
    at = found + piece.length;
  }
  return true;
}

function equalParts(a: readonly string[], b: readonly string[]): boolean {
  return a.length === b.length && a.every((x, i) => x === b[i]);
}

/** One MachineIdentity that claims a SPIFFE ID. */
export interface SpiffeIdClaimant {
  namespace: string;
  name: string;
  uid: string;
  creationTimestamp: string | undefined;
  /** True when the identity already holds a certificate for this SPIFFE ID (status.spiffeID). */
  issued: boolean;
}

/**
 * The one claimant that holds a SPIFFE ID, when several MachineIdentities claim it: the one already
 * issued for it, then the one created first, then by namespace/name, so that every replica and
 * every reconcile picks the same holder, also for claimants created in the same second. A new
 * claimant can never take an ID from an identity that holds it.
 */
export function spiffeIdHolder(claimants: readonly SpiffeIdClaimant[]): SpiffeIdClaimant | undefined {
  let best: SpiffeIdClaimant | undefined;
  for (const c of claimants) if (!best || ranksBefore(c, best)) best = c;
  return best;
}

function ranksBefore(a: SpiffeIdClaimant, b: SpiffeIdClaimant): boolean {
  if (a.issued !== b.issued) return a.issued;
  const ta = a.creationTimestamp ? Date.parse(a.creationTimestamp) : Number.POSITIVE_INFINITY;
  const tb = b.creationTimestamp ? Date.parse(b.creationTimestamp) : Number.POSITIVE_INFINITY;
  if (ta !== tb) return ta < tb;
  const byName = compare(`${a.namespace}/${a.name}`, `${b.namespace}/${b.name}`);
  if (byName !== 0) return byName < 0;
  return compare(a.uid, b.uid) < 0;
}

function compare(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

/** The claim of a MachineIdentity whose spec the schema has already defaulted. */
export function claimOf(identity: MachineIdentity, trustDomain: string): IdentityClaim {
  return {
    namespace: identity.metadata.namespace ?? "",
    spiffeId: spiffeIDOf(identity, trustDomain),
    dnsNames: identity.spec.dnsNames ?? [],
    // Objects from the API server carry the CRD's defaults; these stand in for a spec read elsewhere.
    ttl: identity.spec.ttl ?? DEFAULT_TTL,
    ttlMs: parseDuration(identity.spec.ttl ?? DEFAULT_TTL),
    keyAlgorithm: identity.spec.privateKey?.algorithm ?? "ECDSA",
  };
}

function claimantOf(identity: MachineIdentity, spiffeId: string): SpiffeIdClaimant {
  const meta = identity.metadata as MachineIdentity["metadata"] & {
    uid?: string;
    creationTimestamp?: string;
  };
  return {
    namespace: meta.namespace ?? "",
    name: meta.name,
    uid: typeof meta.uid === "string" ? meta.uid : "",
    creationTimestamp: typeof meta.creationTimestamp === "string" ? meta.creationTimestamp : undefined,
    issued: identity.status?.spiffeID === spiffeId && identity.status.serialNumber !== undefined,
  };
}

/**
 * Why the identity may not hold its SPIFFE ID because another MachineIdentity of the cluster holds
 * it, or undefined when it is the holder. `others` may include the identity itself (matched by
 * namespace and name); an identity not yet created ranks after every existing claimant.
 */
export function spiffeIdConflict(
  identity: MachineIdentity,
  others: readonly MachineIdentity[],
  trustDomain: string,
): { holder: string; message: string } | undefined {
  const spiffeId = spiffeIDOf(identity, trustDomain);
  const self = claimantOf(identity, spiffeId);
  const rivals = others
    .filter((o) => !(o.metadata.namespace === self.namespace && o.metadata.name === self.name))
    .filter((o) => spiffeIDOf(o, trustDomain) === spiffeId)
    .map((o) => claimantOf(o, spiffeId));
  if (rivals.length === 0) return undefined;
  const holder = spiffeIdHolder([self, ...rivals]);
  if (!holder || holder === self) return undefined;
  const name = `MachineIdentity ${holder.namespace}/${holder.name}`;
  return {
    holder: name,
    message: `spec.spiffeID: ${spiffeId} is already held by ${name}; a SPIFFE ID belongs to one MachineIdentity in the cluster: choose another spec.spiffeID`,
  };
}
