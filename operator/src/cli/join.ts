import { type webcrypto, X509Certificate } from "node:crypto";
import { existsSync, mkdirSync, readFileSync, renameSync, writeFileSync } from "node:fs";
import { request } from "node:https";
import { join } from "node:path";
import { parseArgs } from "node:util";
import { spkiPin, splitPemCertificates } from "../pki/certificate.ts";
import * as x509 from "../pki/x509.ts";

x509.cryptoProvider.set(globalThis.crypto);

export const JOIN_USAGE = `usage: signet join --server URL --identity <namespace>/<name> --ca-sha256 sha256:<hex> --dir DIR
                   [--token-file FILE] [--server-name NAME] [--key-algorithm ECDSA-P256|ECDSA-P384|Ed25519] [--once]

On a machine outside the cluster: generates a key here, enrolls with the single-use token from
signet enroll (env SIGNET_ENROLLMENT_TOKEN or --token-file), writes tls.key, tls.crt (the SVID and
its chain), ca.crt (the workload trust bundle) and server-ca.crt to DIR, and then keeps itself
renewed with a fresh key each time, authenticating with its current SVID (no token again). A
suspended identity or a closed window stops renewal; once the certificate expires it exits 1.
With a valid certificate already in DIR it renews without a token. One JSON line per event on stdout.
`;

export class JoinUsageError extends Error {
  override name = "JoinUsageError";
}

const ALGORITHMS = {
  "ECDSA-P256": { name: "ECDSA", namedCurve: "P-256", hash: "SHA-256" },
  "ECDSA-P384": { name: "ECDSA", namedCurve: "P-384", hash: "SHA-384" },
  Ed25519: { name: "Ed25519" },
} as const;
type AlgorithmName = keyof typeof ALGORITHMS;

interface IssuedBody {
  certificate: string;
  bundle: string;
  serverCA: string;
  spiffeId: string;
  notAfter: string;
  renewAfter: string;
}

/** A key and a PKCS#10 request for it (the subject is ignored by Signet: the identity decides). */
async function keyAndCsr(algorithm: AlgorithmName): Promise<{ keyPem: string; csrPem: string }> {
  const params = ALGORITHMS[algorithm];
  const keys = (await crypto.subtle.generateKey(params, true, ["sign", "verify"])) as webcrypto.CryptoKeyPair;
  const csr = await x509.Pkcs10CertificateRequestGenerator.create({
    keys,
    signingAlgorithm: params,
    name: "CN=signet-join",
  });
  const pkcs8 = Buffer.from(await crypto.subtle.exportKey("pkcs8", keys.privateKey));
  const keyPem = `-----BEGIN PRIVATE KEY-----\n${pkcs8.toString("base64").replace(/.{64}/g, "$&\n").replace(/\n?$/, "\n")}-----END PRIVATE KEY-----\n`;
  return { keyPem, csrPem: csr.toString("pem") };
}

interface Endpoint {
  url: URL;
  serverName: string | undefined;
}

function call(
  endpoint: Endpoint,
  method: "GET" | "POST",
  path: string,
  tls: { ca?: string; cert?: string; key?: string; insecure?: boolean },
  body?: unknown,
): Promise<{ status: number; text: string }> {
  const payload = body === undefined ? undefined : JSON.stringify(body);
  return new Promise((resolve, reject) => {
    const req = request(
      {
        host: endpoint.url.hostname.replace(/^\[|\]$/g, ""),
        port: endpoint.url.port || 443,
        path,
        method,
        ...(endpoint.serverName ? { servername: endpoint.serverName } : {}),
        ...(tls.insecure ? { rejectUnauthorized: false } : { ca: tls.ca, rejectUnauthorized: true }),
        ...(tls.cert ? { cert: tls.cert, key: tls.key } : {}),
        headers: payload
          ? { "content-type": "application/json", "content-length": Buffer.byteLength(payload) }
          : {},
        timeout: 15_000,
        agent: false,
      },
      (res) => {
        const chunks: Buffer[] = [];
        res.on("data", (c: Buffer) => chunks.push(c));
        res.on("end", () =>
          resolve({ status: res.statusCode ?? 0, text: Buffer.concat(chunks).toString("utf8") }),
        );
      },
    );
    req.on("timeout", () => req.destroy(new Error(`no answer from ${endpoint.url.origin} within 15 s`)));
    req.on("error", reject);
    req.end(payload);
  });
}

function writeAtomically(path: string, content: string, mode: number): void {
  const tmp = `${path}.tmp`;
  writeFileSync(tmp, content, { mode });
  renameSync(tmp, path);
}

const event = (fields: Record<string, unknown>) =>
  process.stdout.write(`${JSON.stringify({ time: new Date().toISOString(), ...fields })}\n`);

/** `signet join`: runs until the certificate can no longer be renewed (or once, with --once). */
export async function runJoin(args: string[]): Promise<number> {
  const { values } = parseArgs({
    args,
    options: {
      server: { type: "string" },
      identity: { type: "string" },
      "ca-sha256": { type: "string" },
      dir: { type: "string" },
      "token-file": { type: "string" },
      "server-name": { type: "string" },
      "key-algorithm": { type: "string", default: "ECDSA-P256" },
      once: { type: "boolean", default: false },
      help: { type: "boolean", short: "h" },
    },
  });
  if (values.help) {
    process.stdout.write(JOIN_USAGE);
    return 0;
  }
  for (const flag of ["server", "identity", "ca-sha256", "dir"] as const) {
    if (!values[flag]) throw new JoinUsageError(`--${flag} is required\n\n${JOIN_USAGE}`);
  }
  let url: URL;
  try {
    url = new URL(values.server ?? "");
  } catch {
    throw new JoinUsageError(
      `--server: "${values.server}" is not a URL such as https://signet.example.com:8445`,
    );
  }
  if (url.protocol !== "https:") throw new JoinUsageError("--server must be an https URL");
  const pin = values["ca-sha256"] ?? "";
  if (!/^sha256:[0-9a-f]{64}$/.test(pin))
    throw new JoinUsageError("--ca-sha256 must be sha256: and 64 hex digits");
  const algorithm = values["key-algorithm"] as AlgorithmName;
  if (!(algorithm in ALGORITHMS))
    throw new JoinUsageError(`--key-algorithm must be one of ${Object.keys(ALGORITHMS).join(", ")}`);
  const dir = values.dir ?? "";
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  const files = {
    key: join(dir, "tls.key"),
    cert: join(dir, "tls.crt"),
    bundle: join(dir, "ca.crt"),
    serverCa: join(dir, "server-ca.crt"),
  };
  const endpoint: Endpoint = { url, serverName: values["server-name"] };

  const store = (issued: IssuedBody, keyPem: string) => {
    writeAtomically(files.key, keyPem, 0o600);
    writeAtomically(files.cert, issued.certificate, 0o644);
    writeAtomically(files.bundle, issued.bundle, 0o644);
    // The serving trust follows Signet's rotations, learnt over a channel already verified.
    if (issued.serverCA.includes("BEGIN CERTIFICATE"))
      writeAtomically(files.serverCa, issued.serverCA, 0o644);
  };

  const current = (): { notAfter: Date } | undefined => {
    if (!existsSync(files.cert) || !existsSync(files.key) || !existsSync(files.serverCa)) return undefined;
    try {
      const leaf = new X509Certificate(readFileSync(files.cert, "utf8"));
      const notAfter = new Date(leaf.validTo);
      return notAfter > new Date() ? { notAfter } : undefined;
    } catch {
      return undefined;
    }
  };

  let renewAfter: Date;
  let notAfter: Date;
  const held = current();
  if (held) {
    notAfter = held.notAfter;
    renewAfter = new Date();
    event({ event: "resumed", notAfter: notAfter.toISOString() });
  } else {
    const token = (
      values["token-file"]
        ? readFileSync(values["token-file"], "utf8")
        : (process.env.SIGNET_ENROLLMENT_TOKEN ?? "")
    ).trim();
    if (!token) throw new JoinUsageError("no token: set SIGNET_ENROLLMENT_TOKEN or --token-file");
    // First contact: the serving bundle is fetched without trust, and only the certificate that
    // matches the pin is trusted from then on.
    const fetched = await call(endpoint, "GET", "/v1/server-ca", { insecure: true });
    const pinned = splitPemCertificates(fetched.text).find((pem) => {
      try {
        return spkiPin(pem) === pin;
      } catch {
        return false;
      }
    });
    if (fetched.status !== 200 || !pinned) {
      event({
        event: "refused",
        reason: "ServerNotPinned",
        message: `no certificate of ${url.origin}'s serving bundle matches ${pin}`,
      });
      return 1;
    }
    writeAtomically(files.serverCa, pinned, 0o644);
    const { keyPem, csrPem } = await keyAndCsr(algorithm);
    const answer = await call(
      endpoint,
      "POST",
      "/v1/enroll",
      { ca: pinned },
      {
        token,
        identity: values.identity,
        csr: csrPem,
      },
    );
    if (answer.status !== 200) {
      const body = safeJson(answer.text);
      event({ event: "refused", status: answer.status, reason: body.reason, message: body.error });
      return 1;
    }
    const issued = JSON.parse(answer.text) as IssuedBody;
    store(issued, keyPem);
    notAfter = new Date(issued.notAfter);
    renewAfter = new Date(issued.renewAfter);
    event({
      event: "enrolled",
      spiffeId: issued.spiffeId,
      serial: serialOf(issued.certificate),
      notAfter: issued.notAfter,
      renewAfter: issued.renewAfter,
    });
  }
  if (values.once) return 0;

  let stopping = false;
  let wake: () => void = () => {};
  const stop = () => {
    stopping = true;
    wake();
  };
  process.once("SIGTERM", stop);
  process.once("SIGINT", stop);
  const sleepUntil = (at: Date) =>
    new Promise<void>((resolve) => {
      const timer = setTimeout(resolve, Math.max(0, at.getTime() - Date.now()));
      wake = () => {
        clearTimeout(timer);
        resolve();
      };
    });

  while (!stopping) {
    await sleepUntil(renewAfter);
    if (stopping) break;
    if (Date.now() >= notAfter.getTime()) {
      event({
        event: "expired",
        notAfter: notAfter.toISOString(),
        message: "the certificate expired; enroll again with a new token",
      });
      return 1;
    }
    const { keyPem, csrPem } = await keyAndCsr(algorithm);
    let answer: { status: number; text: string };
    try {
      answer = await call(
        endpoint,
        "POST",
        "/v1/renew",
        {
          ca: readFileSync(files.serverCa, "utf8"),
          cert: readFileSync(files.cert, "utf8"),
          key: readFileSync(files.key, "utf8"),
        },
        { csr: csrPem },
      );
    } catch (err) {
      answer = { status: 0, text: JSON.stringify({ reason: "Unreachable", error: (err as Error).message }) };
    }
    if (answer.status === 200) {
      const issued = JSON.parse(answer.text) as IssuedBody;
      store(issued, keyPem);
      notAfter = new Date(issued.notAfter);
      renewAfter = new Date(issued.renewAfter);
      event({
        event: "renewed",
        spiffeId: issued.spiffeId,
        serial: serialOf(issued.certificate),
        notAfter: issued.notAfter,
        renewAfter: issued.renewAfter,
      });
      continue;
    }
    const body = safeJson(answer.text);
    // Refused (suspended, window closed) or unreachable: try again a few times before expiry.
    const left = notAfter.getTime() - Date.now();
    renewAfter = new Date(Date.now() + Math.max(1_000, Math.min(30_000, left / 4)));
    event({
      event: "refused",
      status: answer.status,
      reason: body.reason,
      message: body.error,
      retryAt: renewAfter.toISOString(),
    });
  }
  return 0;
}

function safeJson(text: string): { reason?: string; error?: string } {
  try {
    return JSON.parse(text) as { reason?: string; error?: string };
  } catch {
    return { error: text.slice(0, 200) };
  }
}

function serialOf(chainPem: string): string {
  return new X509Certificate(splitPemCertificates(chainPem)[0] ?? chainPem).serialNumber.toLowerCase();
}
