import { createPrivateKey, X509Certificate } from "node:crypto";
import type { IncomingMessage, ServerResponse } from "node:http";
import { createServer, type Server } from "node:https";
import type { AddressInfo } from "node:net";
import { createSecureContext, type SecureContextOptions } from "node:tls";
import type { Logger } from "../telemetry/logger.ts";

/**
 * Checks a serving certificate and key before a server swaps to them: both parse, the key is the
 * certificate's, and the whole TLS context builds. Returns the context and the leaf (for logging);
 * throws a message naming what is wrong, so a bad pair never replaces a good one.
 */
export function servingContext(
  certPem: string,
  keyPem: string,
  options: SecureContextOptions = {},
): { context: SecureContextOptions; leaf: X509Certificate } {
  let leaf: X509Certificate;
  try {
    leaf = new X509Certificate(certPem);
  } catch {
    throw new Error("serving certificate is not a PEM X.509 certificate");
  }
  let matches = false;
  try {
    matches = leaf.checkPrivateKey(createPrivateKey(keyPem));
  } catch {
    throw new Error("serving key is not a PEM private key");
  }
  if (!matches) throw new Error(`serving key does not belong to certificate ${leaf.subject}`);
  const context = { ...options, cert: certPem, key: keyPem };
  createSecureContext(context);
  return { context, leaf };
}

export function sendJson(res: ServerResponse, status: number, body: unknown): void {
  const payload = JSON.stringify(body);
  res.writeHead(status, { "content-type": "application/json", "content-length": Buffer.byteLength(payload) });
  res.end(payload);
}

/** Stops accepting, closes idle connections at once and the rest after 2 s (a request in flight may finish). */
export function closeServer(server: Server): Promise<void> {
  return new Promise((resolve) => {
    server.close(() => resolve());
    server.closeIdleConnections();
    setTimeout(() => server.closeAllConnections(), 2_000).unref();
  });
}

/** An HTTPS endpoint that asks every client for a certificate and verifies it against a trust bundle. */
export interface ClientCertServer {
  readonly port: number;
  /**
   * Serves this certificate and verifies client certificates against `clientCaPem` from the next
   * handshake on. Throws, keeping what was there, when the pair is unusable or the bundle is empty.
   */
  setTls(certPem: string, keyPem: string, clientCaPem: string): void;
  close(): Promise<void>;
}

const CLIENT_CERT_TLS: SecureContextOptions = { minVersion: "TLSv1.2" };

/**
 * Starts an HTTPS server for Signet's own endpoints (the JWT and the enrollment endpoints): a
 * client certificate is asked for on every connection but not required by the handshake, so that a
 * route decides whether it needs one (and reads the verified result from the socket). It serves
 * nothing useful until `setTls` has given it a certificate. `name` appears in its log lines.
 */
export async function startClientCertServer(options: {
  name: string;
  port: number;
  host?: string | undefined;
  logger: Logger;
  handle: (req: IncomingMessage, res: ServerResponse) => Promise<void>;
}): Promise<ClientCertServer> {
  const log = options.logger;
  const server = createServer({
    ...CLIENT_CERT_TLS,
    requestCert: true,
    rejectUnauthorized: false,
    headersTimeout: 10_000,
    requestTimeout: 15_000,
  });
  const setTls = (certPem: string, keyPem: string, clientCaPem: string): void => {
    if (!clientCaPem.includes("BEGIN CERTIFICATE"))
      throw new Error("the client trust bundle holds no certificate");
    const { context, leaf } = servingContext(certPem, keyPem, { ...CLIENT_CERT_TLS, ca: clientCaPem });
    server.setSecureContext(context);
    log.info(
      { subject: leaf.subject, serial: leaf.serialNumber, notAfter: leaf.validTo },
      `${options.name} certificate loaded`,
    );
  };
  server.on("request", (req: IncomingMessage, res: ServerResponse) => {
    void options.handle(req, res);
  });
  server.on("tlsClientError", (err: Error) => log.debug({ err: err.message }, "TLS handshake failed"));
  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(options.port, options.host, () => {
      server.off("error", reject);
      resolve();
    });
  });
  server.on("error", (err) => log.error({ err: err.message }, `${options.name} server error`));
  const port = (server.address() as AddressInfo).port;
  return { port, setTls, close: () => closeServer(server) };
}
