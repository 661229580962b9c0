import { createPrivateKey, type KeyObject, X509Certificate } from "node:crypto";
import {
  basicConstraints,
  extendedKeyUsages,
  isIssuedBy,
  parseCertificate,
  splitPemCertificates,
  subjectAltNames,
} from "./certificate.ts";
import { type KeyAlgorithm, keyAlgorithmOf } from "./keys.ts";
import type { Usage } from "./mint.ts";

/** The data of a kubernetes.io/tls identity Secret, already decoded from base64. */
export interface SecretData {
  "tls.crt"?: string | undefined;
  "tls.key"?: string | undefined;
  "ca.crt"?: string | undefined;
}

/** What the current Secret holds, as far as renewal and tamper detection care. Never any key bytes. */
export interface SvidView {
  serialNumber: string;
  notBefore: Date;
  notAfter: Date;
  /** The single spiffe:// URI SAN; undefined when there is none or more than one URI SAN. */
  spiffeId: string | undefined;
  uriSans: string[];
  /** Sorted and de-duplicated, like the desired names are before comparison. */
  dnsNames: string[];
  /** From the EKU extension, in server, client order. */
  usages: Usage[];
  /** The leaf key, when it is one Signet issues. */
  keyAlgorithm: KeyAlgorithm | undefined;
  /** The leaf key in words, for messages ("ECDSA 256", "ec secp521r1"). */
  keyDescription: string;
  isCa: boolean;
  leaf: X509Certificate;
  /** Certificates after the leaf in tls.crt. */
  intermediates: X509Certificate[];
  /** Certificates in ca.crt. */
  trustBundle: X509Certificate[];
  /** Whether the leaf chains through tls.crt to a root in ca.crt, with valid signatures. */
  chainVerified: boolean;
  /** Why the chain does not verify, when it does not. */
  chainProblem: string | undefined;
}

export type SecretInspection =
  | { status: "Missing" }
  | { status: "Malformed"; message: string }
  | { status: "Parsed"; view: SvidView };

const EKU_USAGE: Record<string, Usage> = { "1.3.6.1.5.5.7.3.1": "server", "1.3.6.1.5.5.7.3.2": "client" };

/**
 * Walks from the leaf through the given intermediates to one of the roots, checking names and
 * signatures. Returns why it fails, or undefined when the chain holds.
 */
export function chainProblem(
  leaf: X509Certificate,
  intermediates: readonly X509Certificate[],
  roots: readonly X509Certificate[],
): string | undefined {
  if (roots.length === 0) return "there is no trusted root to verify against";
  let current = leaf;
  const unused = [...intermediates];
  for (let depth = 0; depth <= intermediates.length; depth++) {
    if (roots.some((root) => isIssuedBy(current, root))) return undefined;
    const index = unused.findIndex((candidate) => isIssuedBy(current, candidate));
    if (index === -1) break;
    current = unused.splice(index, 1)[0] as X509Certificate;
  }
  const name = current === leaf ? "the leaf" : `intermediate "${current.subject.replaceAll("\n", ", ")}"`;
  return `${name} is not signed by any trusted root or intermediate (issuer "${current.issuer.replaceAll("\n", ", ")}")`;
}

function describeKey(key: KeyObject): string {
  const algorithm = keyAlgorithmOf(key);
  if (algorithm)
    return algorithm.algorithm === "Ed25519" ? "Ed25519" : `${algorithm.algorithm} ${algorithm.size}`;
  const details = key.asymmetricKeyDetails ?? {};
  return [key.asymmetricKeyType, details.namedCurve ?? details.modulusLength].filter(Boolean).join(" ");
}

function parseBundle(pem: string | undefined): X509Certificate[] {
  const certificates: X509Certificate[] = [];
  for (const block of splitPemCertificates(pem ?? "")) {
    try {
      certificates.push(new X509Certificate(block));
    } catch {
      // An unparsable bundle entry cannot anchor anything; the chain check reports the outcome.
    }
  }
  return certificates;
}

/**
 * Parses an identity Secret's tls.crt, tls.key and ca.crt. Errors name the key of the Secret and
 * what is wrong with it; they never contain key material, not even parser messages about the key.
 */
export function inspectSecretData(data: SecretData | undefined): SecretInspection {
  if (data === undefined) return { status: "Missing" };
  const malformed = (message: string): SecretInspection => ({ status: "Malformed", message });
  const certPem = data["tls.crt"];
  const keyPem = data["tls.key"];
  if (!certPem?.trim()) return malformed("tls.crt is missing or empty");
  if (!keyPem?.trim()) return malformed("tls.key is missing or empty");
  const blocks = splitPemCertificates(certPem);
  if (blocks.length === 0) return malformed("tls.crt holds no PEM CERTIFICATE block");
  let chain: ReturnType<typeof parseCertificate>[];
  try {
    chain = blocks.map((block) => parseCertificate(block));
  } catch {
    return malformed("tls.crt holds a certificate that cannot be parsed as X.509");
  }
  let privateKey: KeyObject;
  try {
    privateKey = createPrivateKey({ key: keyPem, format: "pem" });
  } catch {
    return malformed("tls.key is not a PEM private key");
  }
  const [leaf, ...rest] = chain as [
    ReturnType<typeof parseCertificate>,
    ...ReturnType<typeof parseCertificate>[],
  ];
  if (!leaf.node.checkPrivateKey(privateKey))
    return malformed("tls.key does not match the certificate in tls.crt");
  const sans = subjectAltNames(leaf);
  const spiffeUris = sans.uris.filter((uri) => uri.startsWith("spiffe://"));
  const ekus = extendedKeyUsages(leaf) ?? [];
  const intermediates = rest.map((cert) => cert.node);
  const trustBundle = parseBundle(data["ca.crt"]);
  const problem = chainProblem(leaf.node, intermediates, trustBundle);
  return {
    status: "Parsed",
    view: {
      serialNumber: leaf.node.serialNumber.toLowerCase().replace(/^(00)+(?=[0-9a-f])/, ""),
      notBefore: new Date(leaf.node.validFrom),
      notAfter: new Date(leaf.node.validTo),
      spiffeId: sans.uris.length === 1 && spiffeUris.length === 1 ? spiffeUris[0] : undefined,
      uriSans: sans.uris,
      dnsNames: [...new Set(sans.dnsNames)].sort(),
      usages: (["server", "client"] as const).filter((usage) => ekus.some((eku) => EKU_USAGE[eku] === usage)),
      keyAlgorithm: keyAlgorithmOf(leaf.node.publicKey),
      keyDescription: describeKey(leaf.node.publicKey),
      isCa: basicConstraints(leaf)?.ca ?? false,
      leaf: leaf.node,
      intermediates,
      trustBundle,
      chainVerified: problem === undefined,
      chainProblem: problem,
    },
  };
}
