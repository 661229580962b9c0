import { createHash } from "node:crypto";
import { MANAGED_BY_LABEL, POLICY_LABEL, TARGET_LABEL } from "../api/names.ts";

/** Set by the API server on every namespace; the only reliable way to select a namespace by name. */
export const NAMESPACE_NAME_LABEL = "kubernetes.io/metadata.name";

/** The label keys whose values Signet owns on its NetworkPolicies. */
export const SIGNET_LABEL_KEYS: readonly string[] = [MANAGED_BY_LABEL, POLICY_LABEL, TARGET_LABEL];

const MAX_NAME = 63;
const HASH_LENGTH = 10;
const DNS1123_LABEL = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/;
const LABEL_VALUE = /^(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?$/;

function shortHash(text: string): string {
  return createHash("sha256").update(text).digest("hex").slice(0, HASH_LENGTH);
}

/**
 * `prefix + name` when that is a DNS-1123 label of at most 63 characters; otherwise a readable
 * stem of it with a hash of the whole suffixed, so distinct names stay distinct. Resource names
 * may be 253-character subdomains with dots; NetworkPolicy names are kept to labels so they are
 * valid wherever a name is reused (a label value, a DNS name).
 */
export function boundedName(prefix: string, name: string): string {
  const full = `${prefix}${name}`;
  if (full.length <= MAX_NAME && DNS1123_LABEL.test(full)) return full;
  const stem = full
    .toLowerCase()
    .replace(/[^a-z0-9-]/g, "-")
    .slice(0, MAX_NAME - HASH_LENGTH - 1)
    .replace(/^-+|-+$/g, "");
  return stem === "" ? shortHash(full) : `${stem}-${shortHash(full)}`;
}

/** A label value for a name: the name itself when valid (at most 63 characters), else a stem and hash. */
export function labelValue(name: string): string {
  if (name.length <= MAX_NAME && LABEL_VALUE.test(name)) return name;
  const stem = name
    .replace(/[^A-Za-z0-9_.-]/g, "-")
    .slice(0, MAX_NAME - HASH_LENGTH - 1)
    .replace(/^[^A-Za-z0-9]+|[^A-Za-z0-9]+$/g, "");
  return stem === "" ? shortHash(name) : `${stem}-${shortHash(name)}`;
}

/** The default-deny NetworkPolicy of a target identity, shared by every policy naming it. */
export function denyNetworkPolicyName(identity: string): string {
  return boundedName("signet-deny-", identity);
}

/** The allow NetworkPolicy of one AccessPolicy. */
export function allowNetworkPolicyName(policyName: string): string {
  return boundedName("signet-allow-", policyName);
}
