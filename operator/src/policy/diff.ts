import type {
  V1LabelSelector,
  V1NetworkPolicy,
  V1NetworkPolicyIngressRule,
  V1NetworkPolicyPeer,
  V1NetworkPolicyPort,
  V1NetworkPolicySpec,
} from "@kubernetes/client-node";
import { MANAGED_BY_LABEL, MANAGED_BY_VALUE } from "../api/names.ts";
import { SIGNET_LABEL_KEYS } from "./names.ts";
import { compareObjects, keyOf } from "./networkpolicies.ts";

export interface NetworkPolicyDiff {
  /** Desired objects that do not exist yet. */
  create: V1NetworkPolicy[];
  /** Desired objects whose existing spec or Signet labels differ, carrying the existing
   *  metadata.resourceVersion so that the write is guarded against concurrent change. */
  update: V1NetworkPolicy[];
  /** Existing Signet-managed objects that nothing asks for any more, as they were read. */
  delete: V1NetworkPolicy[];
}

/**
 * What to write so that the cluster's NetworkPolicies match the desired ones, for drift repair.
 *
 * Only what Signet owns is compared: the spec and the values of Signet's own label keys. Server-set
 * metadata (uid, resourceVersion, generation, timestamps, managedFields), ownerReferences, other
 * parties' labels and annotations, status, and fields the API server defaults (a port's protocol,
 * policyTypes) never cause an update. Only objects labelled as managed by Signet are ever deleted;
 * an unlabelled object under a desired name is updated, which takes it over.
 */
export function networkPolicyDiff(
  desired: readonly V1NetworkPolicy[],
  actual: readonly V1NetworkPolicy[],
): NetworkPolicyDiff {
  const existing = new Map(actual.map((object) => [keyOf(object), object]));
  const wanted = new Set(desired.map(keyOf));
  const result: NetworkPolicyDiff = { create: [], update: [], delete: [] };

  for (const object of desired) {
    const current = existing.get(keyOf(object));
    if (current === undefined) {
      result.create.push(object);
    } else if (!sameLabels(object, current) || canonical(object.spec) !== canonical(current.spec)) {
      const update: V1NetworkPolicy = { ...object, metadata: { ...object.metadata } };
      if (update.metadata && current.metadata?.resourceVersion !== undefined) {
        update.metadata.resourceVersion = current.metadata.resourceVersion;
      }
      result.update.push(update);
    }
  }
  for (const object of actual) {
    if (!wanted.has(keyOf(object)) && object.metadata?.labels?.[MANAGED_BY_LABEL] === MANAGED_BY_VALUE) {
      result.delete.push(object);
    }
  }
  result.create.sort(compareObjects);
  result.update.sort(compareObjects);
  result.delete.sort(compareObjects);
  return result;
}

function sameLabels(desired: V1NetworkPolicy, actual: V1NetworkPolicy): boolean {
  const want = desired.metadata?.labels ?? {};
  const have = actual.metadata?.labels ?? {};
  const keys = new Set([...SIGNET_LABEL_KEYS, ...Object.keys(want)]);
  for (const key of keys) {
    if (want[key] !== have[key]) return false;
  }
  return true;
}

/** An ingress rule's peers whether it came through client-node's model (`_from`) or plain JSON (`from`). */
function ingressPeers(rule: V1NetworkPolicyIngressRule): V1NetworkPolicyPeer[] | undefined {
  return rule._from ?? (rule as { from?: V1NetworkPolicyPeer[] }).from;
}

function selector(s: V1LabelSelector | undefined) {
  if (s === undefined) return undefined;
  return { matchLabels: s.matchLabels ?? {}, matchExpressions: s.matchExpressions ?? [] };
}

function peers(list: V1NetworkPolicyPeer[] | undefined) {
  return (list ?? []).map((p) => ({
    ipBlock: p.ipBlock,
    namespaceSelector: selector(p.namespaceSelector),
    podSelector: selector(p.podSelector),
  }));
}

function portList(list: V1NetworkPolicyPort[] | undefined) {
  return (list ?? []).map((p) => ({ port: p.port, endPort: p.endPort, protocol: p.protocol ?? "TCP" }));
}

/**
 * A spec as a string that is equal for equivalent specs: defaults the API server fills in are
 * filled in, absent lists equal empty ones, and object keys are sorted. Peer selectors keep the
 * difference between absent and empty, which the API gives different meanings.
 */
function canonical(spec: V1NetworkPolicySpec | undefined): string {
  const ingress = (spec?.ingress ?? []).map((rule) => ({
    from: peers(ingressPeers(rule)),
    ports: portList(rule.ports),
  }));
  const egress = (spec?.egress ?? []).map((rule) => ({ to: peers(rule.to), ports: portList(rule.ports) }));
  const policyTypes = spec?.policyTypes ?? (egress.length > 0 ? ["Ingress", "Egress"] : ["Ingress"]);
  return stableStringify({
    podSelector: selector(spec?.podSelector) ?? selector({}),
    policyTypes,
    ingress,
    egress,
  });
}

function stableStringify(value: unknown): string {
  return JSON.stringify(value, (_key, v: unknown) =>
    v !== null && typeof v === "object" && !Array.isArray(v)
      ? Object.fromEntries(
          Object.entries(v)
            .filter(([, inner]) => inner !== undefined)
            .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)),
        )
      : v,
  );
}
