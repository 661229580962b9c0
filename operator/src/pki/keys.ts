import { generateKeyPair, generateKeyPairSync, type KeyObject } from "node:crypto";
import { bitString, explicit, nullValue, octetString, oid, sequence, smallInteger, toPem } from "./der.ts";

/** The MachineIdentity `spec.privateKey` shape, before defaults. */
export interface PrivateKeySpec {
  algorithm: "ECDSA" | "Ed25519" | "RSA";
  size?: number | undefined;
}

/** A fully resolved key algorithm: the only values Signet generates or accepts for leaves. */
export type KeyAlgorithm =
  | { algorithm: "ECDSA"; size: 256 | 384 }
  | { algorithm: "Ed25519" }
  | { algorithm: "RSA"; size: 2048 | 3072 | 4096 };

export class PkiError extends Error {
  override name = "PkiError";
}

/** Applies the API defaults (ECDSA 256, RSA 2048) and rejects sizes the API does not allow. */
export function resolveKeyAlgorithm(spec: PrivateKeySpec): KeyAlgorithm {
  switch (spec.algorithm) {
    case "ECDSA": {
      const size = spec.size ?? 256;
      if (size === 256 || size === 384) return { algorithm: "ECDSA", size };
      throw new PkiError(`privateKey.size ${size} is not supported for ECDSA; use 256 or 384`);
    }
    case "Ed25519":
      if (spec.size !== undefined) {
        throw new PkiError("privateKey.size must not be set for Ed25519; Ed25519 keys have a fixed size");
      }
      return { algorithm: "Ed25519" };
    case "RSA": {
      const size = spec.size ?? 2048;
      if (size === 2048 || size === 3072 || size === 4096) return { algorithm: "RSA", size };
      throw new PkiError(`privateKey.size ${size} is not supported for RSA; use 2048, 3072 or 4096`);
    }
    default:
      throw new PkiError(
        `privateKey.algorithm ${String((spec as { algorithm: unknown }).algorithm)} is not supported`,
      );
  }
}

export function describeKeyAlgorithm(key: KeyAlgorithm): string {
  return key.algorithm === "Ed25519" ? "Ed25519" : `${key.algorithm} ${key.size}`;
}

export function sameKeyAlgorithm(a: KeyAlgorithm, b: KeyAlgorithm): boolean {
  return describeKeyAlgorithm(a) === describeKeyAlgorithm(b);
}

const CURVE_BY_SIZE = { 256: "P-256", 384: "P-384" } as const;

/** A freshly generated key pair: the private key as PKCS#8 PEM, the public key as SPKI DER. */
export interface GeneratedKey {
  privateKeyPem: string;
  publicKeySpki: Buffer;
}

// AlgorithmIdentifiers of the keys, encoded once.
const EC_ALGORITHM = {
  256: sequence(oid("1.2.840.10045.2.1"), oid("1.2.840.10045.3.1.7")),
  384: sequence(oid("1.2.840.10045.2.1"), oid("1.3.132.0.34")),
} as const;
const ED25519_ALGORITHM = sequence(oid("1.3.101.112"));
const PKCS8_VERSION = smallInteger(0);
const EC_PRIVATE_KEY_VERSION = smallInteger(1);

function fromBase64Url(value: string | undefined, length: number): Buffer {
  const bytes = Buffer.from(value ?? "", "base64url");
  if (bytes.length > length) throw new Error("JWK coordinate longer than the curve allows");
  return bytes.length === length ? bytes : Buffer.concat([Buffer.alloc(length - bytes.length), bytes]);
}

/**
 * Exporting through OpenSSL's encoders costs more than generating the key (on Node 24, SPKI
 * export of a P-256 public key takes about twice as long as the key generation itself), while the
 * JWK export only copies the raw numbers out. The encodings are fixed layouts, so they are
 * written here from the JWK: SPKI per RFC 5480 / RFC 8410, PKCS#8 per RFC 5208 with the
 * RFC 5915 ECPrivateKey (including the public key, as OpenSSL writes it). Tests compare both
 * byte for byte with OpenSSL's own output.
 */
function ecKey(size: 256 | 384): GeneratedKey {
  const { privateKey } = generateKeyPairSync("ec", { namedCurve: CURVE_BY_SIZE[size] });
  const jwk = privateKey.export({ format: "jwk" });
  const length = size / 8;
  const point = Buffer.concat([Buffer.of(0x04), fromBase64Url(jwk.x, length), fromBase64Url(jwk.y, length)]);
  const algorithm = EC_ALGORITHM[size];
  const ecPrivateKey = sequence(
    EC_PRIVATE_KEY_VERSION,
    octetString(fromBase64Url(jwk.d, length)),
    explicit(1, bitString(point)),
  );
  return {
    privateKeyPem: toPem("PRIVATE KEY", sequence(PKCS8_VERSION, algorithm, octetString(ecPrivateKey))),
    publicKeySpki: sequence(algorithm, bitString(point)),
  };
}

function ed25519Key(): GeneratedKey {
  const { privateKey } = generateKeyPairSync("ed25519");
  const jwk = privateKey.export({ format: "jwk" });
  const algorithm = ED25519_ALGORITHM;
  return {
    privateKeyPem: toPem(
      "PRIVATE KEY",
      sequence(PKCS8_VERSION, algorithm, octetString(octetString(fromBase64Url(jwk.d, 32)))),
    ),
    publicKeySpki: sequence(algorithm, bitString(fromBase64Url(jwk.x, 32))),
  };
}

/**
 * EC and Ed25519 generation takes tens of microseconds, less than a hop to the thread pool, so it
 * runs synchronously. RSA generation takes from tens of milliseconds (2048) to seconds (4096) and
 * always goes to the thread pool so the event loop keeps serving watches and webhooks meanwhile.
 */
export function generateKey(key: KeyAlgorithm): GeneratedKey | Promise<GeneratedKey> {
  switch (key.algorithm) {
    case "ECDSA":
      return ecKey(key.size);
    case "Ed25519":
      return ed25519Key();
    case "RSA":
      return new Promise((resolve, reject) => {
        generateKeyPair(
          "rsa",
          {
            modulusLength: key.size,
            publicExponent: 0x10001,
            publicKeyEncoding: { type: "spki", format: "der" },
            privateKeyEncoding: { type: "pkcs8", format: "pem" },
          },
          (err, publicKeySpki, privateKeyPem) =>
            err ? reject(err) : resolve({ privateKeyPem, publicKeySpki }),
        );
      });
  }
}

/** What a KeyObject is, in the API's terms; undefined for keys Signet would not issue. */
/** What a key is, for a message about one Signet issues nothing for: "ec secp521r1", "rsa 1024". */
export function describeKey(key: KeyObject): string {
  const details = key.asymmetricKeyDetails;
  return [key.asymmetricKeyType, details?.namedCurve, details?.modulusLength]
    .filter((x) => x !== undefined)
    .join(" ");
}

export function keyAlgorithmOf(key: KeyObject): KeyAlgorithm | undefined {
  const details = key.asymmetricKeyDetails ?? {};
  switch (key.asymmetricKeyType) {
    case "ec":
      if (details.namedCurve === "prime256v1") return { algorithm: "ECDSA", size: 256 };
      if (details.namedCurve === "secp384r1") return { algorithm: "ECDSA", size: 384 };
      return undefined;
    case "ed25519":
      return { algorithm: "Ed25519" };
    case "rsa": {
      const size = details.modulusLength;
      if (size === 2048 || size === 3072 || size === 4096) return { algorithm: "RSA", size };
      return undefined;
    }
    default:
      return undefined;
  }
}

/** How a CA key signs: the digest for node:crypto `sign()` and the DER AlgorithmIdentifier. */
export interface SignatureScheme {
  digest: string | null;
  algorithmIdentifier: Buffer;
  /** The WebCrypto parameters for the same scheme, for @peculiar/x509. */
  webCrypto: { name: string; hash?: string };
}

/**
 * Digest strength follows the key, as cert-manager does: SHA-256 for P-256 and RSA < 3072,
 * SHA-384 for P-384 and RSA 3072, SHA-512 for P-521 and RSA >= 4096; Ed25519 has no separate digest.
 */
export function signatureSchemeFor(caKey: KeyObject): SignatureScheme {
  const details = caKey.asymmetricKeyDetails ?? {};
  switch (caKey.asymmetricKeyType) {
    case "ec": {
      const byCurve: Record<string, [string, string, string]> = {
        prime256v1: ["sha256", "1.2.840.10045.4.3.2", "SHA-256"],
        secp384r1: ["sha384", "1.2.840.10045.4.3.3", "SHA-384"],
        secp521r1: ["sha512", "1.2.840.10045.4.3.4", "SHA-512"],
      };
      const scheme = byCurve[details.namedCurve ?? ""];
      if (!scheme)
        throw new PkiError(`CA key curve ${details.namedCurve} is not supported; use P-256, P-384 or P-521`);
      return {
        digest: scheme[0],
        algorithmIdentifier: sequence(oid(scheme[1])),
        webCrypto: { name: "ECDSA", hash: scheme[2] },
      };
    }
    case "ed25519":
      return {
        digest: null,
        algorithmIdentifier: sequence(oid("1.3.101.112")),
        webCrypto: { name: "Ed25519" },
      };
    case "rsa": {
      const bits = details.modulusLength ?? 0;
      if (bits < 2048) throw new PkiError(`CA RSA key has ${bits} bits; at least 2048 are required`);
      const [digest, algorithmOid, hash] =
        bits >= 4096
          ? ["sha512", "1.2.840.113549.1.1.13", "SHA-512"]
          : bits >= 3072
            ? ["sha384", "1.2.840.113549.1.1.12", "SHA-384"]
            : ["sha256", "1.2.840.113549.1.1.11", "SHA-256"];
      return {
        digest,
        algorithmIdentifier: sequence(oid(algorithmOid), nullValue()),
        webCrypto: { name: "RSASSA-PKCS1-v1_5", hash },
      };
    }
    default:
      throw new PkiError(
        `CA key type ${caKey.asymmetricKeyType} is not supported; use ECDSA, Ed25519 or RSA`,
      );
  }
}
