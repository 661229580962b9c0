import "reflect-metadata";
import { webcrypto } from "node:crypto";
import * as x509 from "@peculiar/x509";

type CryptoKey = webcrypto.CryptoKey;
type CryptoKeyPair = webcrypto.CryptoKeyPair;

x509.cryptoProvider.set(globalThis.crypto);

const EC_P256 = { name: "ECDSA", namedCurve: "P-256", hash: "SHA-256" } as const;
const DAY_MS = 24 * 60 * 60 * 1000;

export interface PemPair {
  certPem: string;
  keyPem: string;
}

export interface TestCa extends PemPair {
  cert: x509.X509Certificate;
  keys: CryptoKeyPair;
}

function randomSerial(): string {
  const bytes = webcrypto.getRandomValues(new Uint8Array(16));
  bytes[0] = (bytes[0] ?? 0) & 0x7f;
  return Buffer.from(bytes).toString("hex");
}

async function exportKeyPem(key: CryptoKey): Promise<string> {
  const der = await webcrypto.subtle.exportKey("pkcs8", key);
  return x509.PemConverter.encode(der, "PRIVATE KEY");
}

async function generateKeys(): Promise<CryptoKeyPair> {
  return (await webcrypto.subtle.generateKey(EC_P256, true, ["sign", "verify"])) as CryptoKeyPair;
}

/** A throwaway CA for the test control plane: it signs the serving cert and the client certs. */
export async function createTestCa(commonName: string): Promise<TestCa> {
  const keys = await generateKeys();
  const now = Date.now();
  const cert = await x509.X509CertificateGenerator.createSelfSigned({
    serialNumber: randomSerial(),
    name: `CN=${commonName}`,
    notBefore: new Date(now - 60_000),
    notAfter: new Date(now + 30 * DAY_MS),
    keys,
    signingAlgorithm: EC_P256,
    extensions: [
      new x509.BasicConstraintsExtension(true, undefined, true),
      new x509.KeyUsagesExtension(x509.KeyUsageFlags.keyCertSign | x509.KeyUsageFlags.cRLSign, true),
      await x509.SubjectKeyIdentifierExtension.create(keys.publicKey),
    ],
  });
  return { cert, keys, certPem: cert.toString("pem"), keyPem: await exportKeyPem(keys.privateKey) };
}

export async function loadTestCa(certPem: string, keyPem: string): Promise<TestCa> {
  const cert = new x509.X509Certificate(certPem);
  const privateKey = await webcrypto.subtle.importKey(
    "pkcs8",
    x509.PemConverter.decodeFirst(keyPem),
    EC_P256,
    true,
    ["sign"],
  );
  const publicKey = await cert.publicKey.export(EC_P256, ["verify"]);
  return { cert, keys: { privateKey, publicKey }, certPem, keyPem };
}

interface LeafOptions {
  subject: string;
  server?: { dnsNames: string[]; ips: string[] };
  client?: boolean;
}

async function issueLeaf(ca: TestCa, opts: LeafOptions): Promise<PemPair> {
  const keys = await generateKeys();
  const now = Date.now();
  const usages: string[] = [];
  if (opts.server) usages.push(x509.ExtendedKeyUsage.serverAuth);
  if (opts.client) usages.push(x509.ExtendedKeyUsage.clientAuth);
  const extensions: x509.Extension[] = [
    new x509.BasicConstraintsExtension(false, undefined, true),
    new x509.KeyUsagesExtension(
      x509.KeyUsageFlags.digitalSignature | x509.KeyUsageFlags.keyEncipherment,
      true,
    ),
    new x509.ExtendedKeyUsageExtension(usages),
    await x509.AuthorityKeyIdentifierExtension.create(ca.cert),
  ];
  if (opts.server) {
    extensions.push(
      new x509.SubjectAlternativeNameExtension([
        ...opts.server.dnsNames.map((value) => ({ type: "dns" as const, value })),
        ...opts.server.ips.map((value) => ({ type: "ip" as const, value })),
      ]),
    );
  }
  const cert = await x509.X509CertificateGenerator.create({
    serialNumber: randomSerial(),
    subject: opts.subject,
    issuer: ca.cert.subject,
    notBefore: new Date(now - 60_000),
    notAfter: new Date(now + 30 * DAY_MS),
    publicKey: keys.publicKey,
    signingKey: ca.keys.privateKey,
    signingAlgorithm: EC_P256,
    extensions,
  });
  return { certPem: cert.toString("pem"), keyPem: await exportKeyPem(keys.privateKey) };
}

export function issueServingCert(ca: TestCa, dnsNames: string[], ips: string[]): Promise<PemPair> {
  return issueLeaf(ca, { subject: `CN=${dnsNames[0] ?? ips[0]}`, server: { dnsNames, ips } });
}

/** A client certificate: the API server maps CN to the user name and each O to a group. */
export function issueClientCert(ca: TestCa, user: string, groups: string[] = []): Promise<PemPair> {
  const subject = [`CN=${user}`, ...groups.map((g) => `O=${g}`)].join(", ");
  return issueLeaf(ca, { subject, client: true });
}

/** The service-account token signing key: the API server reads the public half separately. */
export async function generateSigningKeyPem(): Promise<{ keyPem: string; publicKeyPem: string }> {
  const keys = await generateKeys();
  const spki = await webcrypto.subtle.exportKey("spki", keys.publicKey);
  return {
    keyPem: await exportKeyPem(keys.privateKey),
    publicKeyPem: x509.PemConverter.encode(spki, "PUBLIC KEY"),
  };
}
