import { randomBytes, webcrypto } from "node:crypto";
import type { V1ObjectMeta, V1Pod, V1Secret } from "@kubernetes/client-node";
import { SignJWT } from "jose";
import { toPem } from "../operator/src/pki/der.ts";
import * as x509 from "../operator/src/pki/x509.ts";

// Credentials made fresh for the discover tests, unit and end-to-end: real certificates, keys and
// signed JWTs, so the classifier is tested on what it will meet in a cluster.

export const DAY_MS = 86_400_000;

export interface CertificatePair {
  certPem: string;
  keyPem: string;
}

/** A self-signed P-256 certificate valid from `notBefore` to `notAfter`, with its PKCS#8 key. */
export async function selfSignedCertificate(
  commonName: string,
  notBefore: Date,
  notAfter: Date,
  ca = false,
): Promise<CertificatePair> {
  const algorithm = { name: "ECDSA", namedCurve: "P-256", hash: "SHA-256" };
  const keys = (await webcrypto.subtle.generateKey(algorithm, true, [
    "sign",
    "verify",
  ])) as webcrypto.CryptoKeyPair;
  const cert = await x509.X509CertificateGenerator.createSelfSigned({
    serialNumber: randomBytes(8).toString("hex"),
    name: `CN=${commonName}`,
    notBefore,
    notAfter,
    keys,
    signingAlgorithm: algorithm,
    extensions: [new x509.BasicConstraintsExtension(ca, undefined, true)],
  });
  return {
    certPem: toPem("CERTIFICATE", new Uint8Array(cert.rawData)),
    keyPem: toPem("PRIVATE KEY", new Uint8Array(await webcrypto.subtle.exportKey("pkcs8", keys.privateKey))),
  };
}

/** An HS256 JWT with the given claims and a random key that is thrown away. */
export async function jwt(claims: { iss?: string; sub?: string; exp?: number }): Promise<string> {
  let builder = new SignJWT({ sub: claims.sub ?? "service", ...(claims.iss ? { iss: claims.iss } : {}) })
    .setProtectedHeader({ alg: "HS256", typ: "JWT" })
    .setIssuedAt();
  if (claims.exp !== undefined) builder = builder.setExpirationTime(claims.exp);
  return builder.sign(randomBytes(32));
}

export function b64(text: string): string {
  return Buffer.from(text, "utf8").toString("base64");
}

export function secret(
  namespace: string,
  name: string,
  type: string,
  data: Record<string, string>,
  metadata: Pick<V1ObjectMeta, "labels" | "annotations" | "ownerReferences"> = {},
): V1Secret {
  return {
    metadata: { name, namespace, ...metadata },
    type,
    data: Object.fromEntries(Object.entries(data).map(([k, v]) => [k, b64(v)])),
  };
}

/** A pod of `serviceAccount` mounting `volumeSecret` as a volume and reading `envSecret` into env. */
export function pod(
  namespace: string,
  name: string,
  serviceAccount: string,
  refs: { volume?: string; env?: string; envFrom?: string; projected?: string; pull?: string },
): V1Pod {
  const volumes: NonNullable<V1Pod["spec"]>["volumes"] = [];
  if (refs.volume) volumes.push({ name: "creds", secret: { secretName: refs.volume } });
  if (refs.projected)
    volumes.push({ name: "bundle", projected: { sources: [{ secret: { name: refs.projected } }] } });
  return {
    metadata: { name, namespace },
    spec: {
      serviceAccountName: serviceAccount,
      volumes,
      ...(refs.pull ? { imagePullSecrets: [{ name: refs.pull }] } : {}),
      containers: [
        {
          name: "app",
          image: "registry.example/app:1",
          ...(refs.env
            ? { env: [{ name: "API_TOKEN", valueFrom: { secretKeyRef: { name: refs.env, key: "token" } } }] }
            : {}),
          ...(refs.envFrom ? { envFrom: [{ secretRef: { name: refs.envFrom } }] } : {}),
        },
      ],
    },
  };
}
