import { createPrivateKey, X509Certificate } from "node:crypto";
import { decodeJwt, decodeProtectedHeader } from "jose";
import { compareStrings } from "../audit/time.ts";

// Everything here reads secret material and returns only what may be shown: key names,
// algorithms, validity, fingerprints. No function returns or embeds a value, a key or a token.

/** A certificate found in one data key: the first certificate of the key's PEM, the leaf by convention. */
export interface CertificateFacts {
  kind: "Certificate";
  key: string;
  subject: string;
  issuer: string;
  selfSigned: boolean;
  isCa: boolean;
  notBefore: Date;
  notAfter: Date;
  /** SHA-256 of the DER, colon-separated hex: public, identifies the certificate without revealing anything. */
  fingerprintSHA256: string;
  keyAlgorithm: string;
}

export interface PrivateKeyFacts {
  kind: "PrivateKey";
  key: string;
  /** "RSA 2048", "EC prime256v1", "Ed25519", or what the PEM label says when Node cannot read it. */
  algorithm: string;
  encrypted: boolean;
}

export interface JwtFacts {
  kind: "JWT";
  key: string;
  algorithm: string;
  issuer: string | undefined;
  expiresAt: Date | undefined;
}

export interface RegistryFacts {
  kind: "RegistryCredential";
  key: string;
  /** Registry host names with a static password or auth string. */
  registries: string[];
}

export type CredentialFacts = CertificateFacts | PrivateKeyFacts | JwtFacts | RegistryFacts;

const PEM_BLOCK = /-----BEGIN ([A-Z0-9 ]+)-----\r?\n([\s\S]*?)-----END \1-----/g;

interface PemBlock {
  label: string;
  text: string;
}

function pemBlocks(text: string): PemBlock[] {
  return [...text.matchAll(PEM_BLOCK)].map((m) => ({ label: m[1] as string, text: m[0] }));
}

function describeKeyObject(key: {
  asymmetricKeyType?: string | undefined;
  asymmetricKeyDetails?: { modulusLength?: number; namedCurve?: string } | undefined;
}): string {
  const type = key.asymmetricKeyType ?? "unknown";
  const details = key.asymmetricKeyDetails ?? {};
  if (type === "rsa" || type === "rsa-pss") return `${type.toUpperCase()} ${details.modulusLength ?? "?"}`;
  if (type === "ec") return `EC ${details.namedCurve ?? "?"}`;
  if (type === "ed25519") return "Ed25519";
  if (type === "ed448") return "Ed448";
  return type;
}

function certificateFacts(key: string, pem: string): CertificateFacts | undefined {
  let cert: X509Certificate;
  try {
    cert = new X509Certificate(pem);
  } catch {
    return undefined;
  }
  return {
    kind: "Certificate",
    key,
    subject: cert.subject.replaceAll("\n", ", "),
    issuer: cert.issuer.replaceAll("\n", ", "),
    selfSigned: cert.subject === cert.issuer && cert.checkIssued(cert) && cert.verify(cert.publicKey),
    isCa: cert.ca,
    notBefore: cert.validFromDate,
    notAfter: cert.validToDate,
    fingerprintSHA256: cert.fingerprint256,
    keyAlgorithm: describeKeyObject(cert.publicKey),
  };
}

function privateKeyFacts(key: string, block: PemBlock): PrivateKeyFacts {
  const encrypted = block.label.startsWith("ENCRYPTED") || /Proc-Type: 4,ENCRYPTED/.test(block.text);
  if (encrypted) return { kind: "PrivateKey", key, algorithm: "encrypted", encrypted };
  try {
    return { kind: "PrivateKey", key, algorithm: describeKeyObject(createPrivateKey(block.text)), encrypted };
  } catch {
    // OpenSSH keys and damaged PEM are still private keys; name them by their label.
    return {
      kind: "PrivateKey",
      key,
      algorithm: block.label.replace(/ ?PRIVATE KEY$/, "") || "unknown",
      encrypted,
    };
  }
}

const JWT_SHAPE = /^[A-Za-z0-9_-]{4,}\.[A-Za-z0-9_-]{4,}\.[A-Za-z0-9_-]*$/;

function jwtFacts(key: string, text: string): JwtFacts | undefined {
  const token = text.trim();
  if (!JWT_SHAPE.test(token)) return undefined;
  try {
    // Decoding only: the audit asks what the token claims about its lifetime, not whether it is genuine.
    const header = decodeProtectedHeader(token);
    if (typeof header.alg !== "string") return undefined;
    const claims = decodeJwt(token);
    return {
      kind: "JWT",
      key,
      algorithm: header.alg,
      issuer: typeof claims.iss === "string" ? claims.iss : undefined,
      expiresAt: typeof claims.exp === "number" ? new Date(claims.exp * 1000) : undefined,
    };
  } catch {
    return undefined;
  }
}

function registryFacts(key: string, text: string): RegistryFacts | undefined {
  let config: unknown;
  try {
    config = JSON.parse(text);
  } catch {
    return undefined;
  }
  // .dockerconfigjson nests entries under "auths"; the legacy .dockercfg is the map itself.
  const auths = (config as { auths?: unknown })?.auths ?? config;
  if (typeof auths !== "object" || auths === null) return undefined;
  const registries = Object.entries(auths as Record<string, unknown>)
    .filter(([, entry]) => {
      const e = entry as { password?: unknown; auth?: unknown } | null;
      return (
        (typeof e?.password === "string" && e.password !== "") ||
        (typeof e?.auth === "string" && e.auth !== "")
      );
    })
    .map(([registry]) => registry)
    .sort(compareStrings);
  return registries.length === 0 ? undefined : { kind: "RegistryCredential", key, registries };
}

const REGISTRY_KEYS = new Set([".dockerconfigjson", ".dockercfg"]);

/** The credentials in one decoded data value, in the order they appear. */
export function credentialsIn(key: string, text: string): CredentialFacts[] {
  if (REGISTRY_KEYS.has(key)) {
    const registry = registryFacts(key, text);
    return registry === undefined ? [] : [registry];
  }
  const found: CredentialFacts[] = [];
  let sawCertificate = false;
  for (const block of pemBlocks(text)) {
    if (block.label === "CERTIFICATE") {
      // The first certificate is the leaf; the rest of a chain adds nothing a holder could use.
      if (sawCertificate) continue;
      const cert = certificateFacts(key, block.text);
      if (cert !== undefined) {
        found.push(cert);
        sawCertificate = true;
      }
    } else if (block.label.endsWith("PRIVATE KEY")) {
      found.push(privateKeyFacts(key, block));
    }
  }
  if (found.length > 0) return found;
  const jwt = jwtFacts(key, text);
  return jwt === undefined ? [] : [jwt];
}
