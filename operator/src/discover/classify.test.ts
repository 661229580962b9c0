import { generateKeyPairSync, randomBytes } from "node:crypto";
import type { V1Secret } from "@kubernetes/client-node";
import { beforeAll, describe, expect, it } from "vitest";
import { DAY_MS, jwt, pod, secret, selfSignedCertificate } from "../../../testing/discover-fixtures.ts";
import {
  buildDiscoverReport,
  type DiscoverReport,
  type Finding,
  failsAt,
  identityNameFor,
  isSignetSecret,
  type Risk,
  secretReferences,
  signetOwners,
} from "./classify.ts";
import { renderDiscoverReport } from "./render.ts";

const now = new Date("2026-03-02T12:00:00Z");
const NS = "legacy";
const days = (n: number) => new Date(now.getTime() + n * DAY_MS);
const SIGNET_NS = "signet-system";
const PAYMENTS_UID = "0b5e6a4c-2f7d-4c1a-9e3b-6d8f1a2b3c4d";
const payments = { metadata: { name: "payments", namespace: NS, uid: PAYMENTS_UID }, spec: {} };

/** The marks the reconciler puts on an identity Secret: its label and a controller reference. */
function identityMarks(identity: string, uid: string) {
  return {
    labels: { "app.kubernetes.io/managed-by": "signet", "signet.dev/machineidentity": identity },
    ownerReferences: [
      { apiVersion: "signet.dev/v1alpha1", kind: "MachineIdentity", name: identity, uid, controller: true },
    ],
  };
}

interface Fixture {
  name: string;
  secret: V1Secret;
  /** Every value planted in the Secret: none may appear in any output. */
  planted: string[];
}

let fixtures: Fixture[];
let report: DiscoverReport;

function finding(name: string): Finding {
  const found = report.findings.find((f) => f.secret === name);
  if (found === undefined) throw new Error(`no finding for Secret ${name}`);
  return found;
}

beforeAll(async () => {
  const tenYear = await selfSignedCertificate("legacy-api", days(-30), days(3650 - 30));
  const thirtyDay = await selfSignedCertificate("short", days(-10), days(20));
  const halfYear = await selfSignedCertificate("half-year", days(-10), days(170));
  const expired = await selfSignedCertificate("gone", days(-400), days(-35));
  const caPair = await selfSignedCertificate("in-house root", days(-1), days(3000), true);
  const bareKey = generateKeyPairSync("rsa", { modulusLength: 2048 }).privateKey.export({
    type: "pkcs8",
    format: "pem",
  }) as string;
  const unusedKey = generateKeyPairSync("ed25519").privateKey.export({
    type: "pkcs8",
    format: "pem",
  }) as string;
  const forever = await jwt({ iss: "billing", sub: "reporting" });
  const fiveMinutes = await jwt({ iss: "sts", exp: Math.floor(now.getTime() / 1000) + 300 });
  const tenYearJwt = await jwt({ exp: Math.floor(days(3650).getTime() / 1000) });
  const twoMonthJwt = await jwt({ exp: Math.floor(days(60).getTime() / 1000) });
  const saToken = await jwt({
    iss: "kubernetes/serviceaccount",
    sub: "system:serviceaccount:legacy:deployer",
  });
  const registryPassword = randomBytes(12).toString("hex");
  const dockerConfig = JSON.stringify({
    auths: { "registry.example.com": { username: "ci", password: registryPassword }, "public.example": {} },
  });
  const signet = await selfSignedCertificate("spiffe", days(0), days(0.05));
  fixtures = [
    {
      name: "ten-year-tls",
      secret: secret(NS, "ten-year-tls", "kubernetes.io/tls", {
        "tls.crt": tenYear.certPem,
        "tls.key": tenYear.keyPem,
        "ca.crt": caPair.certPem,
      }),
      planted: [tenYear.keyPem, tenYear.certPem],
    },
    {
      name: "thirty-day-tls",
      secret: secret(NS, "thirty-day-tls", "kubernetes.io/tls", {
        "tls.crt": thirtyDay.certPem,
        "tls.key": thirtyDay.keyPem,
      }),
      planted: [thirtyDay.keyPem],
    },
    {
      name: "half-year-opaque",
      secret: secret(NS, "half-year-opaque", "Opaque", {
        "server.pem": halfYear.certPem + halfYear.keyPem,
      }),
      planted: [halfYear.keyPem],
    },
    {
      name: "expired-tls",
      secret: secret(NS, "expired-tls", "kubernetes.io/tls", {
        "tls.crt": expired.certPem,
        "tls.key": expired.keyPem,
      }),
      planted: [expired.keyPem],
    },
    {
      name: "in-house-ca",
      secret: secret(NS, "in-house-ca", "kubernetes.io/tls", {
        "tls.crt": caPair.certPem,
        "tls.key": caPair.keyPem,
      }),
      planted: [caPair.keyPem],
    },
    { name: "bare-key", secret: secret(NS, "bare-key", "Opaque", { id_rsa: bareKey }), planted: [bareKey] },
    {
      name: "unused-key",
      secret: secret(NS, "unused-key", "Opaque", { "signing.key": unusedKey }),
      planted: [unusedKey],
    },
    {
      name: "forever-jwt",
      secret: secret(NS, "forever-jwt", "Opaque", { token: forever }),
      planted: [forever],
    },
    {
      name: "five-minute-jwt",
      secret: secret(NS, "five-minute-jwt", "Opaque", { token: `${fiveMinutes}\n` }),
      planted: [fiveMinutes],
    },
    {
      name: "ten-year-jwt",
      secret: secret(NS, "ten-year-jwt", "Opaque", { token: tenYearJwt }),
      planted: [tenYearJwt],
    },
    {
      name: "two-month-jwt",
      secret: secret(NS, "two-month-jwt", "Opaque", { token: twoMonthJwt }),
      planted: [twoMonthJwt],
    },
    {
      name: "deployer-token",
      secret: secret(
        NS,
        "deployer-token",
        "kubernetes.io/service-account-token",
        { token: saToken, "ca.crt": caPair.certPem, namespace: NS },
        { annotations: { "kubernetes.io/service-account.name": "deployer" } },
      ),
      planted: [saToken],
    },
    {
      name: "registry",
      secret: secret(NS, "registry", "kubernetes.io/dockerconfigjson", { ".dockerconfigjson": dockerConfig }),
      planted: [registryPassword],
    },
    {
      name: "payments-identity",
      secret: secret(
        NS,
        "payments-identity",
        "kubernetes.io/tls",
        { "tls.crt": signet.certPem, "tls.key": signet.keyPem },
        identityMarks("payments", PAYMENTS_UID),
      ),
      planted: [signet.keyPem],
    },
    {
      name: "signet-ca",
      secret: secret(
        SIGNET_NS,
        "signet-ca",
        "kubernetes.io/tls",
        { "tls.crt": caPair.certPem, "tls.key": caPair.keyPem },
        { labels: { "app.kubernetes.io/managed-by": "signet", "signet.dev/component": "workload-ca" } },
      ),
      planted: [caPair.keyPem],
    },
    {
      // Anyone who may create a Secret can set this label: it hides nothing.
      name: "tenant-labelled-tls",
      secret: secret(
        NS,
        "tenant-labelled-tls",
        "kubernetes.io/tls",
        { "tls.crt": tenYear.certPem, "tls.key": tenYear.keyPem },
        { labels: { "app.kubernetes.io/managed-by": "signet" } },
      ),
      planted: [tenYear.keyPem],
    },
    {
      // Both marks copied from the identity, but not the Secret its spec.secretName names.
      name: "copied-marks-tls",
      secret: secret(
        NS,
        "copied-marks-tls",
        "kubernetes.io/tls",
        { "tls.crt": tenYear.certPem, "tls.key": tenYear.keyPem },
        identityMarks("payments", PAYMENTS_UID),
      ),
      planted: [tenYear.keyPem],
    },
    {
      name: "junk",
      secret: secret(NS, "junk", "Opaque", {
        greeting: "hello",
        dotted: "abcd.efgh.ijkl",
        json: '{"not": "a credential"}',
        brokenPem: "-----BEGIN CERTIFICATE-----\nbm90IGEgY2VydA==\n-----END CERTIFICATE-----\n",
        binary: randomBytes(64).toString("latin1"),
      }),
      planted: [],
    },
    {
      name: "trust-bundle-only",
      secret: secret(NS, "trust-bundle-only", "Opaque", {
        "ca.crt": caPair.certPem,
        "server.crt": tenYear.certPem,
      }),
      planted: [],
    },
  ];
  const pods = [
    pod(NS, "api-0", "legacy-api", { volume: "ten-year-tls", pull: "registry" }),
    pod(NS, "api-1", "legacy-api", { volume: "ten-year-tls" }),
    pod(NS, "worker", "worker", { env: "forever-jwt", envFrom: "bare-key", projected: "thirty-day-tls" }),
    pod(NS, "deployer", "deployer", { volume: "deployer-token" }),
    pod(NS, "cron", "cron", { env: "ten-year-jwt" }),
    pod(NS, "payments", "payments", { volume: "payments-identity" }),
    pod("elsewhere", "intruder", "x", { volume: "bare-key" }),
  ];
  report = buildDiscoverReport({
    now,
    secrets: fixtures.map((f) => f.secret),
    pods,
    identities: [payments],
    signetNamespace: SIGNET_NS,
  });
});

describe("buildDiscoverReport on a table of planted credentials", () => {
  it.each<[string, string, Risk, RegExp]>([
    [
      "a 10-year certificate with its key is high",
      "ten-year-tls",
      "high",
      /valid for 3650 days \(3620 left\)/,
    ],
    ["a 30-day certificate with its key is low", "thirty-day-tls", "low", /valid for 30 days \(20 left\)/],
    [
      "a half-year certificate in an Opaque PEM bundle is medium",
      "half-year-opaque",
      "medium",
      /valid for 180 days/,
    ],
    ["an expired certificate is medium", "expired-tls", "medium", /expired 35d ago/],
    ["a long-lived CA with its key is high", "in-house-ca", "high", /self-signed CA certificate in tls\.crt/],
    [
      "a bare private key read by a pod is high",
      "bare-key",
      "high",
      /RSA 2048 private key in id_rsa.*read by pods/,
    ],
    [
      "a bare private key nobody reads is medium",
      "unused-key",
      "medium",
      /Ed25519 private key.*no pod reads it/,
    ],
    ["a JWT without exp read by a pod is high", "forever-jwt", "high", /HS256 JWT in token has no exp/],
    ["a JWT expiring in 5 minutes is low", "five-minute-jwt", "low", /expires in 5m/],
    ["a JWT expiring in ten years counts as never expiring", "ten-year-jwt", "high", /as good as never/],
    ["a JWT expiring in two months is medium", "two-month-jwt", "medium", /expires in 60 days/],
    [
      "a legacy ServiceAccount token Secret mounted by a pod is high",
      "deployer-token",
      "high",
      /ServiceAccount deployer never expires/,
    ],
    ["a static registry password is low", "registry", "low", /registry\.example\.com/],
  ])("should rank %s", (_name, secretName, risk, reason) => {
    const f = finding(secretName);
    expect(f.risk).toBe(risk);
    expect(f.reason).toMatch(reason);
  });

  it("should find nothing in Signet's own Secrets and count them as excluded", () => {
    expect(report.findings.map((f) => f.secret)).not.toContain("payments-identity");
    expect(report.findings.map((f) => f.secret)).not.toContain("signet-ca");
    expect(report.scanned.excluded).toBe(2);
  });

  it.each([
    ["should report a static credential a tenant labelled managed-by=signet", "tenant-labelled-tls"],
    ["should report a static credential that copies an identity's marks", "copied-marks-tls"],
  ])("%s", (_name, secretName) => {
    expect(finding(secretName).risk).toBe("high");
  });

  it("should find nothing in junk data or in certificates without a private key", () => {
    expect(report.findings.map((f) => f.secret)).not.toContain("junk");
    expect(report.findings.map((f) => f.secret)).not.toContain("trust-bundle-only");
  });

  it("should count what it scanned and summarise by risk", () => {
    expect(report.scanned).toEqual({ secrets: fixtures.length, pods: 7, excluded: 2 });
    expect(report.summary).toEqual({ high: 8, medium: 4, low: 3 });
  });

  it("should order findings by risk, then namespace and name", () => {
    expect(report.findings.map((f) => `${f.risk}:${f.secret}`)).toEqual([
      "high:bare-key",
      "high:copied-marks-tls",
      "high:deployer-token",
      "high:forever-jwt",
      "high:in-house-ca",
      "high:ten-year-jwt",
      "high:ten-year-tls",
      "high:tenant-labelled-tls",
      "medium:expired-tls",
      "medium:half-year-opaque",
      "medium:two-month-jwt",
      "medium:unused-key",
      "low:five-minute-jwt",
      "low:registry",
      "low:thirty-day-tls",
    ]);
  });

  it("should list the consumer pods of a Secret in its own namespace with how they reach it", () => {
    expect(finding("ten-year-tls").consumers).toEqual([
      { pod: "api-0", serviceAccount: "legacy-api", via: ["volume/creds"] },
      { pod: "api-1", serviceAccount: "legacy-api", via: ["volume/creds"] },
    ]);
    expect(finding("bare-key").consumers).toEqual([
      { pod: "worker", serviceAccount: "worker", via: ["envFrom/app"] },
    ]);
    expect(finding("thirty-day-tls").consumers).toEqual([
      { pod: "worker", serviceAccount: "worker", via: ["volume/bundle"] },
    ]);
    expect(finding("registry").consumers).toEqual([
      { pod: "api-0", serviceAccount: "legacy-api", via: ["imagePullSecrets"] },
    ]);
  });

  it("should describe a certificate by metadata: validity, subject, fingerprint and key algorithm", () => {
    const [cert, ...rest] = finding("ten-year-tls").credentials;
    expect(rest).toEqual([]);
    expect(cert).toMatchObject({
      kind: "Certificate",
      key: "tls.crt",
      subject: "CN=legacy-api",
      selfSigned: true,
      isCa: false,
      validityDays: 3650,
      daysLeft: 3620,
      keyAlgorithm: "EC prime256v1",
    });
    expect(cert?.kind === "Certificate" && cert.fingerprintSHA256).toMatch(/^([0-9A-F]{2}:){31}[0-9A-F]{2}$/);
  });

  it("should describe a JWT by algorithm, issuer and expiry only", () => {
    expect(finding("forever-jwt").credentials).toEqual([
      expect.objectContaining({
        kind: "JWT",
        key: "token",
        algorithm: "HS256",
        issuer: "billing",
        expiresAt: null,
      }),
    ]);
    expect(finding("five-minute-jwt").credentials[0]).toMatchObject({
      expiresAt: "2026-03-02T12:05:00.000Z",
      daysLeft: 0,
    });
  });

  it("should name the ServiceAccount of a legacy token Secret and not judge its token twice", () => {
    expect(finding("deployer-token").credentials).toEqual([
      expect.objectContaining({ kind: "ServiceAccountToken", key: "token", serviceAccount: "deployer" }),
    ]);
  });

  it("should suggest a MachineIdentity for the consuming pods' ServiceAccounts", () => {
    const { suggestion } = finding("ten-year-tls");
    expect(suggestion.identity).toBe("ten-year");
    expect(suggestion.yaml).toBe(
      [
        "apiVersion: signet.dev/v1alpha1",
        "kind: MachineIdentity",
        "metadata:",
        "  name: ten-year",
        "  namespace: legacy",
        "spec:",
        "  serviceAccounts:",
        "    - legacy-api",
        "  ttl: 1h",
        "",
      ].join("\n"),
    );
    expect(suggestion.hint).toMatch(/MachineIdentity legacy\/ten-year for ServiceAccount legacy-api/);
  });

  it("should suggest deleting a credential no pod reads, and no MachineIdentity for registry passwords", () => {
    expect(finding("unused-key").suggestion).toMatchObject({
      identity: null,
      yaml: null,
      hint: expect.stringMatching(/delete it/),
    });
    expect(finding("registry").suggestion).toMatchObject({
      identity: null,
      yaml: null,
      hint: expect.stringMatching(/kubelet/),
    });
  });

  it("should never put a planted value in the JSON or the table", () => {
    const outputs = [renderDiscoverReport(report, "json"), renderDiscoverReport(report, "table")];
    const secrets = fixtures.flatMap((f) => f.planted);
    expect(secrets.length).toBeGreaterThan(10);
    for (const output of outputs) {
      for (const value of secrets) {
        // Each line of a PEM body on its own, so no fragment of a key or certificate slips through.
        for (const line of value.split("\n").filter((l) => l.length >= 16 && !l.startsWith("-----"))) {
          expect(output.includes(line), `a planted value leaked: ${line.slice(0, 8)}...`).toBe(false);
        }
      }
    }
  });
});

describe("secretReferences", () => {
  it("should find volumes, projected sources, env, envFrom and imagePullSecrets across every container kind", () => {
    const p = pod("ns", "p", "sa", { volume: "a", projected: "b", env: "c", envFrom: "d", pull: "e" });
    if (p.spec) {
      p.spec.initContainers = [{ name: "init", envFrom: [{ secretRef: { name: "f" } }] }];
      p.spec.ephemeralContainers = [
        { name: "debug", env: [{ name: "X", valueFrom: { secretKeyRef: { name: "a", key: "k" } } }] },
      ];
    }
    expect(Object.fromEntries(secretReferences(p))).toEqual({
      a: ["volume/creds", "env/debug/X"],
      b: ["volume/bundle"],
      c: ["env/app/API_TOKEN"],
      d: ["envFrom/app"],
      e: ["imagePullSecrets"],
      f: ["envFrom/init"],
    });
  });

  it("should find nothing in a pod without a spec", () => {
    expect(secretReferences({ metadata: { name: "bare" } }).size).toBe(0);
  });
});

describe("failsAt", () => {
  const withRisks = (...risks: Risk[]): DiscoverReport => ({
    generatedAt: "",
    scanned: { secrets: 0, pods: 0, excluded: 0 },
    summary: { high: 0, medium: 0, low: 0 },
    findings: risks.map((risk) => ({ risk }) as Finding),
  });
  it.each<[string, Risk[], Risk, boolean]>([
    ["should fail on high when a high finding exists", ["low", "high"], "high", true],
    ["should pass on high with only medium findings", ["medium", "low"], "high", false],
    ["should fail on medium with a high finding", ["high"], "medium", true],
    ["should fail on low with any finding", ["low"], "low", true],
    ["should pass with no findings at all", [], "low", false],
  ])("%s", (_name, risks, threshold, fails) => {
    expect(failsAt(withRisks(...risks), threshold)).toBe(fails);
  });
});

describe("identityNameFor", () => {
  it.each([
    ["should drop a -tls suffix", "payments-tls", "payments"],
    ["should drop a -token suffix", "ci-deploy-token", "ci-deploy"],
    ["should keep a name without a credential suffix", "payments", "payments"],
    ["should make a DNS label of dotted and upper-case names", "Api.Example.COM-cert", "api-example-com"],
    ["should fall back when nothing is left", "-tls", "workload"],
    ["should stay within 63 characters", `${"a".repeat(80)}-tls`, "a".repeat(63)],
  ])("%s", (_name, input, expected) => {
    expect(identityNameFor(input)).toBe(expected);
  });
});

describe("isSignetSecret", () => {
  const owners = signetOwners([payments], SIGNET_NS);
  const tls = (namespace: string, name: string, metadata: Parameters<typeof secret>[4]) =>
    secret(namespace, name, "kubernetes.io/tls", {}, metadata);
  const managedBy = { labels: { "app.kubernetes.io/managed-by": "signet" } };
  it.each<[string, V1Secret, boolean]>([
    [
      "should own the Secret an identity names and controls",
      tls(NS, "payments-identity", identityMarks("payments", PAYMENTS_UID)),
      true,
    ],
    [
      "should own a Secret labelled as Signet's in Signet's namespace",
      tls(SIGNET_NS, "signet-ca", managedBy),
      true,
    ],
    [
      "should not own a Secret by the managed-by label outside Signet's namespace",
      tls(NS, "static", managedBy),
      false,
    ],
    [
      "should not own a Secret controlled by another uid",
      tls(NS, "payments-identity", identityMarks("payments", "another-uid")),
      false,
    ],
    [
      "should not own a Secret the identity does not name",
      tls(NS, "other", identityMarks("payments", PAYMENTS_UID)),
      false,
    ],
    [
      "should not own a Secret of an identity that does not exist",
      tls(NS, "ghost-identity", identityMarks("ghost", PAYMENTS_UID)),
      false,
    ],
    [
      "should not own the identity's name in another namespace",
      tls("elsewhere", "payments-identity", identityMarks("payments", PAYMENTS_UID)),
      false,
    ],
    [
      "should not own a Secret with a Helm label",
      tls(NS, "s", { labels: { "app.kubernetes.io/managed-by": "Helm" } }),
      false,
    ],
    ["should not own an unlabelled Secret", tls(NS, "s", {}), false],
  ])("%s", (_name, s, owned) => {
    expect(isSignetSecret(s, owners)).toBe(owned);
  });
});
