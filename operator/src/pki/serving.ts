import { webcrypto } from "node:crypto";
import { isIP, SocketAddress } from "node:net";
import { type CertificateAuthority, caSigningKey, randomSerialHex } from "./ca.ts";
import { toPem } from "./der.ts";
import { PkiError } from "./keys.ts";
import { svidValidity } from "./mint.ts";
import { checkDnsName } from "./spiffe-id.ts";
import * as x509 from "./x509.ts";

export interface MintServingCertificateInput {
  /** Signet's serving CA: never the CA that signs workload SVIDs. */
  ca: CertificateAuthority;
  /** The Service names clients dial; the first is also the subject's common name. */
  dnsNames: readonly string[];
  /** IP SANs, for clients that dial an address (a webhook registered at https://127.0.0.1). */
  ipAddresses?: readonly string[] | undefined;
  ttlMs: number;
  now: Date;
}

export interface MintedServingCertificate {
  /** tls.crt: the leaf then the intermediates. */
  chainPem: string;
  /** tls.key: PKCS#8. */
  keyPem: string;
  serialNumber: string;
  notBefore: Date;
  notAfter: Date;
}

/**
 * A TLS server certificate for one of Signet's own endpoints: DNS and IP SANs, serverAuth only,
 * no SPIFFE ID, since no workload may ever present it or be taken for it. One is minted a week,
 * so it goes through @peculiar/x509 rather than the SVID template.
 */
export async function mintServingCertificate(
  input: MintServingCertificateInput,
): Promise<MintedServingCertificate> {
  const dnsNames = [...new Set(input.dnsNames)].sort();
  const ipAddresses = canonicalIpAddresses(input.ipAddresses ?? []);
  if (dnsNames.length + ipAddresses.length === 0)
    throw new PkiError("a serving certificate needs at least one DNS name or IP address");
  for (const name of dnsNames) checkDnsName(name);
  const validity = svidValidity({ ca: input.ca, ttlMs: input.ttlMs, now: input.now });
  const keys = (await webcrypto.subtle.generateKey({ name: "ECDSA", namedCurve: "P-256" }, true, [
    "sign",
    "verify",
  ])) as webcrypto.CryptoKeyPair;
  const serialNumber = randomSerialHex();
  const cert = await x509.X509CertificateGenerator.create({
    serialNumber,
    subject: new x509.Name([{ CN: [dnsNames[0] ?? ipAddresses[0] ?? ""] }]),
    issuer: new x509.X509Certificate(input.ca.certificate.raw).subjectName,
    notBefore: validity.notBefore,
    notAfter: validity.notAfter,
    publicKey: keys.publicKey,
    signingKey: await caSigningKey(input.ca),
    signingAlgorithm: input.ca.signature.webCrypto,
    extensions: [
      new x509.BasicConstraintsExtension(false, undefined, true),
      new x509.KeyUsagesExtension(x509.KeyUsageFlags.digitalSignature, true),
      new x509.ExtendedKeyUsageExtension([x509.ExtendedKeyUsage.serverAuth], false),
      new x509.AuthorityKeyIdentifierExtension(input.ca.subjectKeyIdentifier.toString("hex")),
      await x509.SubjectKeyIdentifierExtension.create(keys.publicKey),
      new x509.SubjectAlternativeNameExtension([
        ...dnsNames.map((value) => ({ type: "dns" as const, value })),
        ...ipAddresses.map((value) => ({ type: "ip" as const, value })),
      ]),
    ],
  });
  const pkcs8 = await webcrypto.subtle.exportKey("pkcs8", keys.privateKey);
  return {
    chainPem: toPem("CERTIFICATE", new Uint8Array(cert.rawData)) + input.ca.intermediatesPem,
    keyPem: toPem("PRIVATE KEY", new Uint8Array(pkcs8)),
    serialNumber: serialNumber.replace(/^00/, ""),
    ...validity,
  };
}

/** IP addresses in one spelling each (`::1`, never `0:0:0:0:0:0:0:1`), de-duplicated and sorted. */
export function canonicalIpAddresses(ips: readonly string[]): string[] {
  const canonical = ips.map((ip) => {
    const family = isIP(ip);
    if (family === 0) throw new PkiError(`"${ip}" is not an IP address`);
    return new SocketAddress({ address: ip, family: family === 4 ? "ipv4" : "ipv6" }).address;
  });
  return [...new Set(canonical)].sort();
}

/** The IP SANs of a certificate, from node:crypto's X509Certificate.subjectAltName, canonical. */
export function ipAddressesOf(subjectAltName: string | undefined): string[] {
  return canonicalIpAddresses(
    (subjectAltName ?? "")
      .split(", ")
      .filter((entry) => entry.startsWith("IP Address:"))
      .map((entry) => entry.slice("IP Address:".length)),
  );
}
