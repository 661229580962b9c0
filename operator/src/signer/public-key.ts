import { createPublicKey, type KeyObject } from "node:crypto";
import { readHeader } from "../pki/der.ts";
import { describeKey, type KeyAlgorithm, keyAlgorithmOf } from "../pki/keys.ts";
import type { PodCertificateRequest } from "./request.ts";

/** The key a PodCertificateRequest asks a certificate for, or why it cannot be read. */
export type RequestKey =
  | { ok: true; spki: Buffer; algorithm: KeyAlgorithm; key: KeyObject }
  | { ok: false; unsupported: boolean; message: string };

const TAG_SEQUENCE = 0x30;
const TAG_INTEGER = 0x02;

/**
 * The SubjectPublicKeyInfo inside a PKCS#10 CertificationRequest (RFC 2986):
 * SEQUENCE { SEQUENCE { version INTEGER, subject Name, subjectPKInfo, [0] attributes }, ... }.
 * The API server verified the request's signature when it stored it; only the key is read here.
 */
export function spkiOfCsr(der: Uint8Array): Buffer {
  const outer = readHeader(der, 0);
  if (outer.tag !== TAG_SEQUENCE) throw new Error("not a PKCS#10 request: no outer SEQUENCE");
  const info = readHeader(der, outer.contentStart);
  if (info.tag !== TAG_SEQUENCE) throw new Error("not a PKCS#10 request: no CertificationRequestInfo");
  const version = readHeader(der, info.contentStart);
  if (version.tag !== TAG_INTEGER) throw new Error("not a PKCS#10 request: no version");
  const subject = readHeader(der, version.end);
  if (subject.tag !== TAG_SEQUENCE) throw new Error("not a PKCS#10 request: no subject");
  const spki = readHeader(der, subject.end);
  if (spki.tag !== TAG_SEQUENCE || spki.end > info.end) {
    throw new Error("not a PKCS#10 request: no SubjectPublicKeyInfo");
  }
  return Buffer.from(der.subarray(spki.start, spki.end));
}

/**
 * The key of a request in either format: the 1.36 stubPKCS10Request, or the 1.35 pkixPublicKey
 * (whose proof of possession the API server checked). Keys Signet does not issue for (P-521,
 * anything but ECDSA P-256/P-384, Ed25519 and RSA 2048/3072/4096) are `unsupported`.
 */
export function requestKey(spec: PodCertificateRequest["spec"]): RequestKey {
  let spki: Buffer;
  try {
    if (spec.stubPKCS10Request) {
      spki = spkiOfCsr(Buffer.from(spec.stubPKCS10Request, "base64"));
    } else if (spec.pkixPublicKey) {
      spki = Buffer.from(spec.pkixPublicKey, "base64");
    } else {
      return {
        ok: false,
        unsupported: false,
        message: "the request carries neither spec.stubPKCS10Request nor spec.pkixPublicKey",
      };
    }
  } catch (err) {
    return { ok: false, unsupported: false, message: `spec.stubPKCS10Request: ${(err as Error).message}` };
  }
  let key: KeyObject;
  try {
    key = createPublicKey({ key: spki, format: "der", type: "spki" });
  } catch (err) {
    return {
      ok: false,
      unsupported: false,
      message: `the request's public key does not parse: ${(err as Error).message}`,
    };
  }
  const algorithm = keyAlgorithmOf(key);
  if (!algorithm) {
    return {
      ok: false,
      unsupported: true,
      message: `Signet issues no certificate for a ${describeKey(key)} key`,
    };
  }
  // Re-encoded by node:crypto, so that the certificate carries a canonical SPKI.
  return { ok: true, spki: key.export({ format: "der", type: "spki" }), algorithm, key };
}

/** The podCertificate keyType that yields a key of `algorithm` (the inverse of the kubelet's choice). */
export function keyTypeOf(algorithm: KeyAlgorithm): string | undefined {
  switch (algorithm.algorithm) {
    case "ECDSA":
      return algorithm.size === 256 ? "ECDSAP256" : "ECDSAP384";
    case "Ed25519":
      return "ED25519";
    case "RSA":
      return algorithm.size === 2048 ? undefined : `RSA${algorithm.size}`;
  }
}
