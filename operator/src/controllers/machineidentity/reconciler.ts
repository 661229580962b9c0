import type * as k8s from "@kubernetes/client-node";
import type { PodCertificateSupport } from "../../../../webhooks/src/decide.ts";
import type { AccessSchedule, IssuancePolicy } from "../../api/index.ts";
import {
  API_VERSION,
  IDENTITY_LABEL,
  type MachineIdentity,
  type MachineIdentityStatus,
  secretNameOf,
  TRUST_BUNDLE_CONFIGMAP,
} from "../../api/index.ts";
import type { Claimants } from "../../issuance/claim-index.ts";
import type { KubeClient } from "../../kube/client.ts";
import type { OwnWrites } from "../../kube/own-writes.ts";
import type { ReconcileResult } from "../../kube/queue.ts";
import type { PartialObjectMetadata } from "../../kube/resources.ts";
import {
  CONFIG_MAPS,
  MACHINE_IDENTITIES,
  type ResourceClient,
  resourceClient,
  SECRETS,
} from "../../kube/resources.ts";
import { evaluateRenewal, mintSvid, RenewalReason, renewalTime, type SecretData } from "../../pki/index.ts";
import type { PodCertificateTally } from "../../signer/tally.ts";
import type { EventSink } from "../../telemetry/events.ts";
import type { Logger } from "../../telemetry/logger.ts";
import type { SignetMetrics } from "../../telemetry/metrics.ts";
import type { CaState } from "../ca/store.ts";
import { isApiStatus, type ObjectCache } from "../shared/cache.ts";
import { jsonEqual } from "../shared/conditions.ts";
import { decodeSecretData } from "../shared/secret-data.ts";
import {
  desiredIdentity,
  type IdentityPolicy,
  identitySecret,
  tamperedWith,
  uidOf,
  withBundle,
} from "./desired.ts";
import { issuanceRefusal, windowOf } from "./issuable.ts";
import { type ReservedSecrets, type SecretClaim, secretClaim } from "./ownership.ts";
import { DEFAULT_ISSUER_SPREAD_MS, issuerMoveAt, onlyIssuerMoved, RekeyLimiter } from "./pacing.ts";
import { type Credential, type IdentityState, Reason, statusFor } from "./status.ts";
import { holdsTrustBundle, trustBundleConfigMap, trustBundleFieldManager } from "./trust-bundle.ts";

export { Reason };

/**
 * The API calls of the MachineIdentity controller: its Secrets (created, then server-side applied
 * by field manager "signet"), the trust ConfigMaps of PodCertificate identities (server-side
 * applied, one field manager per identity), and the identities' status.
 */
export interface MachineIdentityApi {
  secrets: Pick<ResourceClient<k8s.V1Secret>, "get" | "create" | "apply" | "delete">;
  configMaps: Pick<ResourceClient<k8s.V1ConfigMap>, "find" | "apply">;
  identities: Pick<ResourceClient<MachineIdentity>, "replaceStatus">;
}

export function machineIdentityApi(kube: KubeClient): MachineIdentityApi {
  return {
    secrets: resourceClient(kube, SECRETS),
    configMaps: resourceClient(kube, CONFIG_MAPS),
    identities: resourceClient(kube, MACHINE_IDENTITIES),
  };
}

export interface MachineIdentityReconcilerDeps {
  api: MachineIdentityApi;
  policy: IdentityPolicy;
  /** The CA to mint with and the bundle to trust, kept current by the CA store. */
  ca: () => CaState;
  identities: ObjectCache<MachineIdentity>;
  /** Only Signet-labelled Secrets. */
  secrets: ObjectCache<k8s.V1Secret>;
  schedules: ObjectCache<AccessSchedule>;
  /** Only pods that carry the identity label. */
  pods: ObjectCache<PartialObjectMetadata>;
  events: EventSink;
  metrics: SignetMetrics;
  log: Logger;
  now: () => Date;
  /** Told of every Secret and status this reconciler writes, so their watch events queue nothing. */
  ownWrites?: OwnWrites;
  /** Signet's own Secrets in its namespace, which no MachineIdentity may name. */
  reserved: ReservedSecrets;
  /** The identities that claim the same SPIFFE ID or Secret, from an index of the cache. */
  claimants: Claimants;
  /** What each namespace may claim: checked again before every mint, whatever admission said. */
  issuance: {
    clusterDomain: string;
    policies: () => readonly IssuancePolicy[];
    /** Undefined when the namespace is not known: then only the default rule grants anything. */
    namespaceLabels: (namespace: string) => Readonly<Record<string, string>> | undefined;
  };
  /**
   * Whether the API server serves pod certificates, and where their ca.crt comes from. Where it is a
   * ConfigMap, each PodCertificate identity keeps TRUST_BUNDLE_CONFIGMAP in its namespace; absent,
   * no ConfigMap is written.
   */
  podCertificateSupport?: (() => PodCertificateSupport) | undefined;
  /** What the PodCertificate signer did for each identity, reported in its status. */
  podCertificates?: Pick<PodCertificateTally, "get"> | undefined;
  /**
   * Queues another identity's key: when an identity lets go of a secretName (deleted, renamed, or
   * its Secret gone), the other identities naming it may now be the one to create it.
   */
  requeue?: (key: string) => void;
  /**
   * How a CA rotation reaches the identities. A leaf whose issuer no longer issues, but which the
   * bundle still trusts, moves to the new issuer at a jittered moment within `issuerSpreadMs`
   * (default 10 minutes, cut short by the leaf's own renewal time); every mint passes `limiter`
   * (default 20 re-keys per second), which holds back only those moves.
   */
  pacing?: { issuerSpreadMs?: number | undefined; limiter?: RekeyLimiter | undefined };
}

const RETRY_SOON_MS = 1_000;
/**
 * How soon an identity whose Secret cache has not caught up with our own write is looked at again:
 * the watch event of that write queues nothing (OwnWrites), so the reconcile asks again by itself.
 */
const UNOBSERVED_RECHECK_MS = 200;
/**
 * How often a refused claim is looked at again. A Secret Signet did not create is not in the cache,
 * so no watch event says when it goes away.
 */
const CONFLICT_RECHECK_MS = 60_000;

/**
 * What converging the Secret came to: the state the status reports (none when a race was lost and
 * nothing is known), when to look again, and the error to back off on.
 */
interface Outcome {
  state?: IdentityState | undefined;
  result?: ReconcileResult | undefined;
  error?: Error | undefined;
}

/** A write or delete lost a resourceVersion race: the cache is behind, so look again soon. */
const LOST: Outcome = { result: { requeueAfterMs: RETRY_SOON_MS } };

/** The Secret cache does not show our last write yet: nothing is decided from it, nor reported. */
const UNOBSERVED: Outcome = { result: { requeueAfterMs: UNOBSERVED_RECHECK_MS } };

/**
 * Level-based reconcile of one MachineIdentity into its kubernetes.io/tls Secret and status:
 * read from the caches, decide with the pure PKI and schedule functions, then at most one Secret
 * write, one status write and the events that explain them.
 */
export class MachineIdentityReconciler {
  readonly #d: MachineIdentityReconcilerDeps;
  readonly #secrets: MachineIdentityApi["secrets"];
  readonly #identities: MachineIdentityApi["identities"];
  /** The secretName each identity named when last reconciled, and whether it held that Secret. */
  readonly #claims = new Map<string, { secretName: string; held: boolean }>();
  readonly #limiter: RekeyLimiter;
  readonly #spreadMs: number;
  /** When this reconciler first saw each issuing CA (by fingerprint): the start of its spread. */
  readonly #issuerSince = new Map<string, number>();

  constructor(deps: MachineIdentityReconcilerDeps) {
    this.#d = deps;
    this.#limiter = deps.pacing?.limiter ?? new RekeyLimiter();
    this.#spreadMs = deps.pacing?.issuerSpreadMs ?? DEFAULT_ISSUER_SPREAD_MS;
    this.#secrets = deps.api.secrets;
    this.#identities = deps.api.identities;
  }

  async reconcile(key: string): Promise<ReconcileResult | undefined> {
    const [namespace = "", name = ""] = key.split("/");
    const mi = this.#d.identities.get(namespace, name);
    if (!mi) {
      // Its Secret goes with it through the owner reference; until the garbage collector has
      // removed it, the entry stays so that the Secret's delete event wakes the other claimants.
      const last = this.#claims.get(key);
      if (last) {
        this.#wakeClaimants(namespace, last.secretName, name);
        if (!this.#d.secrets.get(namespace, last.secretName)) this.#claims.delete(key);
      }
      return undefined;
    }
    const now = this.#d.now();
    const consumers = this.#d.pods
      .list(namespace)
      .filter((p) => p.metadata?.labels?.[IDENTITY_LABEL] === name).length;
    const outcome = await this.#converge(mi, key, namespace, name, now);
    // The one status write of the reconcile, from what it found and did.
    if (outcome.state) {
      const facts = {
        generation: mi.metadata?.generation,
        consumers,
        state: outcome.state,
        podCertificates: this.#d.podCertificates?.get(key),
      };
      await this.#writeStatus(mi, statusFor(facts, mi.status, now));
    }
    if (outcome.error) throw outcome.error;
    return outcome.result;
  }

  /** Brings the identity's Secret to what its spec, claim, schedule and CA say, and tells what it did. */
  async #converge(
    mi: MachineIdentity,
    key: string,
    namespace: string,
    name: string,
    now: Date,
  ): Promise<Outcome> {
    const desired = desiredIdentity(mi, this.#d.policy);
    const secretName = secretNameOf(mi);
    let secret = this.#d.secrets.get(namespace, secretName);
    // The identity and Secret caches are fed by separate watches: the identity's status may already
    // tell of a Secret we wrote that the Secret cache lacks, or holds only in an older version. That
    // is a cache behind, not a deletion or an edit by hand, which come after our write and so show
    // as a delete event or a newer version.
    if (this.#d.ownWrites?.unobserved("Secret", namespace, secretName, secret)) return UNOBSERVED;
    // A Secret Signet did not label is not cached: once a claim was refused for one, it is read
    // before minting again, so a standing conflict costs a GET rather than a new key.
    // And a Secret the status says was issued but the cache does not show, once the wait for our
    // own write is over, is read too: a deletion is a 404 there, a cache that lost track is not.
    if (!secret && (readyReasonOf(mi) === Reason.SecretConflict || mi.status?.serialNumber !== undefined)) {
      secret = await this.#readSecret(namespace, secretName);
    }
    const claim = secretClaim({
      identity: mi,
      secret,
      sameNamespaceIdentities: this.#d.claimants.bySecretName(namespace, secretName),
      reserved: this.#d.reserved,
    });
    this.#observeClaim(key, namespace, name, secretName, claim.ok && secret !== undefined);

    if (!desired.ok) return { state: { kind: "InvalidSpec", message: desired.message } };

    // Nothing below may write or delete a Secret that is not this identity's own.
    if (!claim.ok) return this.#refuse(mi, claim);

    // Nor mint what the namespace may not claim, or a SPIFFE ID another identity holds; a
    // credential minted before the claim was withdrawn is revoked.
    const refusal = this.#issuanceRefusal(mi);
    if (refusal) {
      const revoked = await this.#revoke(mi, secret, refusal.reason, refusal.message);
      if (!revoked) return LOST;
      return this.#refuse(mi, refusal);
    }

    if (mi.spec.suspend) {
      const revoked = await this.#revoke(
        mi,
        secret,
        Reason.Suspended,
        "spec.suspend is true: the credential was revoked",
      );
      if (!revoked) return LOST;
      return { state: { kind: "Suspended" } };
    }

    let windowEnd: Date | undefined;
    let windowRequeue: number | undefined;
    if (mi.spec.scheduleRef) {
      const window = windowOf(mi, this.#d.schedules.get(namespace, mi.spec.scheduleRef.name), now);
      if (!window.open) {
        const revoked = await this.#revoke(mi, secret, window.reason, window.message);
        if (!revoked) return LOST;
        const next = window.nextTransition;
        return {
          state: { kind: "Inactive", reason: window.reason, message: window.message },
          result: next ? { requeueAfterMs: Math.max(0, next.getTime() - now.getTime()) } : undefined,
        };
      }
      windowEnd = window.windowEnd;
      if (window.nextTransition) windowRequeue = window.nextTransition.getTime() - now.getTime();
    }

    if (mi.spec.delivery === "PodCertificate" || mi.spec.delivery === "External") {
      // The kubelet (or the enrolled machine) generates each key and asks Signet for its
      // certificate: no Secret holds this identity, and one left from Secret delivery is removed
      // with its key.
      const external = mi.spec.delivery === "External";
      const revoked = await this.#revoke(
        mi,
        secret,
        Reason.Revoked,
        external
          ? "spec.delivery is External: each enrolled machine holds its own key, so the Secret was removed"
          : "spec.delivery is PodCertificate: the kubelet holds each pod's key, so the Secret was removed",
      );
      if (!revoked) return LOST;
      const signing: Outcome = {
        state: { kind: "Signing", spiffeID: desired.svid.spiffeId, windowEnd, external },
        result: windowRequeue === undefined ? undefined : { requeueAfterMs: Math.max(0, windowRequeue) },
      };
      const support = this.#d.podCertificateSupport?.();
      if (!external && support?.supported && support.trustBundle === "ConfigMap") {
        const error = await this.#keepTrustBundle(mi).then(
          () => undefined,
          (err: unknown) => (err instanceof Error ? err : new Error(String(err))),
        );
        if (error) return { ...signing, error };
      }
      return signing;
    }

    const ca = this.#d.ca();
    const tamper = secret ? tamperedWith(secret) : undefined;
    const deletedByHand = !secret && mi.status?.serialNumber !== undefined;
    if (tamper || deletedByHand) {
      const what = tamper ?? "it was deleted";
      this.#d.metrics.tamperDetected.inc({ kind: "Secret" });
      this.#d.events.record(
        mi,
        "Warning",
        Reason.TamperDetected,
        `Secret ${namespace}/${secretName} was changed outside Signet (${what}); a new credential replaces it`,
      );
    }
    // Decoded once: the renewal chain and the trust-bundle check both read it.
    const current = secret ? decodeSecretData(secret.data) : undefined;
    const renewalInput = {
      secret: tamper || !current ? undefined : (current as SecretData),
      desired: desired.svid,
      issuer: ca.issuer,
      trustBundlePem: ca.bundlePem,
      now,
      windowEnd,
      jitterKey: uidOf(mi) || key,
    };
    let decision = evaluateRenewal(renewalInput);
    const paceMs = this.#pace(decision, renewalInput, ca, now, key, mi);
    if (paceMs !== undefined) decision = { ...decision, reissue: false };
    // Whatever remains (a current leaf, or one waiting for its move) chains to the bundle, so only
    // ca.crt is brought up to date: same key, same certificate.
    if (!decision.reissue && secret && current && current["ca.crt"] !== ca.bundlePem) {
      const written = await this.#writeSecret(mi, withBundle(mi, secret, ca.bundlePem), secret);
      if (written === "lost") return LOST;
      if (written !== "written") return this.#refuse(mi, written);
      this.#d.log.debug({ identity: key }, "trust bundle updated");
    }

    const view = decision.view;
    let credential: Credential | undefined = view && {
      spiffeID: view.spiffeId,
      serialNumber: view.serialNumber,
      notBefore: view.notBefore,
      notAfter: view.notAfter,
      renewalTime: decision.renewalTime,
    };
    let minted: { replaced: boolean } | undefined;
    if (decision.reissue) {
      const issued = await this.#issue(mi, desired, ca, now, windowEnd, key).then(
        (value) => ({ ok: true as const, ...value }),
        (err: unknown) => ({
          ok: false as const,
          error: err instanceof Error ? err : new Error(String(err)),
        }),
      );
      if (!issued.ok) {
        const { error } = issued;
        this.#d.metrics.svidsFailed.inc({ namespace, reason: "MintFailed" });
        this.#d.events.record(mi, "Warning", Reason.IssuanceFailed, error.message);
        // The certificate left in place still serves only when the reissue was a renewal ahead of
        // its expiry or a move to a new issuer that the bundle still trusts.
        const serves =
          decision.reason === RenewalReason.NearingRenewal || onlyIssuerMoved(decision, renewalInput);
        const unfit = serves ? undefined : { reason: decision.reason, message: decision.message };
        return {
          state: {
            kind: "Active",
            credential: credential && { ...credential, unfit },
            issuanceError: error.message,
            windowEnd,
          },
          error,
        };
      }
      const { svid, renewalAt } = issued;
      const body = identitySecret(mi, desired.secretName, svid, ca.bundlePem);
      const written = await this.#writeSecret(mi, body, secret);
      if (written === "lost") return LOST;
      if (written !== "written") return this.#refuse(mi, written);
      const first = !secret && mi.status?.serialNumber === undefined;
      if (first) {
        this.#d.metrics.svidsIssued.inc({ namespace });
      } else {
        this.#d.metrics.svidsRotated.inc({ namespace });
      }
      this.#d.events.record(
        mi,
        "Normal",
        first ? Reason.Issued : Reason.Rotated,
        `${first ? "issued" : "rotated"} ${svid.spiffeId} serial ${svid.serialNumber}, valid until ${svid.notAfter.toISOString()} (${decision.reason}: ${decision.message})`,
      );
      this.#d.log.info(
        {
          identity: key,
          serial: svid.serialNumber,
          notAfter: svid.notAfter.toISOString(),
          reason: decision.reason,
        },
        first ? "issued" : "rotated",
      );
      credential = {
        spiffeID: svid.spiffeId,
        serialNumber: svid.serialNumber,
        notBefore: svid.notBefore,
        notAfter: svid.notAfter,
        renewalTime: renewalAt,
      };
      minted = { replaced: !first };
    }

    const due = [
      paceMs === undefined ? undefined : now.getTime() + paceMs,
      // A certificate from a clock ahead of ours makes the identity Ready only from its notBefore.
      credential && credential.notBefore > now ? credential.notBefore.getTime() : undefined,
      credential?.renewalTime?.getTime(),
      credential?.notAfter.getTime(),
      windowRequeue === undefined ? undefined : now.getTime() + windowRequeue,
    ]
      .filter((t): t is number => t !== undefined)
      .map((t) => t - now.getTime());
    return {
      state: { kind: "Active", credential, minted, windowEnd },
      result: due.length > 0 ? { requeueAfterMs: Math.max(0, Math.min(...due)) } : undefined,
    };
  }

  /**
   * Milliseconds to wait before reissuing, when the reissue only moves the leaf to a new issuer
   * and its spread moment or the limiter says not yet; undefined when it goes ahead (counted).
   */
  #pace(
    decision: ReturnType<typeof evaluateRenewal>,
    input: Parameters<typeof evaluateRenewal>[0],
    ca: CaState,
    now: Date,
    key: string,
    mi: MachineIdentity,
  ): number | undefined {
    if (!decision.reissue) return undefined;
    const nowMs = now.getTime();
    if (!onlyIssuerMoved(decision, input) || !decision.renewalTime) {
      this.#limiter.force(nowMs);
      return undefined;
    }
    const issuer = ca.issuer.certificate.fingerprint256;
    let anchorMs = this.#issuerSince.get(issuer);
    if (anchorMs === undefined) {
      anchorMs = nowMs;
      this.#issuerSince.set(issuer, anchorMs);
    }
    const at = issuerMoveAt({
      anchorMs,
      spreadMs: this.#spreadMs,
      renewalAtMs: decision.renewalTime.getTime(),
      jitterKey: uidOf(mi) || key,
      issuer,
    });
    if (nowMs < at) return at - nowMs;
    const grant = this.#limiter.tryAcquire(nowMs, key);
    return grant.granted ? undefined : grant.retryAfterMs;
  }

  async #issue(
    mi: MachineIdentity,
    desired: Extract<ReturnType<typeof desiredIdentity>, { ok: true }>,
    ca: CaState,
    now: Date,
    windowEnd: Date | undefined,
    key: string,
  ) {
    const svid = await mintSvid({
      ca: ca.issuer,
      spiffeId: desired.svid.spiffeId,
      dnsNames: desired.svid.dnsNames,
      ttlMs: desired.svid.ttlMs,
      keyAlgorithm: desired.svid.keyAlgorithm,
      now,
      notAfterLimit: windowEnd,
    });
    const renewalAt = renewalTime({
      notBefore: svid.notBefore,
      notAfter: svid.notAfter,
      renewBeforeMs: desired.svid.renewBeforeMs,
      jitterKey: uidOf(mi) || key,
      serialNumber: svid.serialNumber,
    });
    return { svid, renewalAt };
  }

  /**
   * Creates the Secret, or applies Signet's fields to the very version the claim was checked on:
   * "lost" when it lost a race, the refused claim when the name turns out to be held by a Secret
   * the cache did not show.
   */
  async #writeSecret(
    mi: MachineIdentity,
    body: k8s.V1Secret,
    cached: k8s.V1Secret | undefined,
  ): Promise<"written" | "lost" | Extract<SecretClaim, { ok: false }>> {
    const namespace = body.metadata?.namespace ?? "";
    const name = body.metadata?.name ?? "";
    try {
      if (cached) {
        // Server-side apply of Signet's fields only, so labels and annotations others put on the
        // Secret stay. Its uid and resourceVersion are preconditions: a Secret changed since the
        // claim was checked, deleted or replaced by another of the same name is not written (409).
        const { uid, resourceVersion } = cached.metadata ?? {};
        // Written first: `ownWrites?.record(…, await …)` would skip the write without ownWrites.
        const written = await this.#secrets.apply({
          ...body,
          metadata: { ...body.metadata, namespace, name, uid, resourceVersion },
        });
        this.#d.ownWrites?.record("Secret", written);
      } else {
        // A create, not an apply: an apply would also write over a Secret of this name that the
        // cache does not show, which may be someone else's; a create refuses any that exists.
        const written = await this.#secrets.create({ ...body, metadata: { ...body.metadata, namespace } });
        this.#d.ownWrites?.record("Secret", written);
      }
      return "written";
    } catch (err) {
      if (isApiStatus(err, 409) && !cached) {
        // Not in our cache yet exists: either the cache lags, or the Secret lost Signet's
        // managed-by label, or it belongs to someone else. The same rule as for a cached one decides.
        const existing = await this.#readSecret(namespace, name);
        if (!existing) return "lost";
        const claim = secretClaim({
          identity: mi,
          secret: existing,
          sameNamespaceIdentities: this.#d.claimants.bySecretName(namespace, name),
          reserved: this.#d.reserved,
        });
        if (!claim.ok) return claim;
        return this.#writeSecret(mi, body, existing);
      }
      if (isApiStatus(err, 409) || isApiStatus(err, 404)) return "lost";
      throw err;
    }
  }

  /**
   * Brings the namespace's trust ConfigMap to the current bundle with this identity's ownerReference.
   * Read first: most reconciles find it so, and a read costs the API server less than an apply. A
   * CA rotation requeues every identity, so the bundle follows it.
   */
  async #keepTrustBundle(mi: MachineIdentity): Promise<void> {
    const { bundlePem } = this.#d.ca();
    const namespace = mi.metadata?.namespace ?? "";
    const current = await this.#d.api.configMaps.find(namespace, TRUST_BUNDLE_CONFIGMAP);
    if (holdsTrustBundle(current, mi, bundlePem)) return;
    await this.#d.api.configMaps.apply(trustBundleConfigMap(mi, bundlePem), {
      fieldManager: trustBundleFieldManager(mi),
    });
    this.#d.log.info(
      { identity: `${namespace}/${mi.metadata?.name}`, configMap: TRUST_BUNDLE_CONFIGMAP },
      "trust bundle ConfigMap written",
    );
  }

  async #readSecret(namespace: string, name: string): Promise<k8s.V1Secret | undefined> {
    try {
      return await this.#secrets.get(namespace, name);
    } catch (err) {
      if (isApiStatus(err, 404)) return undefined;
      throw err;
    }
  }

  /** Why the identity may not be minted for: a claim its namespace may not make, or a held SPIFFE ID. */
  #issuanceRefusal(mi: MachineIdentity): { reason: string; message: string } | undefined {
    return issuanceRefusal(mi, {
      trustDomain: this.#d.policy.trustDomain,
      clusterDomain: this.#d.issuance.clusterDomain,
      policies: this.#d.issuance.policies,
      namespaceLabels: this.#d.issuance.namespaceLabels,
      claimants: this.#d.claimants,
    });
  }

  /**
   * Reports a refused claim and writes nothing else: no Secret, no counter. The Warning event goes
   * out when the refusal is new, not on every recheck.
   */
  #refuse(
    mi: MachineIdentity,
    claim: Pick<Extract<SecretClaim, { ok: false }>, "message"> & { reason: string },
  ): Outcome {
    const previous = mi.status?.conditions?.find((c) => c.type === "Ready");
    if (previous?.reason !== claim.reason || previous.message !== claim.message) {
      this.#d.events.record(mi, "Warning", claim.reason, claim.message);
    }
    return {
      state: { kind: "Refused", reason: claim.reason, message: claim.message },
      result: claim.reason === Reason.SecretConflict ? { requeueAfterMs: CONFLICT_RECHECK_MS } : undefined,
    };
  }

  /**
   * Deletes the identity's own Secret, only the very version the cache showed. False when that
   * precondition failed: the cache is behind, and the reconcile is to be repeated.
   */
  async #revoke(
    mi: MachineIdentity,
    secret: k8s.V1Secret | undefined,
    reason: string,
    message: string,
  ): Promise<boolean> {
    if (!secret) return true;
    const namespace = secret.metadata?.namespace ?? "";
    const name = secret.metadata?.name ?? "";
    const { uid, resourceVersion } = secret.metadata ?? {};
    const preconditions = { ...(uid ? { uid } : {}), ...(resourceVersion ? { resourceVersion } : {}) };
    try {
      await this.#secrets.delete(namespace, name, { preconditions });
    } catch (err) {
      if (isApiStatus(err, 404)) return true;
      if (isApiStatus(err, 409)) return false;
      throw err;
    }
    this.#d.metrics.svidsRevoked.inc({ namespace, reason });
    this.#d.events.record(mi, "Normal", Reason.Revoked, `Secret ${namespace}/${name} removed: ${message}`);
    this.#d.log.info({ identity: `${namespace}/${mi.metadata?.name}`, reason }, "revoked");
    return true;
  }

  /**
   * Wakes the other claimants of a secretName this identity no longer names or no longer holds.
   * Only on that change, so two claimants that both lack the Secret never wake each other in turn.
   */
  #observeClaim(key: string, namespace: string, name: string, secretName: string, held: boolean): void {
    const last = this.#claims.get(key);
    if (last && (last.secretName !== secretName || (last.held && !held))) {
      this.#wakeClaimants(namespace, last.secretName, name);
    }
    this.#claims.set(key, { secretName, held });
  }

  #wakeClaimants(namespace: string, secretName: string, except: string): void {
    const requeue = this.#d.requeue;
    if (!requeue) return;
    for (const other of this.#d.claimants.bySecretName(namespace, secretName)) {
      if (other.metadata.name !== except) requeue(`${namespace}/${other.metadata.name}`);
    }
  }

  /** Replaces the status, guarded by the cached resourceVersion; a status equal to the cached one costs nothing. */
  async #writeStatus(mi: MachineIdentity, status: MachineIdentityStatus): Promise<void> {
    if (jsonEqual(status, mi.status)) return;
    const namespace = mi.metadata?.namespace ?? "";
    const name = mi.metadata?.name ?? "";
    const written = await this.#identities.replaceStatus({
      apiVersion: API_VERSION,
      kind: "MachineIdentity",
      metadata: { ...mi.metadata, namespace, name },
      spec: mi.spec,
      status,
    } as MachineIdentity);
    this.#d.ownWrites?.record("MachineIdentity", written);
  }
}

function readyReasonOf(mi: MachineIdentity): string | undefined {
  return mi.status?.conditions?.find((c) => c.type === "Ready")?.reason;
}
