import { createPrivateKey, type KeyObject, randomBytes, webcrypto, type X509Certificate } from "node:crypto";
import {
  basicConstraints,
  isIssuedBy,
  isSelfSigned,
  keyIdentifierOf,
  keyUsage,
  type ParsedCertificate,
  parseCertificate,
  sha256Fingerprint,
  splitPemCertificates,
  subjectAltNames,
  subjectKeyIdentifier,
  subjectNameDer,
} from "./certificate.ts";
import { explicit, implicit, sequence, toPem } from "./der.ts";
import {
  type KeyAlgorithm,
  PkiError,
  type PrivateKeySpec,
  resolveKeyAlgorithm,
  type SignatureScheme,
  signatureSchemeFor,
} from "./keys.ts";
import * as x509 from "./x509.ts";

/**
 * An issuing CA ready to mint: Signet's own root, or a user-supplied root or intermediate.
 * The private key is a KeyObject, which prints and serialises without its key bytes.
 */
export interface CertificateAuthority {
  /** The issuing CA certificate itself. */
  readonly certificate: X509Certificate;
  readonly certPem: string;
  /** What follows a leaf in tls.crt: the issuing CA and any intermediates, never the root. Empty for a root. */
  readonly intermediatesPem: string;
  /** The self-signed root the chain ends at (the issuing CA itself when it is a root). */
  readonly rootPem: string;
  readonly rootFingerprint: string;
  readonly isRoot: boolean;
  readonly privateKey: KeyObject;
  /** The trust domain from the CA's `spiffe://<trust domain>` URI SAN, when it carries one. */
  readonly trustDomain: string | undefined;
  readonly notBefore: Date;
  /** The earliest notAfter along the chain: no leaf may outlive any certificate above it. */
  readonly notAfter: Date;
  readonly subjectKeyIdentifier: Buffer;
  /** DER of the CA's subject Name: the issuer field of every leaf. */
  readonly subjectDer: Buffer;
  readonly signature: SignatureScheme;
}

export interface CreateRootCaInput {
  commonName: string;
  /**
   * The SPIFFE trust domain of a workload root: its only URI SAN (as SPIRE's roots carry), and with
   * `constrainToTrustDomain` the only URI host its leaves may name. Absent for a root that signs
   * no SVIDs, such as the one for Signet's own serving certificates.
   */
  trustDomain?: string | undefined;
  /**
   * A critical NameConstraints extension whose one permitted subtree is the URI host
   * `<trustDomain>` (RFC 5280 4.2.1.10): a leaf under this root with a URI SAN of another trust
   * domain fails path validation in OpenSSL (Node's TLS) and Go. DNS names stay unconstrained,
   * because tenants' Service names are not one subtree.
   */
  constrainToTrustDomain?: boolean | undefined;
  /** ECDSA 256 by default; root keys follow the same algorithm menu as leaves. */
  algorithm?: PrivateKeySpec | undefined;
  /** Lifetime of the root in milliseconds. */
  validity: number;
  now: Date;
  /** Backdating of notBefore so replicas with a slightly slow clock accept the new root. Default one hour. */
  backdateMs?: number | undefined;
  /** pathLenConstraint; 0 by default because Signet issues leaves straight from its root. */
  pathLength?: number | undefined;
}

export interface RootCaMaterial {
  /** What goes into the CA Secret's tls.crt. */
  certPem: string;
  /** What goes into the CA Secret's tls.key (PKCS#8). */
  keyPem: string;
  ca: CertificateAuthority;
}

const TRUST_DOMAIN = /^[a-z0-9._-]+$/;

const OID_NAME_CONSTRAINTS = "2.5.29.30";

/** NameConstraints ::= SEQUENCE { permittedSubtrees [0] { GeneralSubtree { uniformResourceIdentifier [6] host } } } */
function permittedUriHostConstraint(host: string): Buffer {
  return sequence(explicit(0, sequence(implicit(6, Buffer.from(host, "ascii")))));
}

function webCryptoKeyParams(
  key: KeyAlgorithm,
): webcrypto.RsaHashedKeyGenParams | webcrypto.EcKeyGenParams | { name: "Ed25519" } {
  switch (key.algorithm) {
    case "ECDSA":
      return { name: "ECDSA", namedCurve: key.size === 256 ? "P-256" : "P-384" };
    case "Ed25519":
      return { name: "Ed25519" };
    case "RSA":
      return {
        name: "RSASSA-PKCS1-v1_5",
        modulusLength: key.size,
        publicExponent: new Uint8Array([1, 0, 1]),
        hash: key.size >= 4096 ? "SHA-512" : key.size >= 3072 ? "SHA-384" : "SHA-256",
      };
  }
}

export function randomSerialHex(): string {
  const bytes = randomBytes(16);
  bytes[0] = (bytes[0] as number) | 0x80;
  return `00${bytes.toString("hex")}`;
}

/**
 * A new self-signed root: cA=true with a pathLen constraint, KeyUsage keyCertSign|cRLSign
 * (critical), SKI, the trust domain as its only URI SAN when it has one (as SPIRE's roots do),
 * and optionally name constraints that keep its leaves' URIs inside that trust domain.
 */
export async function createRootCa(input: CreateRootCaInput): Promise<RootCaMaterial> {
  const { trustDomain } = input;
  if (trustDomain !== undefined && !TRUST_DOMAIN.test(trustDomain)) {
    throw new PkiError(
      `trust domain "${trustDomain}" is invalid: use lowercase letters, digits, ".", "-" and "_"`,
    );
  }
  if (input.constrainToTrustDomain && trustDomain === undefined)
    throw new PkiError("name constraints to a trust domain need the trust domain");
  if (input.commonName.trim() === "") throw new PkiError("the root CA needs a non-empty common name");
  if (!(input.validity > 0))
    throw new PkiError("the root CA validity must be a positive number of milliseconds");
  const algorithm = resolveKeyAlgorithm(input.algorithm ?? { algorithm: "ECDSA", size: 256 });
  const params = webCryptoKeyParams(algorithm);
  const keys = (await webcrypto.subtle.generateKey(params, true, [
    "sign",
    "verify",
  ])) as webcrypto.CryptoKeyPair;
  const backdate = input.backdateMs ?? 3_600_000;
  const notBefore = new Date(Math.floor((input.now.getTime() - backdate) / 1000) * 1000);
  const notAfter = new Date(Math.floor((input.now.getTime() + input.validity) / 1000) * 1000);
  const signingAlgorithm =
    algorithm.algorithm === "ECDSA"
      ? { name: "ECDSA", hash: algorithm.size === 256 ? "SHA-256" : "SHA-384" }
      : params;
  const cert = await x509.X509CertificateGenerator.createSelfSigned({
    serialNumber: randomSerialHex(),
    name: [{ CN: [input.commonName] }],
    notBefore,
    notAfter,
    keys,
    signingAlgorithm,
    extensions: [
      new x509.BasicConstraintsExtension(true, input.pathLength ?? 0, true),
      new x509.KeyUsagesExtension(x509.KeyUsageFlags.keyCertSign | x509.KeyUsageFlags.cRLSign, true),
      await x509.SubjectKeyIdentifierExtension.create(keys.publicKey),
      ...(trustDomain === undefined
        ? []
        : [new x509.SubjectAlternativeNameExtension([{ type: "url", value: `spiffe://${trustDomain}` }])]),
      ...(input.constrainToTrustDomain && trustDomain !== undefined
        ? [new x509.Extension(OID_NAME_CONSTRAINTS, true, permittedUriHostConstraint(trustDomain))]
        : []),
    ],
  });
  const pkcs8 = await webcrypto.subtle.exportKey("pkcs8", keys.privateKey);
  const certPem = toPem("CERTIFICATE", new Uint8Array(cert.rawData));
  const keyPem = toPem("PRIVATE KEY", new Uint8Array(pkcs8));
  return { certPem, keyPem, ca: loadCa(certPem, keyPem, { now: input.now }) };
}

/** The CA's private key as a WebCrypto key, for certificates built through @peculiar/x509. */
export function caSigningKey(ca: CertificateAuthority): Promise<webcrypto.CryptoKey> {
  const scheme = ca.signature.webCrypto;
  const details = ca.privateKey.asymmetricKeyDetails ?? {};
  const importParams =
    scheme.name === "ECDSA"
      ? {
          name: "ECDSA",
          namedCurve:
            { prime256v1: "P-256", secp384r1: "P-384", secp521r1: "P-521" }[details.namedCurve ?? ""] ?? "",
        }
      : scheme;
  return Promise.resolve(ca.privateKey.toCryptoKey(importParams, false, ["sign"]));
}

function describe(cert: ParsedCertificate): string {
  return `"${cert.node.subject.replaceAll("\n", ", ")}"`;
}

/**
 * Loads an issuing CA from a Secret's tls.crt (the CA certificate, then its chain up to and
 * including the self-signed root) and tls.key (PKCS#8, PKCS#1 or SEC1 PEM). Every error names
 * the field and what is wrong; none ever quotes the key.
 */
export function loadCa(
  certChainPem: string,
  keyPem: string,
  options: { now?: Date } = {},
): CertificateAuthority {
  const now = options.now ?? new Date();
  const blocks = splitPemCertificates(certChainPem);
  if (blocks.length === 0) throw new PkiError("CA tls.crt holds no PEM CERTIFICATE block");
  const chain = blocks.map((block, index) => {
    try {
      return parseCertificate(block);
    } catch {
      throw new PkiError(`CA tls.crt certificate #${index + 1} cannot be parsed as X.509`);
    }
  });
  let privateKey: KeyObject;
  try {
    privateKey = createPrivateKey({ key: keyPem, format: "pem" });
  } catch {
    throw new PkiError("CA tls.key is not a PEM private key (PKCS#8, PKCS#1 or SEC1 expected)");
  }
  const issuing = chain[0] as ParsedCertificate;
  const constraints = basicConstraints(issuing);
  if (!constraints?.ca) {
    throw new PkiError(
      `CA tls.crt: certificate ${describe(issuing)} is not a CA (basicConstraints cA is not true)`,
    );
  }
  const usage = keyUsage(issuing);
  if (!usage || (usage.flags & x509.KeyUsageFlags.keyCertSign) === 0) {
    throw new PkiError(
      `CA tls.crt: certificate ${describe(issuing)} may not sign certificates (KeyUsage lacks keyCertSign)`,
    );
  }
  if (!issuing.node.checkPrivateKey(privateKey)) {
    throw new PkiError(
      `CA tls.key does not match the public key of certificate ${describe(issuing)} in tls.crt`,
    );
  }
  for (const [index, cert] of chain.entries()) {
    const notBefore = new Date(cert.node.validFrom);
    const notAfter = new Date(cert.node.validTo);
    if (now >= notAfter) {
      throw new PkiError(`CA tls.crt: certificate ${describe(cert)} expired at ${notAfter.toISOString()}`);
    }
    if (now < notBefore) {
      throw new PkiError(
        `CA tls.crt: certificate ${describe(cert)} is not valid before ${notBefore.toISOString()}`,
      );
    }
    const parent = chain[index + 1];
    if (parent) {
      if (!isIssuedBy(cert.node, parent.node)) {
        throw new PkiError(
          `CA tls.crt: certificate #${index + 1} ${describe(cert)} is not signed by the next certificate ${describe(parent)}; order the chain from the issuing CA to the root`,
        );
      }
      const parentConstraints = basicConstraints(parent);
      if (!parentConstraints?.ca)
        throw new PkiError(`CA tls.crt: chain certificate ${describe(parent)} is not a CA`);
      // The parent at position index+1 has index+1 CA certificates below it before the leaf.
      if (parentConstraints.pathLength !== undefined && parentConstraints.pathLength < index + 1) {
        throw new PkiError(
          `CA tls.crt: pathLenConstraint ${parentConstraints.pathLength} of ${describe(parent)} forbids this chain`,
        );
      }
    }
  }
  const root = chain[chain.length - 1] as ParsedCertificate;
  if (!isSelfSigned(root.node)) {
    throw new PkiError(
      `CA tls.crt ends with ${describe(root)}, which is not a self-signed root; append the issuing certificates up to the root`,
    );
  }
  const signature = signatureSchemeFor(privateKey);
  const spki = issuing.node.publicKey.export({ type: "spki", format: "der" });
  const trustDomainUri = subjectAltNames(issuing).uris.find((uri) => uri.startsWith("spiffe://"));
  return Object.freeze({
    certificate: issuing.node,
    certPem: issuing.pem,
    intermediatesPem:
      chain.length === 1
        ? ""
        : chain
            .slice(0, -1)
            .map((c) => c.pem)
            .join(""),
    rootPem: root.pem,
    rootFingerprint: sha256Fingerprint(root.node),
    isRoot: chain.length === 1,
    privateKey,
    trustDomain: trustDomainUri ? new URL(trustDomainUri).host : undefined,
    notBefore: new Date(issuing.node.validFrom),
    notAfter: new Date(Math.min(...chain.map((cert) => new Date(cert.node.validTo).getTime()))),
    subjectKeyIdentifier: subjectKeyIdentifier(issuing) ?? keyIdentifierOf(spki),
    subjectDer: subjectNameDer(issuing.node.raw),
    signature,
  });
}
