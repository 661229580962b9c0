import * as k8s from "@kubernetes/client-node";

/**
 * Makes `user` a tenant of one namespace, as the threat model has it: every right on Signet's
 * resources, on pods (ephemeral containers included) and on the workload controllers' objects
 * there, none on Secrets.
 */
export async function grantTenant(admin: k8s.KubeConfig, namespace: string, user: string): Promise<void> {
  const rbac = admin.makeApiClient(k8s.RbacAuthorizationV1Api);
  await rbac.createNamespacedRole({
    namespace,
    body: {
      metadata: { name: user },
      rules: [
        { apiGroups: ["signet.dev"], resources: ["*"], verbs: ["*"] },
        { apiGroups: [""], resources: ["pods", "pods/ephemeralcontainers"], verbs: ["*"] },
        {
          apiGroups: ["apps"],
          resources: ["deployments", "replicasets", "statefulsets", "daemonsets"],
          verbs: ["*"],
        },
        { apiGroups: ["batch"], resources: ["jobs", "cronjobs"], verbs: ["*"] },
      ],
    },
  });
  await rbac.createNamespacedRoleBinding({
    namespace,
    body: {
      metadata: { name: user },
      roleRef: { apiGroup: "rbac.authorization.k8s.io", kind: "Role", name: user },
      subjects: [{ apiGroup: "rbac.authorization.k8s.io", kind: "User", name: user }],
    },
  });
}

export interface Rejection {
  code: number;
  message: string;
}

/** The API server's status code and message for a refused request; throws if it went through. */
export async function rejection(promise: Promise<unknown>): Promise<Rejection> {
  try {
    await promise;
  } catch (err) {
    if (!(err instanceof k8s.ApiException)) throw err;
    const body = typeof err.body === "string" ? (JSON.parse(err.body) as { message?: string }) : err.body;
    return { code: err.code, message: String((body as { message?: string } | undefined)?.message ?? "") };
  }
  throw new Error("the request was admitted");
}

/**
 * The admin's KubeConfig acting as `user` through impersonation: on any cluster whose admin may
 * impersonate, not only where the test can sign client certificates.
 */
export function impersonating(admin: k8s.KubeConfig, user: string): k8s.KubeConfig {
  const kc = new k8s.KubeConfig();
  const current = admin.getCurrentUser();
  if (!current) throw new Error("the admin kubeconfig has no current user");
  kc.loadFromOptions({
    clusters: admin.getClusters(),
    users: [{ ...current, impersonateUser: user }],
    contexts: admin.getContexts(),
    currentContext: admin.getCurrentContext(),
  });
  return kc;
}
