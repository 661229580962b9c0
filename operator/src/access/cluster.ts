import * as k8s from "@kubernetes/client-node";
import { GROUP, VERSION } from "../api/index.ts";
import { isConflict, isNotFound } from "../kube/errors.ts";
import { type AccessEvent, FIELD_MANAGER } from "./record.ts";
import { PLURAL_OF, type Target } from "./target.ts";

/** An object of a target kind as the API server returns it, read only as far as the commands need. */
export interface AccessObject {
  metadata: { name: string; namespace: string; uid?: string; resourceVersion?: string; generation?: number };
  spec?: {
    suspend?: boolean;
    scheduleRef?: { name?: string };
    grants?: { start: string; end: string; reason?: string }[];
    [field: string]: unknown;
  };
}

/**
 * The API calls of the access commands, with the credentials of the person running them: reads,
 * resourceVersion-guarded merge patches, who the API server says the caller is, and Events.
 */
export class AccessApi {
  readonly #objects: k8s.CustomObjectsApi;
  readonly #authn: k8s.AuthenticationV1Api;
  readonly #authz: k8s.AuthorizationV1Api;
  readonly #events: k8s.EventsV1Api;

  constructor(kc: k8s.KubeConfig) {
    this.#objects = kc.makeApiClient(k8s.CustomObjectsApi);
    this.#authn = kc.makeApiClient(k8s.AuthenticationV1Api);
    this.#authz = kc.makeApiClient(k8s.AuthorizationV1Api);
    this.#events = kc.makeApiClient(k8s.EventsV1Api);
  }

  async get(target: Target): Promise<AccessObject> {
    return (await this.#objects.getNamespacedCustomObject({
      group: GROUP,
      version: VERSION,
      plural: PLURAL_OF[target.kind],
      namespace: target.namespace,
      name: target.name,
    })) as AccessObject;
  }

  /** The object, or undefined when the API server says it does not exist. */
  async find(target: Target): Promise<AccessObject | undefined> {
    try {
      return await this.get(target);
    } catch (err) {
      if (isNotFound(err)) return undefined;
      throw err;
    }
  }

  /**
   * A JSON merge patch of `spec` fields, guarded by the resourceVersion the change was computed
   * from: when anyone wrote the object since, the API server answers 409 and nothing is written.
   */
  async patchSpec(
    target: Target,
    resourceVersion: string | undefined,
    spec: Record<string, unknown>,
    dryRun: boolean,
  ): Promise<AccessObject> {
    return (await this.#objects.patchNamespacedCustomObject(
      {
        group: GROUP,
        version: VERSION,
        plural: PLURAL_OF[target.kind],
        namespace: target.namespace,
        name: target.name,
        body: { metadata: { resourceVersion }, spec },
        fieldManager: FIELD_MANAGER,
        ...(dryRun ? { dryRun: "All" } : {}),
      },
      k8s.setHeaderOptions("Content-Type", k8s.PatchStrategy.MergePatch),
    )) as AccessObject;
  }

  /** The caller's user name as the API server authenticated it (a SelfSubjectReview). */
  async whoAmI(): Promise<string> {
    const review = await this.#authn.createSelfSubjectReview({
      body: { apiVersion: "authentication.k8s.io/v1", kind: "SelfSubjectReview" },
    });
    const name = review.status?.userInfo?.username;
    if (!name) throw new Error("the API server's SelfSubjectReview names no user");
    return name;
  }

  /** Whether the caller may create events.k8s.io Events in `namespace` (a SelfSubjectAccessReview). */
  async mayRecord(namespace: string): Promise<boolean> {
    const review = await this.#authz.createSelfSubjectAccessReview({
      body: {
        apiVersion: "authorization.k8s.io/v1",
        kind: "SelfSubjectAccessReview",
        spec: {
          resourceAttributes: { namespace, verb: "create", group: "events.k8s.io", resource: "events" },
        },
      },
    });
    return review.status?.allowed === true;
  }

  /** Creates the Event; returns its name. */
  async record(event: AccessEvent): Promise<string> {
    const created = await this.#events.createNamespacedEvent({
      namespace: event.metadata.namespace,
      // eventTime is already the MicroTime text the API server expects; the client sends it as it is.
      body: event as unknown as k8s.EventsV1Event,
    });
    return created.metadata?.name ?? "";
  }
}

const ATTEMPTS = 5;

/**
 * Runs read-decide-write `attempt` again while the guarded write loses to a concurrent one (409),
 * so that the change is computed from what the other writer left instead of overwriting it.
 */
export async function retryOnConflict<T>(attempt: () => Promise<T>): Promise<T> {
  for (let i = 1; ; i++) {
    try {
      return await attempt();
    } catch (err) {
      if (!isConflict(err) || i >= ATTEMPTS) throw err;
    }
  }
}
