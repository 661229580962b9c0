import { createHash, X509Certificate } from "node:crypto";
import { readHeader, subjectPublicKeyBits } from "./der.ts";
import * as x509 from "./x509.ts";

// Parsing helpers shared by CA loading, Secret inspection and tests. node:crypto parses and
// verifies; @peculiar/x509 reads the extensions node:crypto does not expose in structured form.

const PEM_CERTIFICATE = /-----BEGIN CERTIFICATE-----[\s\S]*?-----END CERTIFICATE-----/g;

/** Every CERTIFICATE block of a PEM string, in order, each normalised to end with a newline. */
export function splitPemCertificates(pem: string): string[] {
  return (pem.match(PEM_CERTIFICATE) ?? []).map((block) => `${block.trim()}\n`);
}

/**
 * sha256:<hex> of a certificate's SubjectPublicKeyInfo: the pin by which an outside machine trusts
 * Signet's serving CA on first contact (kubeadm's discovery-token-ca-cert-hash has the same form).
 */
export function spkiPin(certPem: string): string {
  const spki = new X509Certificate(certPem).publicKey.export({ format: "der", type: "spki" });
  return `sha256:${createHash("sha256").update(spki).digest("hex")}`;
}

export interface ParsedCertificate {
  pem: string;
  node: X509Certificate;
  peculiar: x509.X509Certificate;
}

export function parseCertificate(pem: string): ParsedCertificate {
  const node = new X509Certificate(pem);
  const peculiar = new x509.X509Certificate(node.raw);
  return { pem: node.toString(), node, peculiar };
}

export function basicConstraints(
  cert: ParsedCertificate,
): { critical: boolean; ca: boolean; pathLength?: number } | undefined {
  const ext = cert.peculiar.getExtension(x509.BasicConstraintsExtension);
  if (!ext) return undefined;
  return ext.pathLength === undefined
    ? { critical: ext.critical, ca: ext.ca }
    : { critical: ext.critical, ca: ext.ca, pathLength: ext.pathLength };
}

export function keyUsage(cert: ParsedCertificate): { critical: boolean; flags: number } | undefined {
  const ext = cert.peculiar.getExtension(x509.KeyUsagesExtension);
  return ext ? { critical: ext.critical, flags: ext.usages } : undefined;
}

export function subjectAltNames(cert: ParsedCertificate): {
  critical: boolean;
  uris: string[];
  dnsNames: string[];
  other: number;
} {
  const ext = cert.peculiar.getExtension(x509.SubjectAlternativeNameExtension);
  const uris: string[] = [];
  const dnsNames: string[] = [];
  let other = 0;
  for (const name of ext?.names.items ?? []) {
    if (name.type === "url") uris.push(name.value);
    else if (name.type === "dns") dnsNames.push(name.value);
    else other++;
  }
  return { critical: ext?.critical ?? false, uris, dnsNames, other };
}

export function extendedKeyUsages(cert: ParsedCertificate): string[] | undefined {
  const ext = cert.peculiar.getExtension(x509.ExtendedKeyUsageExtension);
  return ext ? ext.usages.map(String) : undefined;
}

export function subjectKeyIdentifier(cert: ParsedCertificate): Buffer | undefined {
  const ext = cert.peculiar.getExtension(x509.SubjectKeyIdentifierExtension);
  return ext ? Buffer.from(ext.keyId, "hex") : undefined;
}

export function authorityKeyIdentifier(cert: ParsedCertificate): Buffer | undefined {
  const ext = cert.peculiar.getExtension(x509.AuthorityKeyIdentifierExtension);
  return ext?.keyId ? Buffer.from(ext.keyId, "hex") : undefined;
}

/** RFC 5280 4.2.1.2 method 1: SHA-1 of the subjectPublicKey bits (what Go and OpenSSL compute). */
export function keyIdentifierOf(spki: Uint8Array): Buffer {
  return createHash("sha1").update(subjectPublicKeyBits(spki)).digest();
}

/** The exact DER of the subject Name, so that a leaf's issuer matches its CA byte for byte. */
export function subjectNameDer(certDer: Uint8Array): Buffer {
  const certificate = readHeader(certDer, 0);
  const tbs = readHeader(certDer, certificate.contentStart);
  let field = readHeader(certDer, tbs.contentStart);
  // TBSCertificate: [0] version (optional), serial, signature, issuer, validity, subject.
  const skip = field.tag === 0xa0 ? 5 : 4;
  for (let i = 0; i < skip; i++) field = readHeader(certDer, field.end);
  return Buffer.from(certDer.subarray(field.start, field.end));
}

export function sha256Fingerprint(cert: X509Certificate): string {
  return createHash("sha256").update(cert.raw).digest("hex");
}

export function isSelfSigned(cert: X509Certificate): boolean {
  return cert.subject === cert.issuer && cert.checkIssued(cert) && cert.verify(cert.publicKey);
}

/** Whether `child` names `parent` as its issuer and carries a valid signature from its key. */
export function isIssuedBy(child: X509Certificate, parent: X509Certificate): boolean {
  return child.checkIssued(parent) && child.verify(parent.publicKey);
}
