import { X509Certificate } from "node:crypto";
import type * as k8s from "@kubernetes/client-node";
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { NOW, rootCa } from "../../../../testing/pki.ts";
import type { PodCertificateSupport } from "../../../../webhooks/src/decide.ts";
import {
  IDENTITY_SECRET_ANNOTATIONS,
  type MachineIdentity,
  secretNameOf,
  spiffeIDOf,
} from "../../api/index.ts";
import { OBSERVE_TIMEOUT_MS, OwnWrites } from "../../kube/own-writes.ts";
import { splitPemCertificates } from "../../pki/certificate.ts";
import { chainProblem, type RootCaMaterial, trustBundle } from "../../pki/index.ts";
import { createLogger } from "../../telemetry/logger.ts";
import { SignetMetrics } from "../../telemetry/metrics.ts";
import type { CaState } from "../ca/store.ts";
import { decodeSecretData } from "../shared/secret-data.ts";
import { tamperedWith } from "./desired.ts";
import { RekeyLimiter } from "./pacing.ts";
import { type MachineIdentityApi, MachineIdentityReconciler, Reason } from "./reconciler.ts";

const MINUTE = 60_000;
const NS = "shop";

interface Harness {
  reconciler: MachineIdentityReconciler;
  /** The Secrets as the API holds them. */
  secrets: Map<string, k8s.V1Secret>;
  /** The Secrets as the reconciler's cache shows them: the API's, unless the watch lags. */
  cached: Map<string, k8s.V1Secret>;
  /** Every write call the reconciler made, successful or not. */
  calls: string[];
  /** The bodies of the applies, as sent. */
  applied: k8s.V1Secret[];
  /** The MachineIdentities as the API holds them, status included. */
  identities: Map<string, MachineIdentity>;
  /** The ConfigMaps of the namespace as the API holds them. */
  configMaps: Map<string, k8s.V1ConfigMap>;
  /** The ConfigMap applies, as sent, with their field manager. */
  configMapApplies: { body: k8s.V1ConfigMap; fieldManager: string | undefined }[];
  /** What discovery says of pod certificates; served, with ClusterTrustBundles, unless a test says otherwise. */
  support: { value: PodCertificateSupport };
  /** The next ConfigMap apply fails with this error. */
  configMapFailure: { next?: Error | undefined };
  writes: k8s.V1Secret[];
  events: { reason: string; message: string }[];
  metrics: SignetMetrics;
  clock: { now: Date };
  ca: { state: CaState };
  reconcile(name?: string): ReturnType<MachineIdentityReconciler["reconcile"]>;
  /** From now on the Secret watch lags: the cache keeps what it shows until `catchUp`. */
  lag(): void;
  /** The Secret watch delivers the API's current state at once, as after a relist. */
  catchUp(): void;
  /** A change by someone else: the Secret as `edit` leaves it, or deleted when it returns undefined. */
  change(name: string, edit: (secret: k8s.V1Secret) => k8s.V1Secret | undefined): void;
}

function identity(name: string): MachineIdentity {
  return {
    apiVersion: "signet.dev/v1alpha1",
    kind: "MachineIdentity",
    metadata: { name, namespace: NS, uid: `uid-${name}`, generation: 1, creationTimestamp: new Date(0) },
    spec: { serviceAccounts: ["default"], ttl: "1h" },
  } as unknown as MachineIdentity;
}

/** The reconciler over in-memory caches and an API that applies writes to them. */
function harness(
  state: CaState,
  names: string[] = ["api"],
  pacing?: { spreadMs?: number; perSecond?: number },
) {
  const identities = new Map(names.map((n) => [n, identity(n)]));
  const secrets = new Map<string, k8s.V1Secret>();
  const cached = new Map<string, k8s.V1Secret>();
  const writes: k8s.V1Secret[] = [];
  const applied: k8s.V1Secret[] = [];
  const calls: string[] = [];
  const events: { reason: string; message: string }[] = [];
  const clock = { now: NOW };
  const ownWrites = new OwnWrites({ now: () => clock.now.getTime() });
  let lagging = false;
  /** The Secret watch, as runtime/units/identities.ts handles its events. */
  const deliver = () => {
    for (const [name, secret] of secrets) {
      if (cached.get(name)?.metadata?.resourceVersion === secret.metadata?.resourceVersion) continue;
      cached.set(name, secret);
      ownWrites.isOwn("Secret", secret);
    }
    for (const [name, secret] of cached) {
      if (secrets.has(name)) continue;
      cached.delete(name);
      ownWrites.forget("Secret", secret);
    }
  };
  let rv = 1;
  const store = (body: k8s.V1Secret) => {
    const stored = structuredClone({
      ...body,
      metadata: {
        ...body.metadata,
        uid: secrets.get(body.metadata?.name ?? "")?.metadata?.uid ?? `secret-uid-${rv}`,
        resourceVersion: String(++rv),
      },
    });
    secrets.set(body.metadata?.name ?? "", stored);
    if (!lagging) deliver();
    return stored;
  };
  const conflict = () => Object.assign(new Error("conflict"), { code: 409 });
  const configMaps = new Map<string, k8s.V1ConfigMap>();
  const configMapApplies: Harness["configMapApplies"] = [];
  const configMapFailure: Harness["configMapFailure"] = {};
  const api: MachineIdentityApi = {
    configMaps: {
      find: async (_ns, name) => structuredClone(configMaps.get(name)),
      // Server-side apply with force: what the body names is set; ownerReferences are a map by uid,
      // so each field manager's entry stays beside the others'.
      apply: async (body, options) => {
        calls.push("apply ConfigMap");
        const failure = configMapFailure.next;
        configMapFailure.next = undefined;
        if (failure) throw failure;
        configMapApplies.push({ body: structuredClone(body), fieldManager: options?.fieldManager });
        const name = body.metadata?.name ?? "";
        const current = configMaps.get(name);
        const owners = new Map(
          [...(current?.metadata?.ownerReferences ?? []), ...(body.metadata?.ownerReferences ?? [])].map(
            (o) => [o.uid, o],
          ),
        );
        const stored = structuredClone({
          ...current,
          ...body,
          metadata: {
            ...current?.metadata,
            ...body.metadata,
            labels: { ...current?.metadata?.labels, ...body.metadata?.labels },
            ownerReferences: [...owners.values()],
            resourceVersion: String(++rv),
          },
          data: { ...current?.data, ...body.data },
        });
        configMaps.set(name, stored);
        return stored;
      },
    },
    secrets: {
      create: async (body) => {
        calls.push("create");
        if (secrets.has(body.metadata?.name ?? "")) throw conflict();
        const stored = store(body);
        writes.push(stored);
        return stored;
      },
      // Server-side apply as the API server does it for one field manager: what the body names is
      // set, what others own stays; a uid or resourceVersion in the body must match.
      apply: async (body) => {
        calls.push("apply");
        applied.push(structuredClone(body));
        const current = secrets.get(body.metadata?.name ?? "");
        const { uid, resourceVersion } = body.metadata ?? {};
        if (
          (uid && current?.metadata?.uid !== uid) ||
          (resourceVersion && current && current.metadata?.resourceVersion !== resourceVersion)
        ) {
          throw conflict();
        }
        const owners = new Map(
          [...(current?.metadata?.ownerReferences ?? []), ...(body.metadata?.ownerReferences ?? [])].map(
            (o) => [o.uid, o],
          ),
        );
        const stored = store({
          ...current,
          ...body,
          metadata: {
            ...current?.metadata,
            ...body.metadata,
            labels: { ...current?.metadata?.labels, ...body.metadata?.labels },
            annotations: { ...current?.metadata?.annotations, ...body.metadata?.annotations },
            ownerReferences: [...owners.values()],
          },
          data: { ...current?.data, ...body.data },
        });
        writes.push(stored);
        return stored;
      },
      get: async (_ns, name) => {
        const found = secrets.get(name);
        if (!found) throw Object.assign(new Error("not found"), { code: 404 });
        return found;
      },
      delete: async (_ns, name, options) => {
        calls.push("delete");
        const found = secrets.get(name);
        if (!found) throw Object.assign(new Error("not found"), { code: 404 });
        const rvWanted = options?.preconditions?.resourceVersion;
        if (rvWanted && rvWanted !== found.metadata?.resourceVersion) throw conflict();
        secrets.delete(name);
        if (!lagging) deliver();
        return {};
      },
    },
    identities: {
      replaceStatus: async (body) => {
        const next = structuredClone(body);
        identities.set(body.metadata?.name ?? "", next);
        return next;
      },
    },
  };
  const ca = { state };
  const support: Harness["support"] = { value: { supported: true, trustBundle: "ClusterTrustBundle" } };
  const metrics = new SignetMetrics();
  const list = () => [...identities.values()];
  const reconciler = new MachineIdentityReconciler({
    api,
    policy: { trustDomain: "cluster.local", minTtlMs: 5 * MINUTE, maxTtlMs: 24 * 60 * MINUTE },
    ca: () => ca.state,
    identities: { get: (_ns, name) => identities.get(name), list },
    secrets: { get: (_ns, name) => cached.get(name), list: () => [...cached.values()] },
    schedules: { get: () => undefined, list: () => [] },
    pods: { get: () => undefined, list: () => [] },
    events: { record: (_t, _type, reason, message) => events.push({ reason, message }) },
    metrics,
    log: createLogger({ level: "silent" }),
    now: () => clock.now,
    ownWrites,
    reserved: { namespace: "signet-system", names: [] },
    claimants: {
      bySpiffeId: (id) => list().filter((mi) => spiffeIDOf(mi, "cluster.local") === id),
      bySecretName: (_ns, secretName) => list().filter((mi) => secretNameOf(mi) === secretName),
    },
    issuance: { clusterDomain: "cluster.local", policies: () => [], namespaceLabels: () => ({}) },
    pacing: {
      issuerSpreadMs: pacing?.spreadMs ?? 10 * MINUTE,
      limiter: new RekeyLimiter(pacing?.perSecond ?? 20),
    },
    podCertificateSupport: () => support.value,
  });
  const h: Harness = {
    reconciler,
    secrets,
    cached,
    calls,
    applied,
    identities,
    configMaps,
    configMapApplies,
    configMapFailure,
    support,
    writes,
    events,
    metrics,
    clock,
    ca,
    reconcile: (name = "api") => reconciler.reconcile(`${NS}/${name}`),
    lag: () => {
      lagging = true;
    },
    catchUp: () => {
      lagging = false;
      deliver();
    },
    change: (name, edit) => {
      const current = secrets.get(name);
      const edited = current && edit(structuredClone(current));
      if (edited) {
        secrets.set(name, { ...edited, metadata: { ...edited.metadata, resourceVersion: String(++rv) } });
      } else {
        secrets.delete(name);
      }
      if (!lagging) deliver();
    },
  };
  return h;
}

const state = (issuer: RootCaMaterial, ...trusted: RootCaMaterial[]): CaState => ({
  issuer: issuer.ca,
  bundlePem: trustBundle(trusted.map((t) => t.ca)),
  nextCheck: undefined,
});

const filesOf = (secret: k8s.V1Secret | undefined) => decodeSecretData(secret?.data);

/** The roots in ca.crt include the one that signed the chain in tls.crt. */
function trustsItsIssuer(secret: k8s.V1Secret): boolean {
  const files = filesOf(secret);
  const [leaf, ...intermediates] = splitPemCertificates(files["tls.crt"] ?? "").map(
    (p) => new X509Certificate(p),
  );
  const roots = splitPemCertificates(files["ca.crt"] ?? "").map((p) => new X509Certificate(p));
  return leaf !== undefined && chainProblem(leaf, intermediates, roots) === undefined;
}

const rotations = async (h: Harness) =>
  (await h.metrics.svidsRotated.get()).values.reduce((sum, v) => sum + v.value, 0);

describe("MachineIdentityReconciler through a CA rotation", () => {
  it("should rewrite only ca.crt when only the trust bundle changed: same key, certificate and serial, one write", async () => {
    const [a, b] = [await rootCa(undefined, "Root A"), await rootCa(undefined, "Root B")];
    const h = harness(state(a, a));
    await h.reconcile();
    const before = filesOf(h.secrets.get("api-identity"));
    const serial = h.secrets.get("api-identity")?.metadata?.annotations?.["signet.dev/serial-number"];
    const writes = h.writes.length;
    const events = h.events.length;

    h.ca.state = state(a, a, b); // prepare: the next root is trusted, issuance stays
    await h.reconcile();
    expect(h.writes.length).toBe(writes + 1);
    const after = h.secrets.get("api-identity") as k8s.V1Secret;
    const files = filesOf(after);
    expect(files["tls.key"]).toBe(before["tls.key"]);
    expect(files["tls.crt"]).toBe(before["tls.crt"]);
    expect(files["ca.crt"]).toBe(h.ca.state.bundlePem);
    expect(after.metadata?.annotations?.["signet.dev/serial-number"]).toBe(serial);
    expect(tamperedWith(after)).toBeUndefined();
    expect(h.events.slice(events).map((e) => e.reason)).not.toContain(Reason.Rotated);
    expect(await rotations(h)).toBe(0);

    // Nothing more to do: the next reconcile writes nothing.
    await h.reconcile();
    expect(h.writes.length).toBe(writes + 1);
  });

  it("should move a still-trusted leaf to the new issuer only at its spread moment, then re-key once", async () => {
    const [a, b] = [await rootCa(undefined, "Root A"), await rootCa(undefined, "Root B")];
    const h = harness(state(a, a, b));
    await h.reconcile();
    const first = filesOf(h.secrets.get("api-identity"));
    const writes = h.writes.length;

    h.ca.state = state(b, a, b); // switch
    const deferred = await h.reconcile();
    expect(h.writes.length).toBe(writes);
    const wait = deferred?.requeueAfterMs ?? -1;
    expect(wait).toBeGreaterThanOrEqual(0);
    expect(wait).toBeLessThan(10 * MINUTE);

    // The same moment on every reconcile before it.
    h.clock.now = new Date(NOW.getTime() + Math.floor(wait / 2));
    const again = await h.reconcile();
    expect(h.writes.length).toBe(writes);
    expect(again?.requeueAfterMs).toBe(wait - Math.floor(wait / 2));

    h.clock.now = new Date(NOW.getTime() + wait);
    await h.reconcile();
    expect(h.writes.length).toBe(writes + 1);
    const moved = filesOf(h.secrets.get("api-identity"));
    expect(moved["tls.key"]).not.toBe(first["tls.key"]);
    const leaf = new X509Certificate(splitPemCertificates(moved["tls.crt"] ?? "")[0] ?? "");
    expect(leaf.checkIssued(b.ca.certificate)).toBe(true);
    expect(h.events.at(-1)?.reason).toBe(Reason.Rotated);
    expect(await rotations(h)).toBe(1);
  });

  it("should re-key at once, in one write, a leaf the bundle no longer trusts", async () => {
    const [a, b] = [await rootCa(undefined, "Root A"), await rootCa(undefined, "Root B")];
    const h = harness(state(a, a));
    await h.reconcile();
    const writes = h.writes.length;
    h.ca.state = state(b, b); // the old root left before the leaf moved
    await h.reconcile();
    expect(h.writes.length).toBe(writes + 1);
    const secret = h.secrets.get("api-identity") as k8s.V1Secret;
    expect(trustsItsIssuer(secret)).toBe(true);
    expect(filesOf(secret)["ca.crt"]).toBe(h.ca.state.bundlePem);
  });

  it("should re-key at once a leaf whose renewal is due, whatever the spread", async () => {
    const [a, b] = [await rootCa(undefined, "Root A"), await rootCa(undefined, "Root B")];
    const h = harness(state(a, a, b), ["api"], { spreadMs: 24 * 60 * MINUTE });
    await h.reconcile();
    const writes = h.writes.length;
    h.ca.state = state(b, a, b);
    h.clock.now = new Date(NOW.getTime() + 50 * MINUTE); // 1h ttl: renewal due after ~40 min
    await h.reconcile();
    expect(h.writes.length).toBe(writes + 1);
  });

  it("should spread N identities inside the window, never above the limit in any second", async () => {
    const [a, b] = [await rootCa(undefined, "Root A"), await rootCa(undefined, "Root B")];
    const names = Array.from({ length: 40 }, (_, i) => `id-${i}`);
    const perSecond = 3;
    const spreadMs = 10_000;
    const h = harness(state(a, a, b), names, { spreadMs, perSecond });
    for (const n of names) await h.reconcile(n);
    h.ca.state = state(b, a, b);
    // An event-driven queue: each identity is reconciled again when it asked to be.
    const due = new Map(names.map((n) => [n, NOW.getTime()]));
    const rekeyedAt: number[] = [];
    while (due.size > 0) {
      const [name, at] = [...due.entries()].sort((x, y) => x[1] - y[1] || (x[0] < y[0] ? -1 : 1))[0] as [
        string,
        number,
      ];
      h.clock.now = new Date(at);
      const writes = h.writes.length;
      const result = await h.reconcile(name);
      if (h.writes.length > writes) {
        rekeyedAt.push(at);
        due.delete(name);
      } else {
        due.set(name, at + (result?.requeueAfterMs ?? 0));
      }
    }
    const spanMs = Math.max(spreadMs, Math.ceil(names.length / perSecond) * 1000);
    for (const t of rekeyedAt) {
      expect(t - NOW.getTime()).toBeLessThan(spanMs + 1000);
      expect(rekeyedAt.filter((u) => u > t - 1000 && u <= t).length).toBeLessThanOrEqual(perSecond);
    }
    for (const n of names) {
      const leaf = new X509Certificate(
        splitPemCertificates(filesOf(h.secrets.get(`${n}-identity`))["tls.crt"] ?? "")[0] ?? "",
      );
      expect(leaf.checkIssued(b.ca.certificate)).toBe(true);
    }
  }, 60_000);

  it("should keep, through any order of rotation phases and reconciles, every ca.crt trusting its leaf's issuer", async () => {
    const [a, b] = [await rootCa(undefined, "Root A"), await rootCa(undefined, "Root B")];
    const phases = [state(a, a), state(a, a, b), state(b, a, b), state(b, b)];
    await fc.assert(
      fc.asyncProperty(
        fc.array(
          fc.record({
            phase: fc.integer({ min: 0, max: 3 }),
            advanceMs: fc.integer({ min: 0, max: 20 * MINUTE }),
          }),
          {
            minLength: 1,
            maxLength: 8,
          },
        ),
        async (steps) => {
          const h = harness(phases[0] as CaState, ["p", "q"], { spreadMs: 5 * MINUTE, perSecond: 1 });
          await h.reconcile("p");
          await h.reconcile("q");
          // Phases only move forward, but any of them may be skipped.
          let phase = 0;
          for (const step of steps) {
            phase = Math.max(phase, step.phase);
            h.ca.state = phases[phase] as CaState;
            h.clock.now = new Date(h.clock.now.getTime() + step.advanceMs);
            await h.reconcile("p");
            await h.reconcile("q");
          }
          for (const written of h.writes) expect(trustsItsIssuer(written)).toBe(true);
        },
      ),
      { numRuns: 25 },
    );
  });
});

describe("MachineIdentityReconciler status", () => {
  const ready = (h: Harness) => h.identities.get("api")?.status?.conditions?.find((c) => c.type === "Ready");
  const issuing = (h: Harness) =>
    h.identities.get("api")?.status?.conditions?.find((c) => c.type === "Issuing");
  /** The same CA with another validity, which makes every mint fail while every leaf still verifies. */
  const withValidity = (ca: CaState, validity: { notBefore?: Date; notAfter?: Date }): CaState => ({
    ...ca,
    issuer: { ...ca.issuer, ...validity },
  });

  it("should say Ready False with IssuanceFailed when the reissue of an expired Secret fails", async () => {
    const a = await rootCa(undefined, "Root A");
    const h = harness(state(a, a));
    await h.reconcile();
    expect(ready(h)).toMatchObject({ status: "True", reason: Reason.Issued });

    h.ca.state = withValidity(h.ca.state, { notAfter: new Date(NOW.getTime() + 30 * MINUTE) });
    h.clock.now = new Date(NOW.getTime() + 61 * MINUTE); // the 1h leaf has expired
    await expect(h.reconcile()).rejects.toThrow(/the issuing CA expired/);
    expect(ready(h)).toMatchObject({
      status: "False",
      reason: Reason.IssuanceFailed,
      lastTransitionTime: h.clock.now.toISOString(),
    });
    expect(ready(h)?.message).toContain("the issuing CA expired");
    expect(issuing(h)).toMatchObject({ status: "True", reason: Reason.IssuanceFailed });
  });

  it("should keep Ready True, with the failure on Issuing, when a renewal fails before expiry", async () => {
    const a = await rootCa(undefined, "Root A");
    const h = harness(state(a, a));
    await h.reconcile();
    const before = ready(h);

    h.ca.state = withValidity(h.ca.state, { notBefore: new Date(NOW.getTime() + 120 * MINUTE) });
    h.clock.now = new Date(NOW.getTime() + 50 * MINUTE); // renewal due, the leaf valid for 10 more minutes
    await expect(h.reconcile()).rejects.toThrow(/the issuing CA is not valid before/);
    expect(ready(h)).toEqual(before);
    expect(issuing(h)).toMatchObject({ status: "True", reason: Reason.IssuanceFailed });
  });

  it("should keep status.rotations through reconciles and count a rotation whose status write was lost", async () => {
    const a = await rootCa(undefined, "Root A");
    const h = harness(state(a, a));
    await h.reconcile();
    expect(h.identities.get("api")?.status?.rotations).toBe(0);

    h.clock.now = new Date(NOW.getTime() + 50 * MINUTE);
    await h.reconcile();
    expect(h.identities.get("api")?.status?.rotations).toBe(1);

    // The next rotation's status write is lost (a conflict): the API keeps the status before it.
    h.clock.now = new Date(NOW.getTime() + 100 * MINUTE);
    const unwritten = h.identities.get("api") as MachineIdentity;
    await h.reconcile();
    h.identities.set("api", unwritten);
    expect(await rotations(h)).toBe(2);

    // The retry finds the Secret current, mints nothing, and still counts it.
    await h.reconcile();
    const status = h.identities.get("api")?.status;
    expect(status?.rotations).toBe(2);
    expect(status?.serialNumber).toBe(
      h.secrets.get("api-identity")?.metadata?.annotations?.["signet.dev/serial-number"],
    );
    expect(ready(h)).toMatchObject({ status: "True", reason: Reason.Rotated });

    // And a reconcile that finds nothing new writes no status.
    const written = h.identities.get("api");
    await h.reconcile();
    expect(h.identities.get("api")).toBe(written);
  });
});

describe("MachineIdentityReconciler with a Secret cache behind its own writes", () => {
  const tampered = async (h: Harness) =>
    (await h.metrics.tamperDetected.get()).values.reduce((sum, v) => sum + v.value, 0);
  const reasons = (h: Harness, from = 0) => h.events.slice(from).map((e) => e.reason);
  /** Someone else's edit of tls.crt, as in a kubectl edit. */
  const editData = (secret: k8s.V1Secret) => ({
    ...secret,
    data: { ...secret.data, "tls.crt": Buffer.from("not a certificate").toString("base64") },
  });

  it("should not take a Secret it created, which the cache does not show yet, for one deleted by hand", async () => {
    const a = await rootCa(undefined, "Root A");
    const h = harness(state(a, a));
    h.lag();
    await h.reconcile();
    // The identity's status tells of the Secret; the Secret cache has not seen it.
    expect(h.identities.get("api")?.status?.serialNumber).toBeDefined();
    expect(h.cached.has("api-identity")).toBe(false);
    const [calls, events, serial] = [
      h.calls.length,
      h.events.length,
      h.identities.get("api")?.status?.serialNumber,
    ];

    // Another reconcile, say for a Pod of the identity, before the Secret watch caught up.
    const early = await h.reconcile();
    expect(reasons(h, events)).not.toContain(Reason.TamperDetected);
    expect(await tampered(h)).toBe(0);
    expect(h.calls.length).toBe(calls);
    expect(early?.requeueAfterMs).toBeLessThanOrEqual(1_000);

    h.catchUp();
    await h.reconcile();
    expect(reasons(h, events)).toEqual([]);
    expect(h.calls.length).toBe(calls);
    expect(h.identities.get("api")?.status?.serialNumber).toBe(serial);
    expect(h.writes.length).toBe(1);
  });

  it("should not mint again for a rotation the cache still shows in the version before it", async () => {
    const a = await rootCa(undefined, "Root A");
    const h = harness(state(a, a));
    await h.reconcile();
    h.lag();
    h.clock.now = new Date(NOW.getTime() + 50 * MINUTE); // renewal due
    await h.reconcile();
    expect(await rotations(h)).toBe(1);
    const [calls, events] = [h.calls.length, h.events.length];

    await h.reconcile(); // the cache still holds the certificate that was due
    h.catchUp();
    await h.reconcile();
    expect(h.calls.length).toBe(calls);
    expect(reasons(h, events)).toEqual([]);
    expect(await rotations(h)).toBe(1);
    expect(h.writes.length).toBe(2);
  });

  it("should still report at once a Secret edited by someone else after our write, even if the cache skipped our version", async () => {
    const a = await rootCa(undefined, "Root A");
    const h = harness(state(a, a));
    await h.reconcile();
    h.lag();
    h.clock.now = new Date(NOW.getTime() + 50 * MINUTE);
    await h.reconcile(); // rotated: our write is not in the cache yet
    h.change("api-identity", editData);
    h.catchUp(); // a relist: the cache goes straight to the edited version
    const events = h.events.length;
    await h.reconcile();
    expect(reasons(h, events)).toContain(Reason.TamperDetected);
    expect(await tampered(h)).toBe(1);
    expect(tamperedWith(h.secrets.get("api-identity") as k8s.V1Secret)).toBeUndefined();
  });

  it.each([
    { name: "an edit", edit: editData },
    { name: "a deletion", edit: () => undefined },
  ])("should report $name by someone else as tampering, and repair it", async ({ edit }) => {
    const a = await rootCa(undefined, "Root A");
    const h = harness(state(a, a));
    await h.reconcile();
    const serial = h.identities.get("api")?.status?.serialNumber;
    h.change("api-identity", edit);
    const events = h.events.length;
    await h.reconcile();
    expect(reasons(h, events)).toContain(Reason.TamperDetected);
    expect(await tampered(h)).toBe(1);
    const repaired = h.secrets.get("api-identity") as k8s.V1Secret;
    expect(tamperedWith(repaired)).toBeUndefined();
    expect(repaired.metadata?.annotations?.["signet.dev/serial-number"]).not.toBe(serial);
  });

  it("should report a deletion by someone else that came while the cache was behind our write", async () => {
    const a = await rootCa(undefined, "Root A");
    const h = harness(state(a, a));
    await h.reconcile();
    h.lag();
    h.clock.now = new Date(NOW.getTime() + 50 * MINUTE);
    await h.reconcile();
    h.change("api-identity", () => undefined);
    h.catchUp(); // the delete event
    const events = h.events.length;
    await h.reconcile();
    expect(reasons(h, events)).toContain(Reason.TamperDetected);
    expect(h.secrets.has("api-identity")).toBe(true);
  });

  it("should read the Secret from the API when the cache stays behind past the timeout, and find no tampering", async () => {
    const a = await rootCa(undefined, "Root A");
    const h = harness(state(a, a));
    h.lag();
    await h.reconcile();
    const writes = h.writes.length;
    h.clock.now = new Date(NOW.getTime() + OBSERVE_TIMEOUT_MS);
    const events = h.events.length;
    await h.reconcile();
    expect(reasons(h, events)).not.toContain(Reason.TamperDetected);
    expect(h.writes).toHaveLength(writes);
  });

  it("should still report a Secret gone from the API as well once the wait is over", async () => {
    const a = await rootCa(undefined, "Root A");
    const h = harness(state(a, a));
    h.lag();
    await h.reconcile();
    h.secrets.delete("api-identity");
    h.clock.now = new Date(NOW.getTime() + OBSERVE_TIMEOUT_MS);
    const events = h.events.length;
    await h.reconcile();
    expect(reasons(h, events)).toContain(Reason.TamperDetected);
  });
});

describe("MachineIdentityReconciler writing the Secret by server-side apply", () => {
  const FOREIGN_LABEL = "team.example.com/owner";
  const FOREIGN_ANNOTATION = "backup.example.com/policy";
  /** What `kubectl label` and `kubectl annotate` leave on the Secret. */
  const labelled = (secret: k8s.V1Secret): k8s.V1Secret => ({
    ...secret,
    metadata: {
      ...secret.metadata,
      labels: { ...secret.metadata?.labels, [FOREIGN_LABEL]: "payments" },
      annotations: { ...secret.metadata?.annotations, [FOREIGN_ANNOTATION]: "daily" },
    },
  });
  /** The apply carries Signet's fields and the preconditions, nothing the Secret got from others. */
  const expectSignetFieldsOnly = (body: k8s.V1Secret | undefined, on: k8s.V1Secret) => {
    expect(Object.keys(body ?? {}).sort()).toEqual(["apiVersion", "data", "kind", "metadata", "type"]);
    expect(Object.keys(body?.metadata ?? {}).sort()).toEqual([
      "annotations",
      "labels",
      "name",
      "namespace",
      "ownerReferences",
      "resourceVersion",
      "uid",
    ]);
    expect(body?.metadata?.labels).toEqual({
      "app.kubernetes.io/managed-by": "signet",
      "signet.dev/machineidentity": "api",
    });
    expect(Object.keys(body?.metadata?.annotations ?? {}).sort()).toEqual(
      Object.values(IDENTITY_SECRET_ANNOTATIONS).sort(),
    );
    expect(body?.metadata?.ownerReferences).toEqual([
      {
        apiVersion: "signet.dev/v1alpha1",
        kind: "MachineIdentity",
        name: "api",
        uid: "uid-api",
        controller: true,
      },
    ]);
    expect(Object.keys(body?.data ?? {}).sort()).toEqual(["ca.crt", "tls.crt", "tls.key"]);
    expect(body?.metadata?.uid).toBe(on.metadata?.uid);
    expect(body?.metadata?.resourceVersion).toBe(on.metadata?.resourceVersion);
  };
  const foreignOf = (secret: k8s.V1Secret | undefined) => ({
    label: secret?.metadata?.labels?.[FOREIGN_LABEL],
    annotation: secret?.metadata?.annotations?.[FOREIGN_ANNOTATION],
  });

  it("should rotate by applying only Signet's fields to the version it read, keeping others' labels and annotations", async () => {
    const a = await rootCa(undefined, "Root A");
    const h = harness(state(a, a));
    await h.reconcile();
    h.change("api-identity", labelled);
    const before = h.secrets.get("api-identity") as k8s.V1Secret;
    await h.reconcile(); // the label's watch event: nothing to write
    expect(h.calls).toEqual(["create"]);

    h.clock.now = new Date(NOW.getTime() + 50 * MINUTE);
    await h.reconcile();
    expect(h.calls).toEqual(["create", "apply"]);
    expectSignetFieldsOnly(h.applied.at(-1), before);
    const after = h.secrets.get("api-identity") as k8s.V1Secret;
    expect(after.metadata?.annotations?.[IDENTITY_SECRET_ANNOTATIONS.serial]).not.toBe(
      before.metadata?.annotations?.[IDENTITY_SECRET_ANNOTATIONS.serial],
    );
    expect(tamperedWith(after)).toBeUndefined();
    expect(foreignOf(after)).toEqual({ label: "payments", annotation: "daily" });
  });

  it("should bring ca.crt up to date by an apply of Signet's fields only, keeping others' labels and annotations", async () => {
    const [a, b] = [await rootCa(undefined, "Root A"), await rootCa(undefined, "Root B")];
    const h = harness(state(a, a));
    await h.reconcile();
    h.change("api-identity", labelled);
    const before = h.secrets.get("api-identity") as k8s.V1Secret;
    h.ca.state = state(a, a, b);
    await h.reconcile();
    expect(h.calls).toEqual(["create", "apply"]);
    expectSignetFieldsOnly(h.applied.at(-1), before);
    const after = h.secrets.get("api-identity") as k8s.V1Secret;
    expect(filesOf(after)["ca.crt"]).toBe(h.ca.state.bundlePem);
    expect(filesOf(after)["tls.key"]).toBe(filesOf(before)["tls.key"]);
    expect(after.metadata?.annotations?.[IDENTITY_SECRET_ANNOTATIONS.serial]).toBe(
      before.metadata?.annotations?.[IDENTITY_SECRET_ANNOTATIONS.serial],
    );
    expect(tamperedWith(after)).toBeUndefined();
    expect(foreignOf(after)).toEqual({ label: "payments", annotation: "daily" });
  });

  it("should not apply over a version changed since the cache showed it", async () => {
    const a = await rootCa(undefined, "Root A");
    const h = harness(state(a, a));
    await h.reconcile();
    h.lag();
    h.change("api-identity", labelled); // the cache does not show it yet
    h.clock.now = new Date(NOW.getTime() + 50 * MINUTE);
    const result = await h.reconcile();
    expect(h.calls).toEqual(["create", "apply"]);
    expect(h.writes.length).toBe(1);
    expect(result?.requeueAfterMs).toBeLessThanOrEqual(1_000);
    h.catchUp();
    await h.reconcile();
    expect(h.writes.length).toBe(2);
    expect(foreignOf(h.secrets.get("api-identity"))).toEqual({ label: "payments", annotation: "daily" });
  });
});

describe("MachineIdentityReconciler with delivery PodCertificate", () => {
  it("should write no Secret, remove one left from Secret delivery, and report the signer ready", async () => {
    const a = await rootCa(undefined, "Root A");
    const h = harness(state(a, a));
    await h.reconcile();
    expect(h.secrets.has("api-identity")).toBe(true);

    const mi = h.identities.get("api");
    if (!mi) throw new Error("fixture");
    h.identities.set("api", { ...mi, spec: { ...mi.spec, delivery: "PodCertificate" } });
    const before = h.calls.length;
    await h.reconcile();
    expect(h.calls.slice(before)).toEqual(["delete"]);
    expect(h.secrets.has("api-identity")).toBe(false);
    const status = h.identities.get("api")?.status;
    expect(status?.conditions?.find((c) => c.type === "Ready")).toMatchObject({
      status: "True",
      reason: "SignerReady",
    });
    expect(status?.serialNumber).toBeUndefined();

    // Nothing more to do: no Secret is minted again.
    const after = h.calls.length;
    await h.reconcile();
    expect(h.calls.slice(after)).toEqual([]);
  });
});

describe("MachineIdentityReconciler keeping the trust ConfigMap of PodCertificate identities", () => {
  const CONFIG_MAP: PodCertificateSupport = { supported: true, trustBundle: "ConfigMap" };
  const byKubelet = (h: Harness, name: string) => {
    const mi = h.identities.get(name);
    if (!mi) throw new Error("fixture");
    h.identities.set(name, { ...mi, spec: { ...mi.spec, delivery: "PodCertificate" } });
  };
  const ownerOf = (name: string) => ({
    apiVersion: "signet.dev/v1alpha1",
    kind: "MachineIdentity",
    name,
    uid: `uid-${name}`,
    controller: false,
    blockOwnerDeletion: false,
  });

  it("should write the ConfigMap with the bundle, Signet's label and the identity's ownerReference where ClusterTrustBundles are not served", async () => {
    const a = await rootCa(undefined, "Root A");
    const h = harness(state(a, a));
    h.support.value = CONFIG_MAP;
    byKubelet(h, "api");
    await h.reconcile();
    expect(h.configMapApplies).toEqual([
      {
        fieldManager: "signet-trust-bundle/api",
        body: {
          apiVersion: "v1",
          kind: "ConfigMap",
          metadata: {
            name: "signet-trust-bundle",
            namespace: NS,
            labels: { "app.kubernetes.io/managed-by": "signet" },
            ownerReferences: [ownerOf("api")],
          },
          data: { "ca.crt": h.ca.state.bundlePem },
        },
      },
    ]);
    expect(h.configMaps.get("signet-trust-bundle")?.data).toEqual({ "ca.crt": trustBundle([a.ca]) });
    expect(h.identities.get("api")?.status?.conditions?.find((c) => c.type === "Ready")).toMatchObject({
      status: "True",
      reason: "SignerReady",
    });

    // It holds what it should: read, not written again.
    await h.reconcile();
    expect(h.configMapApplies).toHaveLength(1);
  });

  const notWritten: {
    name: string;
    support: PodCertificateSupport;
    delivery: "PodCertificate" | "Secret";
  }[] = [
    {
      name: "should write no ConfigMap where ClusterTrustBundles are served",
      support: { supported: true, trustBundle: "ClusterTrustBundle" },
      delivery: "PodCertificate",
    },
    {
      name: "should write no ConfigMap where pod certificates are not served at all",
      support: { supported: false, missing: "the API server serves no PodCertificateRequests" },
      delivery: "PodCertificate",
    },
    {
      name: "should write no ConfigMap for an identity delivered as a Secret",
      support: CONFIG_MAP,
      delivery: "Secret",
    },
  ];
  it.each(notWritten)("$name", async ({ support, delivery }) => {
    const a = await rootCa(undefined, "Root A");
    const h = harness(state(a, a));
    h.support.value = support;
    if (delivery === "PodCertificate") byKubelet(h, "api");
    await h.reconcile();
    expect(h.configMapApplies).toEqual([]);
    expect(h.configMaps.size).toBe(0);
  });

  it("should rewrite the ConfigMap when the bundle changes, as in a CA rotation", async () => {
    const [a, b] = [await rootCa(undefined, "Root A"), await rootCa(undefined, "Root B")];
    const h = harness(state(a, a));
    h.support.value = CONFIG_MAP;
    byKubelet(h, "api");
    await h.reconcile();
    h.ca.state = state(a, a, b);
    await h.reconcile();
    expect(h.configMapApplies).toHaveLength(2);
    expect(h.configMaps.get("signet-trust-bundle")?.data).toEqual({ "ca.crt": trustBundle([a.ca, b.ca]) });
    h.ca.state = state(b, b);
    await h.reconcile();
    expect(h.configMaps.get("signet-trust-bundle")?.data).toEqual({ "ca.crt": trustBundle([b.ca]) });
  });

  it("should give each PodCertificate identity of the namespace its own ownerReference, under its own field manager", async () => {
    const a = await rootCa(undefined, "Root A");
    const h = harness(state(a, a), ["api", "web"]);
    h.support.value = CONFIG_MAP;
    byKubelet(h, "api");
    byKubelet(h, "web");
    await h.reconcile("api");
    await h.reconcile("web");
    expect(h.configMapApplies.map((a) => a.fieldManager)).toEqual([
      "signet-trust-bundle/api",
      "signet-trust-bundle/web",
    ]);
    expect(h.configMaps.get("signet-trust-bundle")?.metadata?.ownerReferences).toEqual([
      ownerOf("api"),
      ownerOf("web"),
    ]);
  });

  it("should write the bundle again over an edit of ca.crt by someone else", async () => {
    const a = await rootCa(undefined, "Root A");
    const h = harness(state(a, a));
    h.support.value = CONFIG_MAP;
    byKubelet(h, "api");
    await h.reconcile();
    const cm = h.configMaps.get("signet-trust-bundle");
    if (!cm) throw new Error("fixture");
    h.configMaps.set("signet-trust-bundle", {
      ...cm,
      data: { "ca.crt": "-----BEGIN CERTIFICATE-----\nx\n" },
    });
    await h.reconcile();
    expect(h.configMapApplies).toHaveLength(2);
    expect(h.configMaps.get("signet-trust-bundle")?.data).toEqual({ "ca.crt": h.ca.state.bundlePem });
  });

  it("should start keeping the ConfigMap once discovery says ClusterTrustBundles are gone", async () => {
    const a = await rootCa(undefined, "Root A");
    const h = harness(state(a, a));
    byKubelet(h, "api");
    await h.reconcile();
    expect(h.configMaps.size).toBe(0);
    h.support.value = CONFIG_MAP;
    await h.reconcile();
    expect(h.configMaps.get("signet-trust-bundle")?.data).toEqual({ "ca.crt": h.ca.state.bundlePem });
  });

  it("should report a failed write for backoff, and still write the status", async () => {
    const a = await rootCa(undefined, "Root A");
    const h = harness(state(a, a));
    h.support.value = CONFIG_MAP;
    byKubelet(h, "api");
    h.configMapFailure.next = Object.assign(new Error("namespace shop is being terminated"), { code: 403 });
    await expect(h.reconcile()).rejects.toThrow("namespace shop is being terminated");
    expect(h.identities.get("api")?.status?.conditions?.find((c) => c.type === "Ready")?.reason).toBe(
      "SignerReady",
    );
  });
});
