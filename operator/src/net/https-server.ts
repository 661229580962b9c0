import { createPrivateKey, X509Certificate } from "node:crypto";
import type { ServerResponse } from "node:http";
import type { Server } from "node:https";
import { createSecureContext, type SecureContextOptions } from "node:tls";

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
