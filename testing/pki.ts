import { createPrivateKey, webcrypto, X509Certificate } from "node:crypto";
import { expect } from "vitest";
import {
  type CertificateAuthority,
  caSigningKey,
  createRootCa,
  loadCa,
  type RootCaMaterial,
} from "../operator/src/pki/ca.ts";
import {
  authorityKeyIdentifier,
  basicConstraints,
  extendedKeyUsages,
  keyIdentifierOf,
  keyUsage,
  parseCertificate,
  subjectAltNames,
  subjectKeyIdentifier,
  subjectNameDer,
} from "../operator/src/pki/certificate.ts";
import { toPem } from "../operator/src/pki/der.ts";
import { keyAlgorithmOf, type PrivateKeySpec, resolveKeyAlgorithm } from "../operator/src/pki/keys.ts";
import type { MintedSvid } from "../operator/src/pki/mint.ts";
import * as x509 from "../operator/src/pki/x509.ts";

// Shared fixtures for the pki unit tests: a fixed clock, CAs made once per algorithm, and the
// SPIFFE X.509-SVID checks every minted certificate must pass.

export const NOW = new Date("2026-03-02T09:30:00.000Z");
export const DAY = 86_400_000;
export const HOUR = 3_600_000;
export const MINUTE = 60_000;

export const ALGORITHMS: { name: string; spec: PrivateKeySpec }[] = [
  { name: "ECDSA P-256", spec: { algorithm: "ECDSA", size: 256 } },
  { name: "ECDSA P-384", spec: { algorithm: "ECDSA", size: 384 } },
  { name: "Ed25519", spec: { algorithm: "Ed25519" } },
  { name: "RSA 2048", spec: { algorithm: "RSA", size: 2048 } },
  { name: "RSA 3072", spec: { algorithm: "RSA", size: 3072 } },
  { name: "RSA 4096", spec: { algorithm: "RSA", size: 4096 } },
];

export const TRUST_DOMAIN = "cluster.local";
export const SPIFFE_ID = "spiffe://cluster.local/ns/shop/id/payments-api";

const roots = new Map<string, Promise<RootCaMaterial>>();

/** A one-year root made at NOW - 1 day; the same object for the same arguments. */
export function rootCa(
  spec: PrivateKeySpec = { algorithm: "ECDSA", size: 256 },
  label = "Signet Test Root",
  pathLength = 0,
): Promise<RootCaMaterial> {
  const key = `${JSON.stringify(spec)}|${label}|${pathLength}`;
  let root = roots.get(key);
  if (!root) {
    root = createRootCa({
      commonName: label,
      trustDomain: TRUST_DOMAIN,
      algorithm: spec,
      validity: 365 * DAY,
      now: new Date(NOW.getTime() - DAY),
      pathLength,
    });
    roots.set(key, root);
  }
  return root;
}

export interface IssuedCaInput {
  issuer: CertificateAuthority;
  commonName: string;
  notBefore?: Date;
  notAfter?: Date;
  ca?: boolean;
  keyUsage?: number;
  pathLength?: number;
}

/** A certificate signed by `issuer` with a fresh P-256 key, for building chains and broken CAs. */
export async function issueCertificate(input: IssuedCaInput): Promise<{ certPem: string; keyPem: string }> {
  const keys = (await webcrypto.subtle.generateKey({ name: "ECDSA", namedCurve: "P-256" }, true, [
    "sign",
    "verify",
  ])) as webcrypto.CryptoKeyPair;
  const cert = await x509.X509CertificateGenerator.create({
    serialNumber: "01a2b3c4",
    subject: [{ CN: [input.commonName] }],
    issuer: new x509.X509Certificate(input.issuer.certificate.raw).subjectName,
    notBefore: input.notBefore ?? new Date(NOW.getTime() - HOUR),
    notAfter: input.notAfter ?? new Date(NOW.getTime() + 90 * DAY),
    publicKey: keys.publicKey,
    signingKey: await caSigningKey(input.issuer),
    signingAlgorithm: input.issuer.signature.webCrypto,
    extensions: [
      new x509.BasicConstraintsExtension(input.ca ?? true, input.pathLength, true),
      new x509.KeyUsagesExtension(
        input.keyUsage ?? x509.KeyUsageFlags.keyCertSign | x509.KeyUsageFlags.cRLSign,
        true,
      ),
      await x509.SubjectKeyIdentifierExtension.create(keys.publicKey),
      new x509.AuthorityKeyIdentifierExtension(input.issuer.subjectKeyIdentifier.toString("hex")),
      new x509.SubjectAlternativeNameExtension([{ type: "url", value: `spiffe://${TRUST_DOMAIN}` }]),
    ],
  });
  return {
    certPem: toPem("CERTIFICATE", new Uint8Array(cert.rawData)),
    keyPem: toPem("PRIVATE KEY", new Uint8Array(await webcrypto.subtle.exportKey("pkcs8", keys.privateKey))),
  };
}

/** root (pathLen 1) -> intermediate, loaded as the issuing CA with tls.crt = intermediate + root. */
export async function intermediateCa(
  spec: PrivateKeySpec = { algorithm: "ECDSA", size: 256 },
): Promise<{ root: RootCaMaterial; ca: CertificateAuthority; certPem: string; keyPem: string }> {
  const root = await rootCa(spec, "Signet Test Root With Intermediates", 1);
  const issued = await issueCertificate({
    issuer: root.ca,
    commonName: "Signet Test Intermediate",
    pathLength: 0,
  });
  return { root, ...issued, ca: loadCa(issued.certPem + root.certPem, issued.keyPem, { now: NOW }) };
}

// Read back through both node:crypto and @peculiar/x509 rather than trusting the encoder.
export interface ExpectedSvid {
  spiffeId: string;
  dnsNames?: string[];
  keyAlgorithm?: PrivateKeySpec;
}

export async function expectCompliantSvid(
  svid: MintedSvid,
  ca: CertificateAuthority,
  expected: ExpectedSvid,
): Promise<void> {
  const node = new X509Certificate(svid.certPem);
  const peculiar = new x509.X509Certificate(svid.certPem);
  const parsed = parseCertificate(svid.certPem);

  expect(node.verify(ca.certificate.publicKey)).toBe(true);
  expect(node.checkIssued(ca.certificate)).toBe(true);
  expect(
    await peculiar.verify({ publicKey: new x509.X509Certificate(ca.certificate.raw), signatureOnly: true }),
  ).toBe(true);

  const sans = subjectAltNames(parsed);
  expect(sans.uris).toEqual([expected.spiffeId]);
  expect(sans.dnsNames).toEqual(expected.dnsNames ?? []);
  expect(sans.other).toBe(0);
  expect(sans.critical).toBe(true);
  // An empty subject is an empty SEQUENCE; node:crypto reports it as undefined.
  expect(subjectNameDer(node.raw).toString("hex")).toBe("3000");
  expect(node.subject ?? "").toBe("");
  expect(peculiar.subject).toBe("");
  expect(node.issuer).toBe(ca.certificate.subject);

  expect(basicConstraints(parsed)).toEqual({ critical: true, ca: false });
  expect(node.ca).toBe(false);

  const algorithm = resolveKeyAlgorithm(expected.keyAlgorithm ?? { algorithm: "ECDSA", size: 256 });
  const ku = keyUsage(parsed);
  expect(ku?.critical).toBe(true);
  const flags = ku?.flags ?? 0;
  expect(flags & x509.KeyUsageFlags.digitalSignature).toBeTruthy();
  expect(flags & (x509.KeyUsageFlags.keyCertSign | x509.KeyUsageFlags.cRLSign)).toBe(0);
  // Every SVID may serve, and an RSA server key may be used for TLS 1.2 key transport.
  const wantsKeyEncipherment = algorithm.algorithm === "RSA";
  expect(flags).toBe(
    x509.KeyUsageFlags.digitalSignature | (wantsKeyEncipherment ? x509.KeyUsageFlags.keyEncipherment : 0),
  );

  // X.509-SVID section 4.4: with extKeyUsage present, both serverAuth and clientAuth.
  expect(extendedKeyUsages(parsed)).toEqual(["1.3.6.1.5.5.7.3.1", "1.3.6.1.5.5.7.3.2"]);

  expect(authorityKeyIdentifier(parsed)?.toString("hex")).toBe(ca.subjectKeyIdentifier.toString("hex"));
  const spki = node.publicKey.export({ type: "spki", format: "der" });
  expect(subjectKeyIdentifier(parsed)?.toString("hex")).toBe(keyIdentifierOf(spki).toString("hex"));

  const serial = BigInt(`0x${node.serialNumber}`);
  expect(serial >= 2n ** 127n && serial < 2n ** 128n).toBe(true);
  expect(node.serialNumber.toLowerCase()).toBe(svid.serialNumber);

  expect(new Date(node.validFrom).getTime()).toBe(svid.notBefore.getTime());
  expect(new Date(node.validTo).getTime()).toBe(svid.notAfter.getTime());
  expect(svid.notBefore.getTime() % 1000).toBe(0);
  expect(svid.notAfter.getTime() % 1000).toBe(0);

  expect(svid.keyPem.startsWith("-----BEGIN PRIVATE KEY-----\n")).toBe(true);
  const privateKey = createPrivateKey(svid.keyPem);
  expect(node.checkPrivateKey(privateKey)).toBe(true);
  expect(keyAlgorithmOf(node.publicKey)).toEqual(algorithm);

  expect(svid.chainPem.startsWith(svid.certPem)).toBe(true);
  expect(svid.chainPem.slice(svid.certPem.length)).toBe(ca.intermediatesPem);
}
