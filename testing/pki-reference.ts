import { webcrypto } from "node:crypto";
import { type CertificateAuthority, caSigningKey } from "../operator/src/pki/ca.ts";
import { toPem } from "../operator/src/pki/der.ts";
import type { KeyAlgorithm } from "../operator/src/pki/keys.ts";
import {
  DEFAULT_BACKDATE_MS,
  type MintedSvid,
  type MintSvidInput,
  normaliseIdentity,
  SVID_USAGES,
  svidValidity,
  type Usage,
} from "../operator/src/pki/mint.ts";
import * as x509 from "../operator/src/pki/x509.ts";

// The same SVID built the general way, through @peculiar/x509's object model and WebCrypto. It is
// the yardstick for the DER template: tests compare the two field by field, and the benchmark
// reports both speeds.

export interface ReferenceSvidInput {
  ca: CertificateAuthority;
  spiffeId: string;
  dnsNames: readonly string[];
  /** Default both, as Signet mints; fewer only to build a certificate Signet no longer issues. */
  usages?: readonly Usage[] | undefined;
  keyAlgorithm: KeyAlgorithm;
  serialNumber: string;
  notBefore: Date;
  notAfter: Date;
  publicKeySpki: Uint8Array;
}

export async function referenceSvidDer(input: ReferenceSvidInput): Promise<Buffer> {
  const signingKey = await caSigningKey(input.ca);
  const usages = input.usages ?? SVID_USAGES;
  const keyUsage =
    x509.KeyUsageFlags.digitalSignature |
    (input.keyAlgorithm.algorithm === "RSA" && usages.includes("server")
      ? x509.KeyUsageFlags.keyEncipherment
      : 0);
  const ekus = [
    ...(usages.includes("server") ? [x509.ExtendedKeyUsage.serverAuth] : []),
    ...(usages.includes("client") ? [x509.ExtendedKeyUsage.clientAuth] : []),
  ];
  const publicKey = new x509.PublicKey(new Uint8Array(input.publicKeySpki).buffer);
  const cert = await x509.X509CertificateGenerator.create({
    serialNumber: `00${input.serialNumber}`,
    subject: new x509.Name([]),
    issuer: new x509.X509Certificate(input.ca.certificate.raw).subjectName,
    notBefore: input.notBefore,
    notAfter: input.notAfter,
    publicKey,
    signingKey,
    signingAlgorithm: input.ca.signature.webCrypto,
    extensions: [
      new x509.KeyUsagesExtension(keyUsage, true),
      new x509.ExtendedKeyUsageExtension(ekus, false),
      new x509.BasicConstraintsExtension(false, undefined, true),
      new x509.AuthorityKeyIdentifierExtension(input.ca.subjectKeyIdentifier.toString("hex")),
      new x509.SubjectAlternativeNameExtension(
        [
          { type: "url", value: input.spiffeId },
          ...input.dnsNames.map((value) => ({ type: "dns" as const, value })),
        ],
        true,
      ),
      await x509.SubjectKeyIdentifierExtension.create(publicKey),
    ],
  });
  return Buffer.from(cert.rawData);
}

function keyGenParams(
  key: KeyAlgorithm,
): webcrypto.EcKeyGenParams | webcrypto.RsaHashedKeyGenParams | { name: string } {
  if (key.algorithm === "ECDSA") return { name: "ECDSA", namedCurve: key.size === 256 ? "P-256" : "P-384" };
  if (key.algorithm === "Ed25519") return { name: "Ed25519" };
  return {
    name: "RSASSA-PKCS1-v1_5",
    modulusLength: key.size,
    publicExponent: new Uint8Array([1, 0, 1]),
    hash: "SHA-256",
  };
}

/** The whole issuance done the general way: WebCrypto key generation, @peculiar/x509 certificate. */
export async function mintSvidReference(input: MintSvidInput): Promise<MintedSvid> {
  const identity = normaliseIdentity(input);
  const validity = svidValidity({ ...input, backdateMs: input.backdateMs ?? DEFAULT_BACKDATE_MS });
  const keys = (await webcrypto.subtle.generateKey(keyGenParams(identity.keyAlgorithm), true, [
    "sign",
    "verify",
  ])) as webcrypto.CryptoKeyPair;
  const spki = new Uint8Array(await webcrypto.subtle.exportKey("spki", keys.publicKey));
  const serialNumber = webcrypto.getRandomValues(new Uint8Array(16));
  serialNumber[0] = (serialNumber[0] as number) | 0x80;
  const der = await referenceSvidDer({
    ...identity,
    ca: input.ca,
    serialNumber: Buffer.from(serialNumber).toString("hex"),
    ...validity,
    publicKeySpki: spki,
  });
  const certPem = toPem("CERTIFICATE", der);
  return {
    certPem,
    chainPem: certPem + input.ca.intermediatesPem,
    keyPem: toPem("PRIVATE KEY", new Uint8Array(await webcrypto.subtle.exportKey("pkcs8", keys.privateKey))),
    serialNumber: Buffer.from(serialNumber).toString("hex"),
    ...validity,
    spiffeId: identity.spiffeId,
  };
}
