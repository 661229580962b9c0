import { generateKeyPairSync, type KeyObject, X509Certificate } from "node:crypto";
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { rootCa } from "../../../testing/pki.ts";
import type { AccessSchedule, MachineIdentity } from "../api/index.ts";
import { IDENTITY_LABEL, POD_CERTIFICATE_SIGNER } from "../api/index.ts";
import { keyAlgorithmOf } from "../pki/keys.ts";
import { mintSvidForKey } from "../pki/mint.ts";
import { renewalTime } from "../pki/renewal.ts";
import {
  decidePodCertificate,
  MIN_LIFETIME_MS,
  type PodFacts,
  REFRESH_MARGIN_MS,
  type SignerDecision,
  type SignerInput,
  SignerReason,
} from "./decide.ts";
import type { RequestKey } from "./public-key.ts";
import type { PodCertificateRequest } from "./request.ts";

const SECOND = 1000;
const MINUTE = 60 * SECOND;
const HOUR = 60 * MINUTE;

// A quarter second past the minute, so that flooring to whole seconds shows.
const NOW = new Date("2026-03-02T09:30:00.250Z");
/** NOW - 60 s, floored to the second: the notBefore of every certificate issued at NOW. */
const NOT_BEFORE = new Date("2026-03-02T09:29:00.000Z");
const at = (iso: string) => new Date(iso);
const after = (date: Date, ms: number) => new Date(date.getTime() + ms);

const policy = { trustDomain: "cluster.local", minTtlMs: 5 * MINUTE, maxTtlMs: 48 * HOUR };
const CA = { notBefore: at("2026-03-01T08:30:00Z"), notAfter: at("2027-03-01T09:30:00Z") };

const REF = "shop/payments-api";
const WHERE = `MachineIdentity ${REF}`;
const POD_REF = "pod shop/payments-7d9f4";
const REQUEST_UID = "3f1e2d4c-8b7a-4c5d-9e6f-0a1b2c3d4e5f";

type ReadKey = Extract<RequestKey, { ok: true }>;

function requestKeyOf(key: KeyObject): ReadKey {
  const algorithm = keyAlgorithmOf(key);
  if (!algorithm) throw new Error("a test key Signet does not issue for");
  return { ok: true, spki: key.export({ format: "der", type: "spki" }), algorithm, key };
}

const P256 = requestKeyOf(generateKeyPairSync("ec", { namedCurve: "P-256" }).publicKey);
const P384 = requestKeyOf(generateKeyPairSync("ec", { namedCurve: "P-384" }).publicKey);
const ED25519 = requestKeyOf(generateKeyPairSync("ed25519").publicKey);
const RSA3072 = requestKeyOf(generateKeyPairSync("rsa", { modulusLength: 3072 }).publicKey);

function identity(spec: Partial<MachineIdentity["spec"]> = {}): MachineIdentity {
  return {
    apiVersion: "signet.dev/v1alpha1",
    kind: "MachineIdentity",
    metadata: { name: "payments-api", namespace: "shop", uid: "mi-uid-1" },
    spec: {
      serviceAccounts: ["payments"],
      ttl: "24h",
      privateKey: { algorithm: "ECDSA", size: 256 },
      usages: ["client", "server"],
      suspend: false,
      delivery: "PodCertificate",
      ...spec,
    },
  } as MachineIdentity;
}

function request(
  spec: Partial<PodCertificateRequest["spec"]> = {},
  uid: string = REQUEST_UID,
): PodCertificateRequest {
  return {
    apiVersion: "certificates.k8s.io/v1beta1",
    kind: "PodCertificateRequest",
    metadata: { name: "payments-7d9f4-identity-x7k2p", namespace: "shop", uid },
    spec: {
      signerName: POD_CERTIFICATE_SIGNER,
      podName: "payments-7d9f4",
      podUID: "pod-uid-1",
      serviceAccountName: "payments",
      serviceAccountUID: "sa-uid-1",
      nodeName: "node-a",
      nodeUID: "node-uid-1",
      maxExpirationSeconds: 86_400,
      pkixPublicKey: P256.spki.toString("base64"),
      ...spec,
    },
  };
}

const POD: PodFacts = {
  uid: "pod-uid-1",
  labels: { app: "payments", [IDENTITY_LABEL]: "payments-api" },
  serviceAccountName: "payments",
  nodeName: "node-a",
};

/** An AccessSchedule of one-off grants, which give windows with exact ends. */
function schedule(...grants: { start: Date; end: Date }[]): AccessSchedule {
  return {
    apiVersion: "signet.dev/v1alpha1",
    kind: "AccessSchedule",
    metadata: { name: "office-hours", namespace: "shop" },
    spec: {
      timeZone: "UTC",
      windows: [],
      grants: grants.map((g) => ({ start: g.start.toISOString(), end: g.end.toISOString() })),
      suspend: false,
    },
  } as AccessSchedule;
}

const SCHEDULED = { scheduleRef: { name: "office-hours" } };
/** A schedule whose only window opened an hour ago and closes at `end`. */
const windowUntil = (end: Date) => schedule({ start: after(NOW, -HOUR), end });

function input(overrides: Partial<SignerInput> = {}): SignerInput {
  return {
    request: request(),
    key: P256,
    pod: POD,
    identity: identity(),
    schedule: undefined,
    issuanceRefusal: undefined,
    policy,
    ca: CA,
    now: NOW,
    ...overrides,
  };
}

type Issue = Extract<SignerDecision, { kind: "Issue" }>;

function issued(decision: SignerDecision): Issue {
  if (decision.kind !== "Issue") {
    throw new Error(`expected an Issue, got ${decision.kind} ${decision.reason}: ${decision.message}`);
  }
  return decision;
}

describe("decidePodCertificate", () => {
  describe("denials", () => {
    const cases: { name: string; input: SignerInput; reason: string; message: string; identity?: string }[] =
      [
        {
          name: "should deny a request addressed to another signer",
          input: input({ request: request({ signerName: "example.com/other" }) }),
          reason: SignerReason.InvalidRequest,
          message: "the request is for signer example.com/other, not signet.dev/svid",
        },
        {
          name: "should deny a request with userAnnotations, naming them sorted",
          input: input({
            request: request({ unverifiedUserAnnotations: { "signet.dev/z": "1", "example.com/a": "2" } }),
          }),
          reason: "InvalidUnverifiedUserAnnotations",
          message:
            "signet.dev/svid accepts no userAnnotations, and this request has example.com/a, signet.dev/z; remove them from the podCertificate volume source",
        },
        {
          name: "should deny a request with a userAnnotation whose value is empty",
          input: input({ request: request({ unverifiedUserAnnotations: { "example.com/flag": "" } }) }),
          reason: "InvalidUnverifiedUserAnnotations",
          message:
            "signet.dev/svid accepts no userAnnotations, and this request has example.com/flag; remove them from the podCertificate volume source",
        },
        {
          name: "should deny a request for a pod that does not exist",
          input: input({ pod: undefined }),
          reason: SignerReason.PodNotFound,
          message: `${POD_REF} does not exist; no certificate is issued for a pod that is gone`,
        },
        {
          name: "should deny a request for a pod of the same name but another uid",
          input: input({ pod: { ...POD, uid: "pod-uid-2" } }),
          reason: SignerReason.PodMismatch,
          message: `${POD_REF} is now another pod (uid pod-uid-2, the request names uid pod-uid-1); no certificate is issued for the pod that is gone`,
        },
        {
          name: "should deny a request whose ServiceAccount differs from the pod's",
          input: input({ pod: { ...POD, serviceAccountName: "default" } }),
          reason: SignerReason.PodMismatch,
          message: `${POD_REF} runs as ServiceAccount default on node node-a, but the request names ServiceAccount payments on node node-a`,
        },
        {
          name: "should deny a request whose node differs from the pod's",
          input: input({ pod: { ...POD, nodeName: "node-b" } }),
          reason: SignerReason.PodMismatch,
          message: `${POD_REF} runs as ServiceAccount payments on node node-b, but the request names ServiceAccount payments on node node-a`,
        },
        {
          name: "should deny a pod without the identity label",
          input: input({ pod: { ...POD, labels: { app: "payments" } } }),
          reason: SignerReason.NoIdentity,
          message: `${POD_REF} carries no signet.dev/identity label: signet.dev/svid signs only for pods admitted with a Signet identity (label signet.dev/inject: "true" and annotation signet.dev/identity: <MachineIdentity>)`,
        },
        {
          name: "should deny a pod whose identity label is empty",
          input: input({ pod: { ...POD, labels: { [IDENTITY_LABEL]: "" } } }),
          reason: SignerReason.NoIdentity,
          message: `${POD_REF} carries no signet.dev/identity label: signet.dev/svid signs only for pods admitted with a Signet identity (label signet.dev/inject: "true" and annotation signet.dev/identity: <MachineIdentity>)`,
        },
        {
          name: "should deny when the labelled MachineIdentity does not exist",
          input: input({ identity: undefined }),
          reason: SignerReason.IdentityNotFound,
          message: `${WHERE}, named by the signet.dev/identity label of ${POD_REF}, does not exist`,
          identity: REF,
        },
        {
          name: "should deny an identity delivered as a Secret",
          input: input({ identity: identity({ delivery: "Secret" }) }),
          reason: SignerReason.DeliveryNotPodCertificate,
          message: `${WHERE} has spec.delivery Secret: its pods mount its Secret, and signet.dev/svid signs nothing for it; set spec.delivery to PodCertificate`,
          identity: REF,
        },
        {
          name: "should deny an identity without spec.delivery, which means Secret",
          input: input({ identity: identity({ delivery: undefined as unknown as "Secret" }) }),
          reason: SignerReason.DeliveryNotPodCertificate,
          message: `${WHERE} has spec.delivery Secret: its pods mount its Secret, and signet.dev/svid signs nothing for it; set spec.delivery to PodCertificate`,
          identity: REF,
        },
        {
          name: "should deny a ServiceAccount the identity does not list, naming the ones it does",
          input: input({ identity: identity({ serviceAccounts: ["billing", "reports"] }) }),
          reason: SignerReason.ServiceAccountNotListed,
          message: `${WHERE} does not list ServiceAccount payments in spec.serviceAccounts (it lists billing, reports); add it there or run the pod as one of them`,
          identity: REF,
        },
        {
          name: "should deny an identity whose ttl is outside the operator's bounds",
          input: input({ identity: identity({ ttl: "72h" }) }),
          reason: SignerReason.InvalidSpec,
          message: `${WHERE}: spec.ttl 72h is outside this operator's bounds 5m..48h; choose a ttl within them`,
          identity: REF,
        },
        {
          name: "should return an issuance refusal verbatim",
          input: input({
            issuanceRefusal: {
              reason: "SpiffeIDConflict",
              message: `${WHERE}: spiffe://cluster.local/ns/shop/id/payments-api is also claimed by MachineIdentity shop/other`,
            },
          }),
          reason: "SpiffeIDConflict",
          message: `${WHERE}: spiffe://cluster.local/ns/shop/id/payments-api is also claimed by MachineIdentity shop/other`,
          identity: REF,
        },
        {
          name: "should deny a suspended identity",
          input: input({ identity: identity({ suspend: true }) }),
          reason: SignerReason.Suspended,
          message: `${WHERE} is suspended (spec.suspend: true): no certificate is issued until it is false`,
          identity: REF,
        },
        {
          name: "should deny while the identity's AccessSchedule does not exist",
          input: input({ identity: identity(SCHEDULED), schedule: undefined }),
          reason: SignerReason.ScheduleNotFound,
          message: `${WHERE}: AccessSchedule shop/office-hours named in spec.scheduleRef does not exist; no credential is issued until it does`,
          identity: REF,
        },
        {
          name: "should deny outside the access window, naming the next one",
          input: input({
            identity: identity(SCHEDULED),
            schedule: schedule({ start: at("2026-03-02T11:30:00Z"), end: at("2026-03-02T14:30:00Z") }),
          }),
          reason: SignerReason.OutsideWindow,
          message: `${WHERE}: outside the access windows of AccessSchedule shop/office-hours; the next window opens at 2026-03-02T11:30:00.000Z`,
          identity: REF,
        },
        {
          name: "should deny outside the access window when none is ahead",
          input: input({
            identity: identity(SCHEDULED),
            schedule: schedule({ start: at("2026-03-01T11:30:00Z"), end: at("2026-03-01T14:30:00Z") }),
          }),
          reason: SignerReason.OutsideWindow,
          message: `${WHERE}: outside the access windows of AccessSchedule shop/office-hours; no window is ahead`,
          identity: REF,
        },
        {
          name: "should deny a key Signet issues for no identity, naming the keyType the identity asks for",
          input: input({
            key: {
              ok: false,
              unsupported: true,
              message: "Signet issues no certificate for a ec secp521r1 key",
            },
          }),
          reason: SignerReason.UnsupportedKeyType,
          message: `Signet issues no certificate for a ec secp521r1 key; ${WHERE} asks for keyType ECDSAP256`,
          identity: REF,
        },
        {
          name: "should name keyType ED25519 for an unsupported key when the identity asks for Ed25519",
          input: input({
            identity: identity({ privateKey: { algorithm: "Ed25519" } }),
            key: { ok: false, unsupported: true, message: "Signet issues no certificate for a ed448 key" },
          }),
          reason: SignerReason.UnsupportedKeyType,
          message: `Signet issues no certificate for a ed448 key; ${WHERE} asks for keyType ED25519`,
          identity: REF,
        },
        {
          name: "should name keyType RSA4096 for an unsupported key when the identity asks for RSA 4096",
          input: input({
            identity: identity({ privateKey: { algorithm: "RSA", size: 4096 } }),
            key: { ok: false, unsupported: true, message: "Signet issues no certificate for a rsa 1024 key" },
          }),
          reason: SignerReason.UnsupportedKeyType,
          message: `Signet issues no certificate for a rsa 1024 key; ${WHERE} asks for keyType RSA4096`,
          identity: REF,
        },
        {
          name: "should deny a P-384 key for an identity of P-256 keys",
          input: input({ key: P384 }),
          reason: SignerReason.UnsupportedKeyType,
          message: `${WHERE} is issued for ECDSA 256 keys only (spec.privateKey), and the request's key is ECDSA 384; use keyType ECDSAP256 in the podCertificate volume source`,
          identity: REF,
        },
        {
          name: "should deny a P-256 key for an identity of Ed25519 keys",
          input: input({ identity: identity({ privateKey: { algorithm: "Ed25519" } }), key: P256 }),
          reason: SignerReason.UnsupportedKeyType,
          message: `${WHERE} is issued for Ed25519 keys only (spec.privateKey), and the request's key is ECDSA 256; use keyType ED25519 in the podCertificate volume source`,
          identity: REF,
        },
        {
          name: "should deny an RSA 3072 key for an identity of RSA 4096 keys",
          input: input({
            identity: identity({ privateKey: { algorithm: "RSA", size: 4096 } }),
            key: RSA3072,
          }),
          reason: SignerReason.UnsupportedKeyType,
          message: `${WHERE} is issued for RSA 4096 keys only (spec.privateKey), and the request's key is RSA 3072; use keyType RSA4096 in the podCertificate volume source`,
          identity: REF,
        },
        {
          name: "should deny a key that cannot be read, with the reader's message",
          input: input({
            key: { ok: false, unsupported: false, message: "spec.stubPKCS10Request: truncated DER" },
          }),
          reason: SignerReason.InvalidRequest,
          message: "spec.stubPKCS10Request: truncated DER",
          identity: REF,
        },
        {
          name: "should deny when the access window closes a second too soon for a 1h certificate",
          input: input({
            identity: identity(SCHEDULED),
            schedule: windowUntil(at("2026-03-02T10:28:59Z")),
          }),
          reason: SignerReason.WindowClosing,
          message: `${WHERE}: its access window ends at 2026-03-02T10:28:59.000Z, and a pod certificate must live at least 1h; none is issued that would outlive the window`,
          identity: REF,
        },
        {
          name: "should blame the window when it and the CA end together, too soon",
          input: input({
            identity: identity(SCHEDULED),
            schedule: windowUntil(at("2026-03-02T10:00:00Z")),
            ca: { notBefore: CA.notBefore, notAfter: at("2026-03-02T10:00:00Z") },
          }),
          reason: SignerReason.WindowClosing,
          message: `${WHERE}: its access window ends at 2026-03-02T10:00:00.000Z, and a pod certificate must live at least 1h; none is issued that would outlive the window`,
          identity: REF,
        },
        {
          name: "should blame the window when both it and the CA end too soon but the window first",
          input: input({
            identity: identity(SCHEDULED),
            schedule: windowUntil(at("2026-03-02T10:00:00Z")),
            ca: { notBefore: CA.notBefore, notAfter: at("2026-03-02T10:10:00Z") },
          }),
          reason: SignerReason.WindowClosing,
          message: `${WHERE}: its access window ends at 2026-03-02T10:00:00.000Z, and a pod certificate must live at least 1h; none is issued that would outlive the window`,
          identity: REF,
        },
      ];

    it.each(cases)("$name", ({ input: given, reason, message, identity: ref }) => {
      expect(decidePodCertificate(given)).toEqual({ kind: "Deny", reason, message, identity: ref });
    });

    it.each([
      { name: "a second too soon", notAfter: at("2026-03-02T10:28:59Z"), schedule: undefined },
      { name: "already", notAfter: at("2026-03-02T08:00:00Z"), schedule: undefined },
      {
        name: "before an access window that ends later",
        notAfter: at("2026-03-02T10:00:00Z"),
        schedule: windowUntil(at("2026-03-02T10:10:00Z")),
      },
    ])("should fail, not deny, when the CA expires $name for a 1h certificate", ({ notAfter, schedule }) => {
      const decision = decidePodCertificate(
        input({
          ca: { notBefore: CA.notBefore, notAfter },
          ...(schedule ? { identity: identity(SCHEDULED), schedule } : {}),
        }),
      );
      expect(decision).toEqual({
        kind: "Fail",
        reason: "CAExpiring",
        message: `the issuing CA expires at ${notAfter.toISOString()}, too soon for a certificate of at least 1h; Signet rotates it before then`,
        identity: REF,
      });
    });

    it("should fail, not issue from the future, when the CA is not valid yet", () => {
      const notBefore = new Date(NOW.getTime() + 600_000);
      const decision = decidePodCertificate(input({ ca: { notBefore, notAfter: CA.notAfter } }));
      expect(decision).toEqual({
        kind: "Fail",
        reason: "CANotYetValid",
        message: `the issuing CA is valid only from ${notBefore.toISOString()}; check the operator's clock against the CA's`,
        identity: REF,
      });
    });

    it("should check the signer name before anything else about the request", () => {
      const decision = decidePodCertificate(
        input({
          request: request({ signerName: "example.com/other", unverifiedUserAnnotations: { a: "b" } }),
          pod: undefined,
          identity: undefined,
        }),
      );
      expect(decision).toMatchObject({ kind: "Deny", reason: SignerReason.InvalidRequest });
    });

    it("should refuse an invalid spec before an issuance refusal, and that before a suspension", () => {
      const refusal = { reason: "ClaimNotPermitted", message: "not permitted" };
      const invalid = input({ identity: identity({ ttl: "72h", suspend: true }), issuanceRefusal: refusal });
      expect(decidePodCertificate(invalid)).toMatchObject({ reason: SignerReason.InvalidSpec });
      const refused = input({ identity: identity({ suspend: true }), issuanceRefusal: refusal });
      expect(decidePodCertificate(refused)).toMatchObject({ reason: "ClaimNotPermitted" });
    });
  });

  describe("validity", () => {
    it("should issue from a minute ago, floored to the second, for the ttl", () => {
      expect(decidePodCertificate(input())).toEqual({
        kind: "Issue",
        identity: REF,
        spiffeId: "spiffe://cluster.local/ns/shop/id/payments-api",
        dnsNames: [],
        keyAlgorithm: { algorithm: "ECDSA", size: 256 },
        notBefore: NOT_BEFORE,
        notAfter: at("2026-03-03T09:29:00Z"),
        beginRefreshAt: expect.any(Date),
      });
    });

    it.each([
      {
        name: "should live the ttl when it is shorter than maxExpirationSeconds",
        ttl: "6h",
        maxExpirationSeconds: 86_400,
        notAfter: at("2026-03-02T15:29:00Z"),
      },
      {
        name: "should live maxExpirationSeconds when it is shorter than the ttl",
        ttl: "24h",
        maxExpirationSeconds: 7200,
        notAfter: at("2026-03-02T11:29:00Z"),
      },
      {
        name: "should live exactly the 1h minimum when maxExpirationSeconds allows no more",
        ttl: "48h",
        maxExpirationSeconds: 3600,
        notAfter: at("2026-03-02T10:29:00Z"),
      },
      {
        name: "should default maxExpirationSeconds to 86400 when the request lacks it",
        ttl: "48h",
        maxExpirationSeconds: undefined,
        notAfter: at("2026-03-03T09:29:00Z"),
      },
      {
        name: "should live a ttl beyond 24h when maxExpirationSeconds allows it",
        ttl: "30h",
        maxExpirationSeconds: 7_862_400,
        notAfter: at("2026-03-03T15:29:00Z"),
      },
    ])("$name", ({ ttl, maxExpirationSeconds, notAfter }) => {
      const decision = issued(
        decidePodCertificate(
          input({ identity: identity({ ttl }), request: request({ maxExpirationSeconds }) }),
        ),
      );
      expect(decision.notBefore).toEqual(NOT_BEFORE);
      expect(decision.notAfter).toEqual(notAfter);
    });

    it("should not reach back before the CA's notBefore", () => {
      const ca = { notBefore: at("2026-03-02T09:29:40Z"), notAfter: CA.notAfter };
      const decision = issued(decidePodCertificate(input({ ca })));
      expect(decision.notBefore).toEqual(at("2026-03-02T09:29:40Z"));
      expect(decision.notAfter).toEqual(at("2026-03-03T09:29:40Z"));
    });

    it("should floor notBefore to the second even on a whole minute", () => {
      const decision = issued(decidePodCertificate(input({ now: at("2026-03-02T09:30:00.000Z") })));
      expect(decision.notBefore).toEqual(NOT_BEFORE);
      const late = issued(decidePodCertificate(input({ now: at("2026-03-02T09:30:00.999Z") })));
      expect(late.notBefore).toEqual(NOT_BEFORE);
      expect(late.notAfter).toEqual(at("2026-03-03T09:29:00Z"));
    });

    it("should end at the access window's end, floored to the second", () => {
      const decision = issued(
        decidePodCertificate(
          input({ identity: identity(SCHEDULED), schedule: windowUntil(at("2026-03-02T12:30:00.900Z")) }),
        ),
      );
      expect(decision.notBefore).toEqual(NOT_BEFORE);
      expect(decision.notAfter).toEqual(at("2026-03-02T12:30:00Z"));
    });

    it("should keep the ttl when the access window ends later", () => {
      const decision = issued(
        decidePodCertificate(
          input({ identity: identity(SCHEDULED), schedule: windowUntil(at("2026-03-04T00:00:00Z")) }),
        ),
      );
      expect(decision.notAfter).toEqual(at("2026-03-03T09:29:00Z"));
    });

    it("should end at the CA's notAfter", () => {
      const ca = { notBefore: CA.notBefore, notAfter: at("2026-03-02T14:30:00Z") };
      const decision = issued(decidePodCertificate(input({ ca })));
      expect(decision.notAfter).toEqual(at("2026-03-02T14:30:00Z"));
    });

    it("should issue exactly 1h when the access window ends 1h after notBefore", () => {
      const decision = issued(
        decidePodCertificate(
          input({ identity: identity(SCHEDULED), schedule: windowUntil(at("2026-03-02T10:29:00Z")) }),
        ),
      );
      expect(decision.notAfter.getTime() - decision.notBefore.getTime()).toBe(MIN_LIFETIME_MS);
      expect(decision.notAfter).toEqual(at("2026-03-02T10:29:00Z"));
    });

    it("should issue exactly 1h when the CA expires 1h after notBefore", () => {
      const ca = { notBefore: CA.notBefore, notAfter: at("2026-03-02T10:29:00Z") };
      const decision = issued(decidePodCertificate(input({ ca })));
      expect(decision.notAfter).toEqual(at("2026-03-02T10:29:00Z"));
    });

    it("should accept an empty userAnnotations map", () => {
      const decision = decidePodCertificate(input({ request: request({ unverifiedUserAnnotations: {} }) }));
      expect(decision.kind).toBe("Issue");
    });
  });

  describe("beginRefreshAt", () => {
    const refreshOf = (given: SignerInput) => {
      const decision = issued(decidePodCertificate(given));
      return { decision, refresh: decision.beginRefreshAt.getTime(), notAfter: decision.notAfter.getTime() };
    };

    it("should be a third of the lifetime before notAfter by default, within 10% of that third", () => {
      const { decision, refresh, notAfter } = refreshOf(input());
      const third = 8 * HOUR;
      expect(refresh).toBeGreaterThanOrEqual(notAfter - third - third / 10);
      expect(refresh).toBeLessThanOrEqual(notAfter - third + third / 10);
      expect(refresh % SECOND).toBe(0);
      const jittered = renewalTime({
        notBefore: decision.notBefore,
        notAfter: decision.notAfter,
        renewBeforeMs: third,
        jitterKey: REQUEST_UID,
      }).getTime();
      expect(refresh).toBe(Math.floor(jittered / SECOND) * SECOND);
    });

    it("should give one request the same time on every call, and different requests different times", () => {
      const first = refreshOf(input()).refresh;
      expect(refreshOf(input()).refresh).toBe(first);
      const uids = Array.from({ length: 10 }, (_, i) => `0000000${i}-8b7a-4c5d-9e6f-0a1b2c3d4e5f`);
      const times = uids.map((uid) => refreshOf(input({ request: request({}, uid) })).refresh);
      expect(new Set(times).size).toBe(10);
      expect(uids.map((uid) => refreshOf(input({ request: request({}, uid) })).refresh)).toEqual(times);
    });

    it("should be renewBefore ahead of notAfter when spec.renewBefore is set", () => {
      const { refresh, notAfter } = refreshOf(input({ identity: identity({ renewBefore: "2h" }) }));
      expect(refresh).toBeGreaterThanOrEqual(notAfter - 2 * HOUR - 12 * MINUTE);
      expect(refresh).toBeLessThanOrEqual(notAfter - 2 * HOUR + 12 * MINUTE);
    });

    it("should stay 10 minutes before notAfter when renewBefore is tiny", () => {
      const { refresh, notAfter } = refreshOf(input({ identity: identity({ renewBefore: "1s" }) }));
      expect(refresh).toBe(notAfter - REFRESH_MARGIN_MS);
    });

    it("should stay 10 minutes after notBefore when renewBefore reaches back almost to it", () => {
      // renewBefore 54m of a 1h lifetime leaves 6m, minus a jitter of up to 5.4m either way.
      const given = input({ identity: identity({ ttl: "1h", renewBefore: "54m" }) });
      const unclamped = renewalTime({
        notBefore: NOT_BEFORE,
        notAfter: after(NOT_BEFORE, HOUR),
        renewBeforeMs: 54 * MINUTE,
        jitterKey: REQUEST_UID,
      }).getTime();
      expect(unclamped).toBeLessThan(NOT_BEFORE.getTime() + REFRESH_MARGIN_MS);
      expect(refreshOf(given).refresh).toBe(NOT_BEFORE.getTime() + REFRESH_MARGIN_MS);
    });

    it.each([
      { name: "renewBefore is nearly the ttl", ttl: "24h", renewBefore: "23h", max: 86_400 },
      {
        name: "renewBefore outlasts a lifetime cut by maxExpirationSeconds",
        ttl: "48h",
        renewBefore: "30h",
        max: 86_400,
      },
    ])("should fall back to a third of the lifetime when $name", ({ ttl, renewBefore, max }) => {
      const { refresh, notAfter } = refreshOf(
        input({ identity: identity({ ttl, renewBefore }), request: request({ maxExpirationSeconds: max }) }),
      );
      expect(notAfter).toBe(at("2026-03-03T09:29:00Z").getTime());
      expect(refresh).toBeGreaterThanOrEqual(notAfter - 8 * HOUR - 48 * MINUTE);
      expect(refresh).toBeLessThanOrEqual(notAfter - 8 * HOUR + 48 * MINUTE);
    });

    it("should fit a certificate cut short by the access window", () => {
      const { decision, refresh, notAfter } = refreshOf(
        input({
          identity: identity({ ...SCHEDULED, renewBefore: "2h" }),
          schedule: windowUntil(at("2026-03-02T10:45:00Z")),
        }),
      );
      expect(decision.notAfter).toEqual(at("2026-03-02T10:45:00Z"));
      expect(refresh).toBeGreaterThanOrEqual(NOT_BEFORE.getTime() + REFRESH_MARGIN_MS);
      expect(refresh).toBeLessThanOrEqual(notAfter - REFRESH_MARGIN_MS);
    });
  });

  describe("what the certificate names", () => {
    it("should carry the identity's spec.spiffeID when it has one", () => {
      const decision = issued(
        decidePodCertificate(
          input({ identity: identity({ spiffeID: "spiffe://cluster.local/ns/shop/sa/payments" }) }),
        ),
      );
      expect(decision.spiffeId).toBe("spiffe://cluster.local/ns/shop/sa/payments");
    });

    it("should pass the identity's DNS names on, in order", () => {
      const mi = identity({ dnsNames: ["payments.shop.svc", "api.shop.svc"] });
      const decision = issued(decidePodCertificate(input({ identity: mi })));
      expect(decision.dnsNames).toEqual(["payments.shop.svc", "api.shop.svc"]);
      expect(decision.dnsNames).not.toBe(mi.spec.dnsNames);
    });

    it.each([
      { name: "ECDSA P-384", privateKey: { algorithm: "ECDSA", size: 384 }, key: P384 },
      { name: "Ed25519", privateKey: { algorithm: "Ed25519" }, key: ED25519 },
      { name: "RSA 3072", privateKey: { algorithm: "RSA", size: 3072 }, key: RSA3072 },
    ] as const)("should issue for a $name key to an identity of $name keys", ({ privateKey, key }) => {
      const decision = issued(decidePodCertificate(input({ identity: identity({ privateKey }), key })));
      expect(decision.keyAlgorithm).toEqual(key.algorithm);
      expect(decision.keyAlgorithm).toEqual({ ...privateKey });
    });
  });

  describe("against the API server's rules for a pod certificate", () => {
    it("should issue only what the API server accepts, and issue whenever that is possible", async () => {
      const { ca } = await rootCa();
      const caStart = ca.notBefore.getTime();
      const caEnd = ca.notAfter.getTime();
      // Never before the CA's notBefore: loadCa refuses a CA that is not valid yet. Biased to the
      // CA's first minutes (notBefore clamped to the CA's) and last hours (a CA too close to expiry).
      const now = fc.oneof(
        fc.integer({ min: caStart, max: caStart + 3 * MINUTE }),
        fc.integer({ min: caEnd - 3 * HOUR, max: caEnd + 10 * MINUTE }),
        fc.integer({ min: caStart, max: caEnd }),
      );
      fc.assert(
        fc.property(
          fc.record({
            ttlSeconds: fc.integer({ min: 3600, max: 48 * 3600 }),
            maxExpirationSeconds: fc.option(fc.integer({ min: 3600, max: 7_862_400 }), { nil: undefined }),
            // In thousandths of the ttl: mostly shorter than it, sometimes not (an invalid spec).
            renewBeforePermille: fc.option(fc.integer({ min: 0, max: 1100 }), { nil: undefined }),
            windowEndMs: fc.option(fc.integer({ min: 1, max: 72 * HOUR }), { nil: undefined }),
            nowMs: now,
            uid: fc.uuid(),
          }),
          ({ ttlSeconds, maxExpirationSeconds, renewBeforePermille, windowEndMs, nowMs, uid }) => {
            const renewBeforeSeconds =
              renewBeforePermille === undefined
                ? undefined
                : Math.max(1, Math.floor((ttlSeconds * renewBeforePermille) / 1000));

            const windowEnd = windowEndMs === undefined ? undefined : nowMs + windowEndMs;
            const mi = identity({
              ttl: `${ttlSeconds}s`,
              ...(renewBeforeSeconds === undefined ? {} : { renewBefore: `${renewBeforeSeconds}s` }),
              ...(windowEnd === undefined ? {} : SCHEDULED),
            });
            const decision = decidePodCertificate(
              input({
                request: request({ maxExpirationSeconds }, uid),
                identity: mi,
                schedule:
                  windowEnd === undefined
                    ? undefined
                    : schedule({ start: new Date(nowMs - HOUR), end: new Date(windowEnd) }),
                ca: { notBefore: ca.notBefore, notAfter: ca.notAfter },
                now: new Date(nowMs),
              }),
            );

            const ttlMs = ttlSeconds * SECOND;
            const maxMs = (maxExpirationSeconds ?? 86_400) * SECOND;
            const notBefore = Math.floor(Math.max(nowMs - MINUTE, caStart) / SECOND) * SECOND;
            const limit = Math.min(ttlMs, maxMs, (windowEnd ?? Infinity) - notBefore, caEnd - notBefore);
            const lifetime = Math.floor(limit / SECOND) * SECOND;

            if (renewBeforeSeconds !== undefined && renewBeforeSeconds >= ttlSeconds) {
              expect(decision).toMatchObject({ kind: "Deny", reason: SignerReason.InvalidSpec });
              return;
            }
            if (lifetime < MIN_LIFETIME_MS) {
              const windowFirst = (windowEnd ?? Infinity) - notBefore <= caEnd - notBefore;
              expect(decision).toMatchObject(
                windowFirst
                  ? { kind: "Deny", reason: SignerReason.WindowClosing }
                  : { kind: "Fail", reason: SignerReason.CaExpiring },
              );
              return;
            }
            const issue = issued(decision);
            const nb = issue.notBefore.getTime();
            const na = issue.notAfter.getTime();
            const refresh = issue.beginRefreshAt.getTime();

            // What the API server checks.
            expect(na - nb).toBeGreaterThanOrEqual(HOUR);
            expect(na - nb).toBeLessThanOrEqual(maxMs);
            expect(Math.abs(nb - nowMs)).toBeLessThan(5 * MINUTE);
            expect(refresh).toBeGreaterThanOrEqual(nb + 10 * MINUTE);
            expect(refresh).toBeLessThanOrEqual(na - 10 * MINUTE);
            // What Signet promises besides: the longest such certificate, inside ttl, window and CA.
            expect(nb).toBe(notBefore);
            expect(na - nb).toBe(lifetime);
            expect(na - nb).toBeLessThanOrEqual(ttlMs);
            if (windowEnd !== undefined) expect(na).toBeLessThanOrEqual(windowEnd);
            expect(nb).toBeGreaterThanOrEqual(caStart);
            expect(na).toBeLessThanOrEqual(caEnd);
            for (const t of [nb, na, refresh]) expect(t % SECOND).toBe(0);
            // Near notAfter - renewBefore, jittered by 10%, unless renewBefore leaves no room.
            const asked =
              renewBeforeSeconds === undefined ? Math.floor(lifetime / 3) : renewBeforeSeconds * SECOND;
            const renewBefore = asked * 1.1 < lifetime ? asked : Math.floor(lifetime / 3);
            const spread = Math.floor(renewBefore / 10);
            const clamp = (t: number) =>
              Math.floor(Math.min(Math.max(t, nb + 10 * MINUTE), na - 10 * MINUTE) / SECOND) * SECOND;
            expect(refresh).toBeGreaterThanOrEqual(clamp(na - renewBefore - spread));
            expect(refresh).toBeLessThanOrEqual(clamp(na - renewBefore + spread));

            // The leaf says the same, for the request's key, and chains to the CA.
            const minted = mintSvidForKey({
              ca,
              spiffeId: issue.spiffeId,
              dnsNames: issue.dnsNames,
              keyAlgorithm: issue.keyAlgorithm,
              publicKeySpki: P256.spki,
              notBefore: issue.notBefore,
              notAfter: issue.notAfter,
            });
            const leaf = new X509Certificate(minted.certPem);
            expect(new Date(leaf.validFrom).getTime()).toBe(nb);
            expect(new Date(leaf.validTo).getTime()).toBe(na);
            expect(leaf.publicKey.export({ format: "der", type: "spki" }).equals(P256.spki)).toBe(true);
            expect(leaf.verify(ca.certificate.publicKey)).toBe(true);
          },
        ),
        { numRuns: 300 },
      );
    });
  });
});
