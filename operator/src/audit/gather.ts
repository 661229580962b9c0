import * as k8s from "@kubernetes/client-node";
import {
  ACCESS_POLICY_PLURAL,
  ACCESS_SCHEDULE_PLURAL,
  GROUP,
  IDENTITY_LABEL,
  MACHINE_IDENTITY_PLURAL,
  VERSION,
} from "../api/index.ts";
import type {
  AuditIdentityObject,
  AuditInput,
  AuditPodObject,
  AuditPolicyObject,
  AuditScheduleObject,
} from "./report.ts";

/** One namespace, or every namespace the caller may list. */
export type Scope = { namespace: string } | { allNamespaces: true };

interface ListPage<T> {
  items: T[];
  metadata?: { _continue?: string; continue?: string };
}

const PAGE = 500;

/** Every item of a list, page by page, so a large cluster is read without one huge response. */
export async function listAll<T>(
  page: (params: { limit: number; _continue?: string }) => Promise<ListPage<T>>,
): Promise<T[]> {
  const items: T[] = [];
  let next: string | undefined;
  do {
    const result = await page(next === undefined ? { limit: PAGE } : { limit: PAGE, _continue: next });
    items.push(...result.items);
    next = result.metadata?._continue ?? result.metadata?.continue;
  } while (next);
  return items;
}

export function isForbidden(err: unknown): boolean {
  return (err as { code?: number }).code === 403;
}

/** Every object of one Signet kind in the scope, page by page. */
export async function listCustom<T>(kc: k8s.KubeConfig, plural: string, scope: Scope): Promise<T[]> {
  const api = kc.makeApiClient(k8s.CustomObjectsApi);
  return listAll(
    (params) =>
      ("namespace" in scope
        ? api.listNamespacedCustomObject({
            group: GROUP,
            version: VERSION,
            plural,
            namespace: scope.namespace,
            ...params,
          })
        : api.listCustomObjectForAllNamespaces({
            group: GROUP,
            version: VERSION,
            resourcePlural: plural,
            ...params,
          })) as Promise<ListPage<T>>,
  );
}

export interface GatheredAudit {
  input: Omit<AuditInput, "now" | "trustDomain">;
  /** What could not be read, in words for stderr; the report is then partial in the way each says. */
  warnings: string[];
}

/**
 * Reads what the audit needs. AccessPolicies and AccessSchedules are read cluster-wide even for one
 * namespace, because a policy in another namespace may list this namespace's identities as
 * sources; without the right to do so, the audit says so and covers the one namespace. With
 * `ownNamespaceOnly` they are read in the one namespace only, for a caller that shows no access
 * from elsewhere (`signet status`).
 */
export async function gatherAudit(
  kc: k8s.KubeConfig,
  scope: Scope,
  options: { ownNamespaceOnly?: boolean } = {},
): Promise<GatheredAudit> {
  const warnings: string[] = [];
  const core = kc.makeApiClient(k8s.CoreV1Api);
  const wide = async <T>(plural: string): Promise<T[]> => {
    if (!("namespace" in scope) || options.ownNamespaceOnly === true) return listCustom<T>(kc, plural, scope);
    try {
      return await listCustom<T>(kc, plural, { allNamespaces: true });
    } catch (err) {
      if (!isForbidden(err)) throw err;
      warnings.push(
        `cannot list ${plural} in all namespaces; only those in namespace ${scope.namespace} are shown, so access from this namespace granted by policies elsewhere is missing`,
      );
      return listCustom<T>(kc, plural, scope);
    }
  };
  const [identities, policies, schedules, pods] = await Promise.all([
    listCustom<AuditIdentityObject>(kc, MACHINE_IDENTITY_PLURAL, scope),
    wide<AuditPolicyObject>(ACCESS_POLICY_PLURAL),
    wide<AuditScheduleObject>(ACCESS_SCHEDULE_PLURAL),
    listAll<k8s.V1Pod>((params) =>
      "namespace" in scope
        ? core.listNamespacedPod({ namespace: scope.namespace, labelSelector: IDENTITY_LABEL, ...params })
        : core.listPodForAllNamespaces({ labelSelector: IDENTITY_LABEL, ...params }),
    ),
  ]);
  return {
    input: {
      identities,
      policies,
      schedules,
      pods: pods.map(
        (p): AuditPodObject => ({
          metadata: {
            name: p.metadata?.name ?? "",
            ...(p.metadata?.namespace === undefined ? {} : { namespace: p.metadata.namespace }),
            ...(p.metadata?.labels === undefined ? {} : { labels: p.metadata.labels }),
          },
        }),
      ),
    },
    warnings,
  };
}
