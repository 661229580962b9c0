import { createPublicKey } from "node:crypto";
import { describeKey, type KeyAlgorithm, keyAlgorithmOf } from "../pki/keys.ts";
import * as x509 from "../pki/x509.ts";
import { EnrollReason } from "./decide.ts";

x509.cryptoProvider.set(globalThis.crypto);

export type CsrKey =
  | { ok: true; spki: Buffer; algorithm: KeyAlgorithm }
  | {
      ok: false;
      reason: typeof EnrollReason.InvalidCSR | typeof EnrollReason.UnsupportedKeyType;
      message: string;
    };

/**
 * The public key of a PEM PKCS#10 request whose signature proves that its sender holds the private
 * key. Only the key is taken: the subject and extensions a machine asks for are ignored, the
 * identity decides what its certificate says.
 */
export async function csrKey(pem: string): Promise<CsrKey> {
  if (
    !/^\s*-----BEGIN CERTIFICATE REQUEST-----[A-Za-z0-9+/=\s]+-----END CERTIFICATE REQUEST-----\s*$/.test(pem)
  ) {
    return {
      ok: false,
      reason: EnrollReason.InvalidCSR,
      message: "csr must be one PEM CERTIFICATE REQUEST (PKCS#10)",
    };
  }
  let request: x509.Pkcs10CertificateRequest;
  try {
    request = new x509.Pkcs10CertificateRequest(pem);
  } catch (err) {
    return {
      ok: false,
      reason: EnrollReason.InvalidCSR,
      message: `csr does not parse: ${(err as Error).message}`,
    };
  }
  const spki = Buffer.from(request.publicKey.rawData);
  let key: ReturnType<typeof createPublicKey>;
  try {
    key = createPublicKey({ key: spki, format: "der", type: "spki" });
  } catch (err) {
    return {
      ok: false,
      reason: EnrollReason.InvalidCSR,
      message: `the csr's public key does not parse: ${(err as Error).message}`,
    };
  }
  const algorithm = keyAlgorithmOf(key);
  if (!algorithm) {
    const what = describeKey(key);
    return {
      ok: false,
      reason: EnrollReason.UnsupportedKeyType,
      message: `Signet issues no certificate for a ${what} key; use ECDSA P-256 or P-384, Ed25519, or RSA 2048-4096`,
    };
  }
  let verified = false;
  try {
    verified = await request.verify();
  } catch {}
  if (!verified) {
    return {
      ok: false,
      reason: EnrollReason.InvalidCSR,
      message: "the csr's signature does not verify with its own key: it proves no possession of the key",
    };
  }
  return { ok: true, spki: key.export({ format: "der", type: "spki" }), algorithm };
}
