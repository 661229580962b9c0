import { createHash, X509Certificate } from "node:crypto";
import type { CertificateAuthority } from "./ca.ts";
import { isIssuedBy, splitPemCertificates } from "./certificate.ts";
import {
  chainProblem,
  inspectSecretData,
  type SecretData,
  type SecretInspection,
  type SvidView,
} from "./inspect.ts";
import { describeKeyAlgorithm, type PrivateKeySpec, sameKeyAlgorithm } from "./keys.ts";
import { DEFAULT_BACKDATE_MS, normaliseIdentity, SVID_USAGES } from "./mint.ts";

/** Renewal is jittered by up to this fraction of renewBefore, either way. */
export const RENEWAL_JITTER_FRACTION = 0.1;

export function defaultRenewBefore(ttlMs: number): number {
  return Math.floor(ttlMs / 3);
}

/**
 * When a certificate should be renewed: `notAfter - renewBefore`, shifted by a jitter of at most
 * ±10% of renewBefore. The jitter comes from SHA-256 of `jitterKey` and the serial, so identities
 * created together spread out while one certificate always yields the same time (a restart does
 * not move it). In whole milliseconds, with rb = renewBefore and s = floor(rb / 10):
 *
 *   notAfter - rb - s  <=  renewalTime  <=  notAfter - rb + s
 *
 * A renewBefore that is not positive, or so long that the early edge of the band would reach
 * before notBefore (1.1 * rb >= lifetime), falls back to a third of the lifetime, as cert-manager
 * does; that keeps the renewal time inside the certificate's validity.
 */
export function renewalTime(input: {
  notBefore: Date;
  notAfter: Date;
  renewBeforeMs: number;
  jitterKey: string;
  serialNumber?: string | undefined;
}): Date {
  const lifetime = input.notAfter.getTime() - input.notBefore.getTime();
  let renewBefore = Math.floor(input.renewBeforeMs);
  if (!(renewBefore > 0) || renewBefore * (1 + RENEWAL_JITTER_FRACTION) >= lifetime) {
    renewBefore = Math.floor(lifetime / 3);
  }
  const spread = Math.floor(renewBefore * RENEWAL_JITTER_FRACTION);
  const digest = createHash("sha256")
    .update(`${input.jitterKey}\n${input.serialNumber ?? ""}`)
    .digest();
  const unit = digest.readUInt32BE(0) / 2 ** 32;
  const offset = Math.floor(unit * (2 * spread + 1)) - spread;
  return new Date(input.notAfter.getTime() - renewBefore - offset);
}

export interface DesiredSvid {
  spiffeId: string;
  dnsNames?: readonly string[] | undefined;
  keyAlgorithm?: PrivateKeySpec | undefined;
  ttlMs: number;
  /** Default: a third of the ttl. */
  renewBeforeMs?: number | undefined;
  /** Must be the backdate minting uses, so the expected lifetime is ttl + backdate. Default 60 s. */
  backdateMs?: number | undefined;
}

export interface RenewalInput {
  secret: SecretData | undefined;
  desired: DesiredSvid;
  /** The CA that issues now. */
  issuer: CertificateAuthority;
  /** The trust bundle a current SVID must chain to; default the issuer's root. */
  trustBundlePem?: string | undefined;
  now: Date;
  /** The end of the current access window, when the identity has a schedule. */
  windowEnd?: Date | undefined;
  /** Spreads renewal times, e.g. the identity's namespace/name or uid. */
  jitterKey: string;
  /** How far the certificate's lifetime may stray from ttl + backdate. Default max(2 s, 1% of ttl). */
  ttlToleranceMs?: number | undefined;
}

export const RenewalReason = {
  SecretMissing: "SecretMissing",
  SecretMalformed: "SecretMalformed",
  IssuerChanged: "IssuerChanged",
  SpiffeIdChanged: "SpiffeIdChanged",
  DnsNamesChanged: "DnsNamesChanged",
  UsagesChanged: "UsagesChanged",
  KeyAlgorithmChanged: "KeyAlgorithmChanged",
  TtlChanged: "TtlChanged",
  WindowEndChanged: "WindowEndChanged",
  Expired: "Expired",
  NearingRenewal: "NearingRenewal",
  UpToDate: "UpToDate",
} as const;
export type RenewalReason = (typeof RenewalReason)[keyof typeof RenewalReason];

export interface RenewalDecision {
  reissue: boolean;
  reason: RenewalReason;
  message: string;
}

/** What each predicate sees: the input plus everything derived from it once. */
export interface RenewalContext extends RenewalInput {
  inspection: SecretInspection;
  desiredIdentity: ReturnType<typeof normaliseIdentity>;
  backdateMs: number;
  renewBeforeMs: number;
  toleranceMs: number;
}

export type RenewalPredicate = (context: RenewalContext) => RenewalDecision;

const keep = (reason: RenewalReason, message: string): RenewalDecision => ({
  reissue: false,
  reason,
  message,
});
const reissue = (reason: RenewalReason, message: string): RenewalDecision => ({
  reissue: true,
  reason,
  message,
});

/** Predicates after the first two only judge a Secret that parsed; a Secret that did not is not theirs. */
function withView(
  reason: RenewalReason,
  judge: (view: SvidView, context: RenewalContext) => RenewalDecision,
): RenewalPredicate {
  return (context) =>
    context.inspection.status === "Parsed"
      ? judge(context.inspection.view, context)
      : keep(reason, "no parsed certificate to judge");
}

export const secretMissing: RenewalPredicate = (context) =>
  context.inspection.status === "Missing"
    ? reissue(RenewalReason.SecretMissing, "the identity Secret does not exist")
    : keep(RenewalReason.SecretMissing, "the identity Secret exists");

export const secretMalformed: RenewalPredicate = (context) =>
  context.inspection.status === "Malformed"
    ? reissue(
        RenewalReason.SecretMalformed,
        `the identity Secret is malformed: ${context.inspection.message}`,
      )
    : keep(RenewalReason.SecretMalformed, "tls.crt and tls.key parse and match");

function sameCertificates(a: readonly X509Certificate[], b: readonly X509Certificate[]): boolean {
  return (
    a.length === b.length && a.every((cert, index) => cert.raw.equals((b[index] as X509Certificate).raw))
  );
}

export const issuerChanged = withView(RenewalReason.IssuerChanged, (view, context) => {
  if (!isIssuedBy(view.leaf, context.issuer.certificate)) {
    return reissue(RenewalReason.IssuerChanged, "the certificate is not signed by the current issuing CA");
  }
  const expectedIntermediates = splitPemCertificates(context.issuer.intermediatesPem).map(
    (pem) => new X509Certificate(pem),
  );
  if (!sameCertificates(view.intermediates, expectedIntermediates)) {
    return reissue(RenewalReason.IssuerChanged, "the chain in tls.crt differs from the issuing CA's chain");
  }
  const roots = splitPemCertificates(context.trustBundlePem ?? context.issuer.rootPem).map(
    (pem) => new X509Certificate(pem),
  );
  const problem = chainProblem(view.leaf, view.intermediates, roots);
  return problem
    ? reissue(RenewalReason.IssuerChanged, `the certificate does not chain to the trust bundle: ${problem}`)
    : keep(RenewalReason.IssuerChanged, "signed by the current issuing CA");
});

export const spiffeIdChanged = withView(RenewalReason.SpiffeIdChanged, (view, context) =>
  view.spiffeId === context.desiredIdentity.spiffeId && view.uriSans.length === 1
    ? keep(RenewalReason.SpiffeIdChanged, "the SPIFFE ID matches")
    : reissue(
        RenewalReason.SpiffeIdChanged,
        `the certificate's URI SANs [${view.uriSans.join(", ")}] are not exactly ${context.desiredIdentity.spiffeId}`,
      ),
);

export const dnsNamesChanged = withView(RenewalReason.DnsNamesChanged, (view, context) =>
  view.dnsNames.join(",") === context.desiredIdentity.dnsNames.join(",")
    ? keep(RenewalReason.DnsNamesChanged, "the DNS names match")
    : reissue(
        RenewalReason.DnsNamesChanged,
        `the certificate's DNS names [${view.dnsNames.join(", ")}] differ from [${context.desiredIdentity.dnsNames.join(", ")}]`,
      ),
);

/** A certificate from before every SVID carried both usages is brought up to SPIFFE section 4.4. */
export const usagesChanged = withView(RenewalReason.UsagesChanged, (view) =>
  view.usages.join(",") === SVID_USAGES.join(",")
    ? keep(RenewalReason.UsagesChanged, "the certificate carries both serverAuth and clientAuth")
    : reissue(
        RenewalReason.UsagesChanged,
        `the certificate's usages [${view.usages.join(", ")}] are not [${SVID_USAGES.join(", ")}], which every SVID carries`,
      ),
);

export const keyAlgorithmChanged = withView(RenewalReason.KeyAlgorithmChanged, (view, context) =>
  view.keyAlgorithm && sameKeyAlgorithm(view.keyAlgorithm, context.desiredIdentity.keyAlgorithm)
    ? keep(RenewalReason.KeyAlgorithmChanged, "the key algorithm matches")
    : reissue(
        RenewalReason.KeyAlgorithmChanged,
        `the key is ${view.keyDescription}, the spec asks for ${describeKeyAlgorithm(context.desiredIdentity.keyAlgorithm)}`,
      ),
);

function near(a: Date | undefined, b: Date, toleranceMs: number): boolean {
  return a !== undefined && Math.abs(a.getTime() - b.getTime()) <= toleranceMs;
}

/**
 * A certificate lives ttl + backdate unless minting clamped it: notAfter at the CA's end or the
 * window's end, or notBefore at the CA's start. A clamped certificate may be shorter, never longer.
 */
export const ttlChanged = withView(RenewalReason.TtlChanged, (view, context) => {
  const lifetime = view.notAfter.getTime() - view.notBefore.getTime();
  const expected = context.desired.ttlMs + context.backdateMs;
  const seconds = (ms: number) => `${Math.round(ms / 1000)}s`;
  if (lifetime > expected + context.toleranceMs) {
    return reissue(
      RenewalReason.TtlChanged,
      `the certificate lives ${seconds(lifetime)}, longer than ttl + backdate ${seconds(expected)}`,
    );
  }
  const clamped =
    near(context.issuer.notAfter, view.notAfter, context.toleranceMs) ||
    near(context.windowEnd, view.notAfter, context.toleranceMs) ||
    near(context.issuer.notBefore, view.notBefore, context.toleranceMs);
  if (lifetime < expected - context.toleranceMs && !clamped) {
    return reissue(
      RenewalReason.TtlChanged,
      `the certificate lives ${seconds(lifetime)}, shorter than ttl + backdate ${seconds(expected)}`,
    );
  }
  return keep(RenewalReason.TtlChanged, "the lifetime matches the ttl");
});

export const windowEndChanged = withView(RenewalReason.WindowEndChanged, (view, context) =>
  context.windowEnd && view.notAfter > context.windowEnd
    ? reissue(
        RenewalReason.WindowEndChanged,
        `the certificate is valid until ${view.notAfter.toISOString()}, past the access window's end ${context.windowEnd.toISOString()}`,
      )
    : keep(RenewalReason.WindowEndChanged, "the certificate ends within the access window"),
);

export const expired = withView(RenewalReason.Expired, (view, context) =>
  context.now >= view.notAfter
    ? reissue(RenewalReason.Expired, `the certificate expired at ${view.notAfter.toISOString()}`)
    : keep(RenewalReason.Expired, `the certificate is valid until ${view.notAfter.toISOString()}`),
);

export function renewalTimeOf(
  view: SvidView,
  context: Pick<RenewalContext, "renewBeforeMs" | "jitterKey">,
): Date {
  return renewalTime({
    notBefore: view.notBefore,
    notAfter: view.notAfter,
    renewBeforeMs: context.renewBeforeMs,
    jitterKey: context.jitterKey,
    serialNumber: view.serialNumber,
  });
}

/**
 * Due at the renewal time, except when a new certificate could not outlive the current one
 * (it already reaches the window's end or the CA's end): reissuing then would only loop.
 */
export const nearingRenewal = withView(RenewalReason.NearingRenewal, (view, context) => {
  const due = renewalTimeOf(view, context);
  if (context.now < due) return keep(RenewalReason.NearingRenewal, `renewal is due at ${due.toISOString()}`);
  const reachable = Math.min(
    context.now.getTime() + context.desired.ttlMs,
    context.issuer.notAfter.getTime(),
    context.windowEnd?.getTime() ?? Number.POSITIVE_INFINITY,
  );
  if (Math.floor(reachable / 1000) * 1000 <= view.notAfter.getTime()) {
    return keep(
      RenewalReason.NearingRenewal,
      `renewal was due at ${due.toISOString()}, but no new certificate could outlive ${view.notAfter.toISOString()}`,
    );
  }
  return reissue(RenewalReason.NearingRenewal, `renewal was due at ${due.toISOString()}`);
});

/** cert-manager's order: existence and integrity first, then spec drift, then time. */
export const DEFAULT_RENEWAL_CHAIN: readonly RenewalPredicate[] = [
  secretMissing,
  secretMalformed,
  issuerChanged,
  spiffeIdChanged,
  dnsNamesChanged,
  usagesChanged,
  keyAlgorithmChanged,
  ttlChanged,
  windowEndChanged,
  expired,
  nearingRenewal,
];

export interface RenewalEvaluation extends RenewalDecision {
  /** When the current certificate is due for renewal, if it parsed. */
  renewalTime: Date | undefined;
  view: SvidView | undefined;
}

export function renewalContext(input: RenewalInput): RenewalContext {
  const ttl = input.desired.ttlMs;
  return {
    ...input,
    inspection: inspectSecretData(input.secret),
    desiredIdentity: normaliseIdentity({ ...input.desired, ca: input.issuer }),
    backdateMs: input.desired.backdateMs ?? DEFAULT_BACKDATE_MS,
    renewBeforeMs: input.desired.renewBeforeMs ?? defaultRenewBefore(ttl),
    toleranceMs: input.ttlToleranceMs ?? Math.max(2000, ttl / 100),
  };
}

/** Asks the predicates in order; the first that wants a reissue decides. */
export function evaluateRenewal(
  input: RenewalInput,
  chain: readonly RenewalPredicate[] = DEFAULT_RENEWAL_CHAIN,
): RenewalEvaluation {
  const context = renewalContext(input);
  const view = context.inspection.status === "Parsed" ? context.inspection.view : undefined;
  const due = view ? renewalTimeOf(view, context) : undefined;
  for (const predicate of chain) {
    const decision = predicate(context);
    if (decision.reissue) return { ...decision, renewalTime: due, view };
  }
  return {
    reissue: false,
    reason: RenewalReason.UpToDate,
    message: due
      ? `the certificate is current; renewal is due at ${due.toISOString()}`
      : "the certificate is current",
    renewalTime: due,
    view,
  };
}
