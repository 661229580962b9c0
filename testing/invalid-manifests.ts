// Manifests with one mistake each, and the field the mistake must be reported on. The API server
// (e2e/api/validation.e2e.test.ts) and the zod schemas (operator/src/api/schemas.test.ts) must
// both reject every one of them, naming that field.
import { API_VERSION, type SignetKind } from "../operator/src/api/constants.ts";

export type Manifest = {
  apiVersion: string;
  kind: SignetKind;
  metadata: { name: string; namespace?: string };
  spec: Record<string, unknown>;
};

export interface InvalidCase {
  /** Completes "should reject a manifest with ...". */
  name: string;
  manifest: Manifest;
  /** Path of the offending field as the API server reports it, e.g. "spec.windows[0].end". */
  field: string;
  /** True when only a CEL rule (x-kubernetes-validations) catches the mistake. */
  cel?: boolean;
}

export function machineIdentity(spec: Record<string, unknown> = {}, name = "payments-api"): Manifest {
  return {
    apiVersion: API_VERSION,
    kind: "MachineIdentity",
    metadata: { name },
    spec: { serviceAccounts: ["payments"], ...spec },
  };
}

export function accessPolicy(spec: Record<string, unknown> = {}): Manifest {
  return {
    apiVersion: API_VERSION,
    kind: "AccessPolicy",
    metadata: { name: "checkout-to-payments" },
    spec: {
      target: { identity: "payments-api", ports: [{ port: 8443, protocol: "TCP" }] },
      allowFrom: [{ identity: "checkout" }],
      ...spec,
    },
  };
}

export function accessSchedule(spec: Record<string, unknown> = {}): Manifest {
  return {
    apiVersion: API_VERSION,
    kind: "AccessSchedule",
    metadata: { name: "business-hours" },
    spec: {
      timeZone: "Europe/Berlin",
      windows: [{ days: ["Mon", "Tue", "Wed", "Thu", "Fri"], start: "08:00", end: "18:00" }],
      ...spec,
    },
  };
}

export function issuancePolicy(spec: Record<string, unknown> = {}): Manifest {
  return {
    apiVersion: API_VERSION,
    kind: "IssuancePolicy",
    metadata: { name: "payments-platform" },
    spec: { namespaceSelector: { matchLabels: { team: "payments" } }, ...spec },
  };
}

export const TOKEN_HASH = `sha256:${"ab".repeat(32)}`;

export function externalIdentity(spec: Record<string, unknown> = {}, name = "build-agent"): Manifest {
  return {
    apiVersion: API_VERSION,
    kind: "MachineIdentity",
    metadata: { name },
    spec: { delivery: "External", ...spec },
  };
}

export function enrollment(spec: Record<string, unknown> = {}, name = "build-agent-1"): Manifest {
  return {
    apiVersion: API_VERSION,
    kind: "Enrollment",
    metadata: { name },
    spec: { identity: "build-agent", tokenHash: TOKEN_HASH, ...spec },
  };
}

export function trustedIssuer(spec: Record<string, unknown> = {}): Manifest {
  return {
    apiVersion: API_VERSION,
    kind: "TrustedIssuer",
    metadata: { name: "ci" },
    spec: {
      issuer: "https://ci.example.com",
      audiences: ["signet"],
      rules: [{ identity: { namespace: "shop", name: "build-agent" }, claims: { repository: "acme/shop" } }],
      ...spec,
    },
  };
}

const window = (w: Record<string, unknown>) => ({
  windows: [{ days: ["Mon"], start: "08:00", end: "18:00", ...w }],
});
const grant = (g: Record<string, unknown>) => ({
  grants: [{ start: "2026-11-21T22:00:00Z", end: "2026-11-21T23:00:00Z", ...g }],
});
const http = (h: Record<string, unknown>) => ({ allowFrom: [{ identity: "checkout", http: h }] });
const port = (p: Record<string, unknown>) => ({
  target: { identity: "payments-api", ports: [{ port: 8443, ...p }] },
});

export const INVALID_CASES: InvalidCase[] = [
  // MachineIdentity
  {
    name: "no serviceAccounts at all",
    manifest: { ...machineIdentity(), spec: { ttl: "1h" } },
    field: "spec.serviceAccounts",
  },
  {
    name: "an empty serviceAccounts list",
    manifest: machineIdentity({ serviceAccounts: [] }),
    field: "spec.serviceAccounts",
  },
  {
    name: "a ServiceAccount name with capitals",
    manifest: machineIdentity({ serviceAccounts: ["Payments"] }),
    field: "spec.serviceAccounts[0]",
  },
  {
    name: "the same ServiceAccount twice",
    manifest: machineIdentity({ serviceAccounts: ["payments", "payments"] }),
    field: "spec.serviceAccounts[1]",
  },
  {
    name: "more than 32 ServiceAccounts",
    manifest: machineIdentity({ serviceAccounts: Array.from({ length: 33 }, (_, i) => `sa-${i}`) }),
    field: "spec.serviceAccounts",
  },
  {
    name: "a ttl in days, which Go durations lack",
    manifest: machineIdentity({ ttl: "1d" }),
    field: "spec.ttl",
  },
  { name: "a ttl below 10s", manifest: machineIdentity({ ttl: "5s" }), field: "spec.ttl", cel: true },
  { name: "a ttl above 8760h", manifest: machineIdentity({ ttl: "8761h" }), field: "spec.ttl", cel: true },
  {
    name: "renewBefore equal to ttl",
    manifest: machineIdentity({ ttl: "1h", renewBefore: "60m" }),
    field: "spec.renewBefore",
    cel: true,
  },
  {
    name: "renewBefore longer than the default ttl",
    manifest: machineIdentity({ renewBefore: "2h" }),
    field: "spec.renewBefore",
    cel: true,
  },
  {
    name: "delivery PodCertificate with a ttl under an hour",
    manifest: machineIdentity({ delivery: "PodCertificate", ttl: "59m" }),
    field: "spec.ttl",
    cel: true,
  },
  {
    name: "a jwtSVID without audiences",
    manifest: machineIdentity({ jwtSVID: { ttl: "5m" } }),
    field: "spec.jwtSVID.audiences",
  },
  {
    name: "a jwtSVID with an empty audiences list",
    manifest: machineIdentity({ jwtSVID: { audiences: [] } }),
    field: "spec.jwtSVID.audiences",
  },
  {
    name: "a jwtSVID with more than 16 audiences",
    manifest: machineIdentity({ jwtSVID: { audiences: Array.from({ length: 17 }, (_, i) => `aud-${i}`) } }),
    field: "spec.jwtSVID.audiences",
  },
  {
    name: "a jwtSVID audience with whitespace",
    manifest: machineIdentity({ jwtSVID: { audiences: ["vault", "sts amazonaws"] } }),
    field: "spec.jwtSVID.audiences[1]",
  },
  {
    name: "an empty jwtSVID audience",
    manifest: machineIdentity({ jwtSVID: { audiences: [""] } }),
    field: "spec.jwtSVID.audiences[0]",
  },
  {
    name: "a jwtSVID audience of 257 characters",
    manifest: machineIdentity({ jwtSVID: { audiences: ["a".repeat(257)] } }),
    field: "spec.jwtSVID.audiences[0]",
  },
  {
    name: "the same jwtSVID audience twice",
    manifest: machineIdentity({ jwtSVID: { audiences: ["vault", "vault"] } }),
    field: "spec.jwtSVID.audiences[1]",
  },
  {
    name: "a jwtSVID ttl below 30s",
    manifest: machineIdentity({ jwtSVID: { audiences: ["vault"], ttl: "29s" } }),
    field: "spec.jwtSVID.ttl",
    cel: true,
  },
  {
    name: "a jwtSVID ttl above 1h",
    manifest: machineIdentity({ jwtSVID: { audiences: ["vault"], ttl: "61m" } }),
    field: "spec.jwtSVID.ttl",
    cel: true,
  },
  {
    name: "a jwtSVID ttl that is not a duration",
    manifest: machineIdentity({ jwtSVID: { audiences: ["vault"], ttl: "five minutes" } }),
    field: "spec.jwtSVID.ttl",
  },
  {
    name: "delivery PodCertificate with an RSA 2048 key",
    manifest: machineIdentity({ delivery: "PodCertificate", privateKey: { algorithm: "RSA", size: 2048 } }),
    field: "spec.privateKey.size",
    cel: true,
  },
  {
    name: "delivery PodCertificate with the default RSA size",
    manifest: machineIdentity({ delivery: "PodCertificate", privateKey: { algorithm: "RSA" } }),
    field: "spec.privateKey.size",
    cel: true,
  },
  {
    name: "delivery PodCertificate with a secretName",
    manifest: machineIdentity({ delivery: "PodCertificate", secretName: "payments-tls" }),
    field: "spec.secretName",
    cel: true,
  },
  {
    name: "an unknown delivery",
    manifest: machineIdentity({ delivery: "Csi" }),
    field: "spec.delivery",
  },
  {
    name: "renewBefore with a space",
    manifest: machineIdentity({ renewBefore: "20 m" }),
    field: "spec.renewBefore",
  },
  {
    name: "an ECDSA key of 2048 bits",
    manifest: machineIdentity({ privateKey: { algorithm: "ECDSA", size: 2048 } }),
    field: "spec.privateKey.size",
    cel: true,
  },
  {
    name: "an RSA key of 384 bits",
    manifest: machineIdentity({ privateKey: { algorithm: "RSA", size: 384 } }),
    field: "spec.privateKey.size",
    cel: true,
  },
  {
    name: "an Ed25519 key with a size",
    manifest: machineIdentity({ privateKey: { algorithm: "Ed25519", size: 256 } }),
    field: "spec.privateKey.size",
    cel: true,
  },
  {
    name: "an unknown key algorithm",
    manifest: machineIdentity({ privateKey: { algorithm: "DSA" } }),
    field: "spec.privateKey.algorithm",
  },
  {
    name: "an RSA key of 1024 bits",
    manifest: machineIdentity({ privateKey: { algorithm: "RSA", size: 1024 } }),
    field: "spec.privateKey.size",
  },
  {
    name: "a SPIFFE ID with an upper-case trust domain",
    manifest: machineIdentity({ spiffeID: "spiffe://Cluster.Local/ns/shop/id/payments-api" }),
    field: "spec.spiffeID",
  },
  {
    name: "a SPIFFE ID with a port",
    manifest: machineIdentity({ spiffeID: "spiffe://cluster.local:8443/ns/shop/id/payments-api" }),
    field: "spec.spiffeID",
  },
  {
    name: "a SPIFFE ID with user info",
    manifest: machineIdentity({ spiffeID: "spiffe://admin@cluster.local/ns/shop/id/payments-api" }),
    field: "spec.spiffeID",
  },
  {
    name: "a SPIFFE ID with the root path only",
    manifest: machineIdentity({ spiffeID: "spiffe://cluster.local/" }),
    field: "spec.spiffeID",
  },
  {
    name: "a SPIFFE ID with a '..' segment",
    manifest: machineIdentity({ spiffeID: "spiffe://cluster.local/ns/shop/../finance" }),
    field: "spec.spiffeID",
  },
  {
    name: "a SPIFFE ID with an empty segment",
    manifest: machineIdentity({ spiffeID: "spiffe://cluster.local/ns//payments-api" }),
    field: "spec.spiffeID",
  },
  {
    name: "a SPIFFE ID with a query",
    manifest: machineIdentity({ spiffeID: "spiffe://cluster.local/ns/shop?id=payments-api" }),
    field: "spec.spiffeID",
  },
  {
    name: "a SPIFFE ID with another scheme",
    manifest: machineIdentity({ spiffeID: "https://cluster.local/ns/shop/id/payments-api" }),
    field: "spec.spiffeID",
  },
  {
    name: "a SPIFFE ID longer than 2048 characters",
    manifest: machineIdentity({ spiffeID: `spiffe://cluster.local/${"a".repeat(2040)}` }),
    field: "spec.spiffeID",
  },
  {
    name: "a wildcard that is not the leftmost DNS label",
    manifest: machineIdentity({ dnsNames: ["api.*.shop.svc"] }),
    field: "spec.dnsNames[0]",
  },
  {
    name: "a DNS name with an underscore",
    manifest: machineIdentity({ dnsNames: ["payments.shop.svc", "pay_ments.shop.svc"] }),
    field: "spec.dnsNames[1]",
  },
  { name: "an unknown usage", manifest: machineIdentity({ usages: ["peer"] }), field: "spec.usages[0]" },
  { name: "no usages", manifest: machineIdentity({ usages: [] }), field: "spec.usages" },
  {
    name: "a secretName with an underscore",
    manifest: machineIdentity({ secretName: "payments_identity" }),
    field: "spec.secretName",
  },
  {
    name: "a scheduleRef without a name",
    manifest: machineIdentity({ scheduleRef: {} }),
    field: "spec.scheduleRef.name",
  },
  { name: "suspend as a string", manifest: machineIdentity({ suspend: "yes" }), field: "spec.suspend" },
  {
    name: "an identity name too long for a label value",
    manifest: machineIdentity({}, `payments-${"a".repeat(60)}`),
    field: "metadata.name",
  },
  // AccessPolicy
  { name: "port 0", manifest: accessPolicy(port({ port: 0 })), field: "spec.target.ports[0].port" },
  { name: "port 65536", manifest: accessPolicy(port({ port: 65536 })), field: "spec.target.ports[0].port" },
  {
    name: "the protocol HTTP",
    manifest: accessPolicy(port({ protocol: "HTTP" })),
    field: "spec.target.ports[0].protocol",
  },
  {
    name: "the same port twice",
    manifest: accessPolicy({ target: { identity: "payments-api", ports: [{ port: 8443 }, { port: 8443 }] } }),
    field: "spec.target.ports[1]",
  },
  {
    name: "no target identity",
    manifest: accessPolicy({ target: { ports: [] } }),
    field: "spec.target.identity",
  },
  {
    name: "a target identity longer than 63 characters",
    manifest: accessPolicy({ target: { identity: "p".repeat(64) } }),
    field: "spec.target.identity",
  },
  { name: "an empty allowFrom", manifest: accessPolicy({ allowFrom: [] }), field: "spec.allowFrom" },
  {
    name: "an allowFrom identity with capitals",
    manifest: accessPolicy({ allowFrom: [{ identity: "Checkout" }] }),
    field: "spec.allowFrom[0].identity",
  },
  {
    name: "an allowFrom namespace with a dot",
    manifest: accessPolicy({ allowFrom: [{ identity: "ledger", namespace: "finance.prod" }] }),
    field: "spec.allowFrom[0].namespace",
  },
  {
    name: "an http method in lower case",
    manifest: accessPolicy(http({ methods: ["GET", "post"] })),
    field: "spec.allowFrom[0].http.methods[1]",
  },
  {
    name: "the same http method twice",
    manifest: accessPolicy(http({ methods: ["GET", "GET"] })),
    field: "spec.allowFrom[0].http.methods[1]",
  },
  {
    name: "17 http methods",
    manifest: accessPolicy(http({ methods: Array.from({ length: 17 }, (_, i) => `M${"X".repeat(i)}`) })),
    field: "spec.allowFrom[0].http.methods",
  },
  {
    name: "an http path without a leading slash",
    manifest: accessPolicy(http({ paths: ["v1/pay"] })),
    field: "spec.allowFrom[0].http.paths[0]",
  },
  {
    name: "an http path with a wildcard inside it",
    manifest: accessPolicy(http({ paths: ["/v1/*/pay"] })),
    field: "spec.allowFrom[0].http.paths[0]",
  },
  {
    name: "an http path prefix without a slash before the wildcard",
    manifest: accessPolicy(http({ paths: ["/v1*"] })),
    field: "spec.allowFrom[0].http.paths[0]",
  },
  {
    name: "an http path with a query",
    manifest: accessPolicy(http({ paths: ["/v1/pay?amount=1"] })),
    field: "spec.allowFrom[0].http.paths[0]",
  },
  {
    name: "33 http paths",
    manifest: accessPolicy(http({ paths: Array.from({ length: 33 }, (_, i) => `/p${i}`) })),
    field: "spec.allowFrom[0].http.paths",
  },
  // AccessSchedule
  {
    name: "a window starting at 24:00",
    manifest: accessSchedule(window({ start: "24:00" })),
    field: "spec.windows[0].start",
  },
  {
    name: "a window ending at 8:00 without a leading zero",
    manifest: accessSchedule(window({ end: "8:00" })),
    field: "spec.windows[0].end",
  },
  {
    name: "a window that ends when it starts",
    manifest: accessSchedule(window({ start: "08:00", end: "08:00" })),
    field: "spec.windows[0].end",
    cel: true,
  },
  {
    name: "a window listing Monday twice",
    manifest: accessSchedule(window({ days: ["Mon", "Mon"] })),
    field: "spec.windows[0].days[1]",
  },
  {
    name: "a day spelled out",
    manifest: accessSchedule(window({ days: ["Monday"] })),
    field: "spec.windows[0].days[0]",
  },
  {
    name: "a window without days",
    manifest: accessSchedule(window({ days: [] })),
    field: "spec.windows[0].days",
  },
  {
    name: "more than 32 windows",
    manifest: accessSchedule({
      windows: Array.from({ length: 33 }, () => ({ days: ["Mon"], start: "08:00", end: "09:00" })),
    }),
    field: "spec.windows",
  },
  {
    name: "a grant that ends before it starts",
    manifest: accessSchedule(grant({ end: "2026-11-21T21:00:00Z" })),
    field: "spec.grants[0].end",
    cel: true,
  },
  {
    name: "a grant of eight days",
    manifest: accessSchedule(grant({ end: "2026-11-29T22:00:00Z" })),
    field: "spec.grants[0].end",
    cel: true,
  },
  {
    name: "a grant whose end, in another offset, is its start",
    manifest: accessSchedule(grant({ end: "2026-11-21T23:00:00+01:00" })),
    field: "spec.grants[0].end",
    cel: true,
  },
  {
    name: "a grant start with a space instead of T",
    manifest: accessSchedule(grant({ start: "2026-11-21 22:00:00Z" })),
    field: "spec.grants[0].start",
  },
  {
    name: "a grant start without a time-zone offset",
    manifest: accessSchedule(grant({ start: "2026-11-21T22:00:00" })),
    field: "spec.grants[0].start",
  },
  {
    name: "a grant on February 30th",
    manifest: accessSchedule(grant({ start: "2026-02-30T22:00:00Z", end: "2026-03-01T22:00:00Z" })),
    field: "spec.grants[0].start",
  },
  {
    name: "a grant reason longer than 256 characters",
    manifest: accessSchedule(grant({ reason: "x".repeat(257) })),
    field: "spec.grants[0].reason",
  },
  {
    name: "a time zone with a space",
    manifest: accessSchedule({ timeZone: "Europe Berlin" }),
    field: "spec.timeZone",
  },
  {
    name: "an issuance policy without a namespaceSelector",
    manifest: { ...issuancePolicy(), spec: { spiffeIDs: ["spiffe://cluster.local/payments/**"] } },
    field: "spec.namespaceSelector",
  },
  {
    name: "a SPIFFE ID pattern that is not a SPIFFE URI",
    manifest: issuancePolicy({ spiffeIDs: ["https://cluster.local/payments/**"] }),
    field: "spec.spiffeIDs[0]",
  },
  {
    name: "a SPIFFE ID pattern with an empty segment",
    manifest: issuancePolicy({ spiffeIDs: ["spiffe://cluster.local//payments"] }),
    field: "spec.spiffeIDs[0]",
  },
  {
    name: "a SPIFFE ID pattern with an unknown placeholder",
    manifest: issuancePolicy({ spiffeIDs: ["spiffe://cluster.local/{team}/x"] }),
    field: "spec.spiffeIDs[0]",
  },
  {
    name: "a DNS name pattern with upper case",
    manifest: issuancePolicy({ dnsNames: ["*.Payments.example.com"] }),
    field: "spec.dnsNames[0]",
  },
  {
    name: "a DNS name pattern with a trailing dot",
    manifest: issuancePolicy({ dnsNames: ["payments.example.com."] }),
    field: "spec.dnsNames[0]",
  },
  {
    name: "a selector requirement In without values",
    manifest: issuancePolicy({
      namespaceSelector: { matchExpressions: [{ key: "team", operator: "In" }] },
    }),
    field: "spec.namespaceSelector.matchExpressions[0].values",
    cel: true,
  },
  {
    name: "a selector requirement Exists with values",
    manifest: issuancePolicy({
      namespaceSelector: { matchExpressions: [{ key: "team", operator: "Exists", values: ["a"] }] },
    }),
    field: "spec.namespaceSelector.matchExpressions[0].values",
    cel: true,
  },
  {
    name: "a selector operator that does not exist",
    manifest: issuancePolicy({
      namespaceSelector: { matchExpressions: [{ key: "team", operator: "Equals", values: ["a"] }] },
    }),
    field: "spec.namespaceSelector.matchExpressions[0].operator",
  },
  {
    name: "a maxTTL beyond the schema's bound",
    manifest: issuancePolicy({ maxTTL: "9000h" }),
    field: "spec.maxTTL",
    cel: true,
  },
  {
    name: "an unknown key algorithm",
    manifest: issuancePolicy({ keyAlgorithms: ["DSA"] }),
    field: "spec.keyAlgorithms[0]",
  },
  {
    name: "an empty list of key algorithms",
    manifest: issuancePolicy({ keyAlgorithms: [] }),
    field: "spec.keyAlgorithms",
  },
  {
    name: "delivery Secret without serviceAccounts",
    manifest: { ...machineIdentity(), spec: { ttl: "1h" } },
    field: "spec.serviceAccounts",
    cel: true,
  },
  {
    name: "delivery External with serviceAccounts",
    manifest: externalIdentity({ serviceAccounts: ["builder"] }),
    field: "spec.serviceAccounts",
    cel: true,
  },
  {
    name: "delivery External with a secretName",
    manifest: externalIdentity({ secretName: "agent-tls" }),
    field: "spec.secretName",
    cel: true,
  },
  {
    name: "an enrollment without an identity",
    manifest: { ...enrollment(), spec: { tokenHash: TOKEN_HASH } },
    field: "spec.identity",
  },
  {
    name: "an enrollment holding a token instead of its hash",
    manifest: enrollment({ tokenHash: "signet-et1.shop.build-agent-1.c2VjcmV0" }),
    field: "spec.tokenHash",
  },
  {
    name: "an enrollment hash in upper case",
    manifest: enrollment({ tokenHash: `sha256:${"AB".repeat(32)}` }),
    field: "spec.tokenHash",
  },
  {
    name: "an enrollment ttl over a day",
    manifest: enrollment({ ttl: "25h" }),
    field: "spec.ttl",
    cel: true,
  },
  {
    name: "an enrollment ttl under a minute",
    manifest: enrollment({ ttl: "30s" }),
    field: "spec.ttl",
    cel: true,
  },
  {
    name: "an enrollment whose name has a dot",
    manifest: { ...enrollment(), metadata: { name: "build.agent" } },
    field: "metadata.name",
  },
  {
    name: "a trusted issuer over plain http without jwks",
    manifest: trustedIssuer({ issuer: "http://ci.example.com" }),
    field: "spec.issuer",
    cel: true,
  },
  {
    name: "a trusted issuer without audiences",
    manifest: trustedIssuer({ audiences: [] }),
    field: "spec.audiences",
  },
  {
    name: "a trusted issuer without rules",
    manifest: trustedIssuer({ rules: [] }),
    field: "spec.rules",
  },
  {
    name: "a trusted issuer rule without claims",
    manifest: trustedIssuer({
      rules: [{ identity: { namespace: "shop", name: "build-agent" }, claims: {} }],
    }),
    field: "spec.rules[0].claims",
    cel: true,
  },
  {
    name: "a trusted issuer rule with a bad claim name",
    manifest: trustedIssuer({
      rules: [{ identity: { namespace: "shop", name: "build-agent" }, claims: { "re po": "acme/shop" } }],
    }),
    field: "spec.rules[0].claims",
    cel: true,
  },
  {
    name: "a trusted issuer rule for an identity in a bad namespace",
    manifest: trustedIssuer({
      rules: [{ identity: { namespace: "Shop", name: "build-agent" }, claims: { repository: "acme/shop" } }],
    }),
    field: "spec.rules[0].identity.namespace",
  },
];

/** Edge cases that must be accepted, so that the rules above are not simply stricter than intended. */
export const VALID_EDGE_CASES: { name: string; manifest: Manifest }[] = [
  { name: "the shortest ttl, 10s", manifest: machineIdentity({ ttl: "10s", renewBefore: "9s" }) },
  { name: "the longest ttl, 8760h", manifest: machineIdentity({ ttl: "8760h" }) },
  {
    name: "delivery PodCertificate with the default ttl of 1h",
    manifest: machineIdentity({ delivery: "PodCertificate" }),
  },
  {
    name: "delivery PodCertificate with an RSA 3072 key",
    manifest: machineIdentity({ delivery: "PodCertificate", privateKey: { algorithm: "RSA", size: 3072 } }),
  },
  { name: "a fractional, compound ttl", manifest: machineIdentity({ ttl: "1.5h", renewBefore: "1h29m59s" }) },
  { name: "renewBefore in milliseconds", manifest: machineIdentity({ ttl: "10s", renewBefore: "9500ms" }) },
  {
    name: "an Ed25519 key without a size",
    manifest: machineIdentity({ privateKey: { algorithm: "Ed25519" } }),
  },
  {
    name: "an RSA key with the default size",
    manifest: machineIdentity({ privateKey: { algorithm: "RSA" } }),
  },
  {
    name: "an ECDSA P-384 key",
    manifest: machineIdentity({ privateKey: { algorithm: "ECDSA", size: 384 } }),
  },
  {
    name: "a SPIFFE ID with dots, dashes and underscores",
    manifest: machineIdentity({
      spiffeID: "spiffe://prod.example-corp_1.com/team/.well-known/.../Payments_API",
    }),
  },
  { name: "a leftmost wildcard DNS name", manifest: machineIdentity({ dnsNames: ["*.payments.shop.svc"] }) },
  { name: "a client-only identity", manifest: machineIdentity({ usages: ["client"] }) },
  {
    name: "a jwtSVID with one audience and the default ttl",
    manifest: machineIdentity({ jwtSVID: { audiences: ["sts.amazonaws.com"] } }),
  },
  {
    name: "a jwtSVID with 16 audiences of 256 characters and the bounds of ttl",
    manifest: machineIdentity({
      jwtSVID: { audiences: Array.from({ length: 16 }, (_, i) => `${i}`.padEnd(256, "a")), ttl: "1h" },
    }),
  },
  {
    name: "a jwtSVID with the shortest ttl and a URL audience",
    manifest: machineIdentity({
      jwtSVID: { audiences: ["https://vault.example.com:8200/v1/auth/jwt"], ttl: "30s" },
    }),
  },

  { name: "an identity name of exactly 63 characters", manifest: machineIdentity({}, "p".repeat(63)) },
  { name: "a port of 65535 over SCTP", manifest: accessPolicy(port({ port: 65535, protocol: "SCTP" })) },
  {
    name: "the same port over TCP and UDP",
    manifest: accessPolicy({
      target: { identity: "payments-api", ports: [{ port: 53 }, { port: 53, protocol: "UDP" }] },
    }),
  },
  { name: "a policy without ports", manifest: accessPolicy({ target: { identity: "payments-api" } }) },
  {
    name: "http rules of 16 methods and 32 paths, exact and prefixes",
    manifest: accessPolicy(
      http({
        methods: [
          "GET",
          "HEAD",
          "POST",
          "PUT",
          "DELETE",
          "CONNECT",
          "OPTIONS",
          "TRACE",
          "PATCH",
          "M-SEARCH",
        ].concat(["PROPFIND", "PROPPATCH", "MKCOL", "COPY", "MOVE", "LOCK"]),
        paths: [
          "/*",
          "/v1/pay",
          "/v1/*",
          "/a/b/c/",
          "/~user/%2F/x:y@z;p=1,$&'()+!",
          ...Array.from({ length: 27 }, (_, i) => `/p${i}`),
        ],
      }),
    ),
  },
  { name: "an empty http rule", manifest: accessPolicy(http({})) },
  { name: "a window across midnight", manifest: accessSchedule(window({ start: "22:00", end: "02:00" })) },
  {
    name: "a window from 00:00 to 23:59",
    manifest: accessSchedule(window({ start: "00:00", end: "23:59" })),
  },
  { name: "a grant of exactly seven days", manifest: accessSchedule(grant({ end: "2026-11-28T22:00:00Z" })) },
  {
    name: "a grant with offsets and fractional seconds",
    manifest: accessSchedule(
      grant({ start: "2026-11-21T23:00:00.5+01:00", end: "2026-11-22T01:00:00-01:00" }),
    ),
  },
  {
    name: "a grant on February 29th of a leap year",
    manifest: accessSchedule(grant({ start: "2028-02-29T08:00:00Z", end: "2028-02-29T09:00:00Z" })),
  },
  {
    name: "a three-part time zone",
    manifest: accessSchedule({ timeZone: "America/Argentina/Buenos_Aires" }),
  },
  { name: "a schedule with grants only", manifest: { ...accessSchedule(), spec: grant({}) } },
  { name: "an identity for outside machines", manifest: externalIdentity({ ttl: "10m" }) },
  { name: "an enrollment with the longest ttl", manifest: enrollment({ ttl: "24h" }) },
  {
    name: "a trusted issuer with a static JWKS and a plain issuer name",
    manifest: trustedIssuer({ issuer: "kubernetes", jwks: '{"keys":[]}' }),
  },
  {
    name: "an issuance policy for every namespace",
    manifest: { ...issuancePolicy(), spec: { namespaceSelector: {} } },
  },
  {
    name: "an issuance policy with every pattern form",
    manifest: issuancePolicy({
      namespaceSelector: {
        matchLabels: { "example.com/team": "payments" },
        matchExpressions: [
          { key: "tier", operator: "NotIn", values: ["dev", "test"] },
          { key: "pci", operator: "DoesNotExist" },
        ],
      },
      spiffeIDs: ["spiffe://cluster.local/payments/**", "spiffe://cluster.local/team/{namespace}/api-*"],
      dnsNames: ["*.payments.example.com", "**.internal.example.com", "api.{namespace}.example.com"],
      maxTTL: "6h",
      keyAlgorithms: ["ECDSA", "Ed25519"],
    }),
  },
];
