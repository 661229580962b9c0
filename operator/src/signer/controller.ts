import type * as k8s from "@kubernetes/client-node";
import type { AccessSchedule, MachineIdentity } from "../api/index.ts";
import { IDENTITY_LABEL } from "../api/index.ts";
import type { CaState } from "../controllers/ca/store.ts";
import type { IdentityPolicy } from "../controllers/machineidentity/desired.ts";
import { type IssuanceRules, issuanceRefusal } from "../controllers/machineidentity/issuable.ts";
import type { ObjectCache } from "../controllers/shared/cache.ts";
import { isConflict, isNotFound } from "../kube/errors.ts";
import type { ReconcileResult } from "../kube/queue.ts";
import { type ResourceClient, timeString } from "../kube/resources.ts";
import { mintSvidForKey } from "../pki/mint.ts";
import type { EventSink } from "../telemetry/events.ts";
import type { Logger } from "../telemetry/logger.ts";
import type { SignetMetrics } from "../telemetry/metrics.ts";
import { decidePodCertificate, type PodFacts, type SignerDecision } from "./decide.ts";
import { type RequestKey, requestKey } from "./public-key.ts";
import { isAnswered, type PodCertificateRequest, type RequestCondition } from "./request.ts";
import type { PodCertificateTally } from "./tally.ts";

export interface SignerDeps {
  requests: ObjectCache<PodCertificateRequest>;
  /** The /status writes of answered requests. */
  api: Pick<ResourceClient<PodCertificateRequest>, "replaceStatus">;
  /** One GET of the pod a request names: its ServiceAccount, node and uid are not in the pod cache. */
  pods: Pick<ResourceClient<k8s.V1Pod>, "find">;
  identities: ObjectCache<MachineIdentity>;
  schedules: ObjectCache<AccessSchedule>;
  issuance: IssuanceRules;
  policy: IdentityPolicy;
  ca: () => CaState;
  tally: PodCertificateTally;
  events: EventSink;
  metrics: SignetMetrics;
  log: Logger;
  now: () => Date;
}

/**
 * Signet's signer for PodCertificateRequests addressed to signet.dev/svid: one reconcile answers
 * one request, once. The answer is decided by decidePodCertificate from the API's view of the pod
 * and the caches' view of its identity; an issued certificate is signed for the kubelet's key,
 * which never leaves the node. A request already answered (by this replica's predecessor, or by
 * anyone) is left alone: its status is immutable.
 */
export class PodCertificateSigner {
  readonly #d: SignerDeps;

  constructor(deps: SignerDeps) {
    this.#d = deps;
  }

  async reconcile(key: string): Promise<ReconcileResult | undefined> {
    const [namespace = "", name = ""] = key.split("/");
    const request = this.#d.requests.get(namespace, name);
    if (!request || isAnswered(request)) return undefined;
    const now = this.#d.now();
    const pod = await this.#pod(namespace, request.spec.podName);
    const identityName = pod?.labels[IDENTITY_LABEL];
    const identity = identityName ? this.#d.identities.get(namespace, identityName) : undefined;
    const scheduleName = identity?.spec.scheduleRef?.name;
    const requested = requestKey(request.spec);
    const decision = decidePodCertificate({
      request,
      key: requested,
      pod,
      identity,
      schedule: scheduleName ? this.#d.schedules.get(namespace, scheduleName) : undefined,
      issuanceRefusal: identity ? issuanceRefusal(identity, this.#d.issuance) : undefined,
      policy: this.#d.policy,
      ca: this.#d.ca().issuer,
      now,
    });
    return this.#answer(request, decision, requested, identity, now);
  }

  async #pod(namespace: string, name: string): Promise<PodFacts | undefined> {
    const pod = await this.#d.pods.find(namespace, name);
    if (!pod) return undefined;
    return {
      uid: pod.metadata?.uid ?? "",
      labels: pod.metadata?.labels ?? {},
      serviceAccountName: pod.spec?.serviceAccountName ?? "default",
      nodeName: pod.spec?.nodeName ?? "",
    };
  }

  async #answer(
    request: PodCertificateRequest,
    decision: SignerDecision,
    key: RequestKey,
    identity: MachineIdentity | undefined,
    now: Date,
  ): Promise<ReconcileResult | undefined> {
    const namespace = request.metadata?.namespace ?? "";
    const podRef = `${namespace}/${request.spec.podName}`;
    const at = timeString(now);
    let status: PodCertificateRequest["status"];
    if (decision.kind === "Issue") {
      // decidePodCertificate issues only for a key it could read.
      if (!key.ok) throw new Error("an Issue decision for an unreadable key");
      const minted = mintSvidForKey({
        ca: this.#d.ca().issuer,
        spiffeId: decision.spiffeId,
        dnsNames: decision.dnsNames,
        keyAlgorithm: key.algorithm,
        publicKeySpki: key.spki,
        notBefore: decision.notBefore,
        notAfter: decision.notAfter,
      });
      status = {
        conditions: [
          condition(
            "Issued",
            "Issued",
            `${decision.spiffeId} serial ${minted.serialNumber} for ${podRef}, valid until ${decision.notAfter.toISOString()}`,
            at,
          ),
        ],
        certificateChain: minted.chainPem,
        notBefore: timeString(decision.notBefore),
        notAfter: timeString(decision.notAfter),
        beginRefreshAt: timeString(decision.beginRefreshAt),
      };
    } else {
      status = {
        conditions: [
          condition(decision.kind === "Deny" ? "Denied" : "Failed", decision.reason, decision.message, at),
        ],
      };
    }
    try {
      await this.#d.api.replaceStatus({ ...request, status });
    } catch (err) {
      // Someone answered first, or the kubelet gave the request up: nothing is left to do.
      if (isNotFound(err)) return undefined;
      // A newer version in the cache is looked at again (the watch event queues it).
      if (isConflict(err)) return { requeueAfterMs: 1_000 };
      throw err;
    }
    const outcome = decision.kind === "Issue" ? "Issued" : decision.kind === "Deny" ? "Denied" : "Failed";
    const reason = decision.kind === "Issue" ? "Issued" : decision.reason;
    this.#d.metrics.podCertificates.inc({ namespace, outcome, reason });
    const log = {
      request: `${namespace}/${request.metadata?.name}`,
      pod: podRef,
      identity: decision.identity,
    };
    if (decision.kind === "Issue") {
      this.#d.tally.issued(decision.identity, identity?.status?.podCertificates, now);
      this.#d.log.info(
        { ...log, spiffeId: decision.spiffeId, notAfter: decision.notAfter.toISOString() },
        "pod certificate issued",
      );
      return undefined;
    }
    this.#d.log.info(
      { ...log, outcome, reason: decision.reason, message: decision.message },
      "pod certificate request refused",
    );
    if (identity && decision.identity) {
      this.#d.tally.denied(decision.identity, identity.status?.podCertificates, {
        at: now,
        pod: podRef,
        reason: decision.reason,
        message: decision.message,
      });
      this.#d.events.record(
        identity,
        "Warning",
        decision.kind === "Deny" ? "PodCertificateDenied" : "PodCertificateFailed",
        `pod ${podRef}: ${decision.reason}: ${decision.message}`,
      );
    }
    return undefined;
  }
}

function condition(type: string, reason: string, message: string, at: string): RequestCondition {
  return { type, status: "True", reason, message, lastTransitionTime: at };
}
