import type { IncomingMessage } from "node:http";
import type { TLSSocket } from "node:tls";
import { parseCertificate, subjectAltNames } from "../pki/certificate.ts";
import { parseSpiffeId } from "../pki/spiffe-id.ts";

/** A refusal of a request: its HTTP status and a machine-readable reason, with a message for people. */
export class HttpError extends Error {
  readonly status: number;
  readonly reason: string;
  constructor(status: number, reason: string, message: string) {
    super(message);
    this.status = status;
    this.reason = reason;
  }
}

/**
 * The request body as text, at most `maxBytes`: a longer one is a 413, one that ends early a 400.
 * The rest of a too-long body is read and dropped, so that the client reads its 413 rather than a reset.
 */
export function readBody(req: IncomingMessage, maxBytes: number): Promise<string> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    req.on("data", (chunk: Buffer) => {
      size += chunk.length;
      if (size > maxBytes) reject(new HttpError(413, "InvalidRequest", `body exceeds ${maxBytes} bytes`));
      else chunks.push(chunk);
    });
    req.on("end", () => resolve(Buffer.concat(chunks).toString("utf8")));
    req.on("close", () => reject(new HttpError(400, "InvalidRequest", "body ended before it was complete")));
  });
}

/** The body of a JSON request, parsed; 415 for another content type, 400 for text that is not JSON. */
export async function readJson(req: IncomingMessage, maxBytes: number): Promise<unknown> {
  const type = (req.headers["content-type"] ?? "").split(";")[0]?.trim().toLowerCase();
  if (type !== "application/json")
    throw new HttpError(415, "InvalidRequest", "content type must be application/json");
  const body = await readBody(req, maxBytes);
  try {
    return JSON.parse(body);
  } catch {
    throw new HttpError(400, "InvalidRequest", "body is not valid JSON");
  }
}

/** The verified client certificate of a TLS request: its PEM, SPIFFE ID and serial number. */
export interface PeerSvid {
  spiffeId: string;
  serialNumber: string;
  pem: string;
}

/**
 * The X.509-SVID the client presented, verified by the TLS stack against the server's client trust
 * bundle, with exactly one URI SAN that is a SPIFFE ID of `trustDomain`; else an HttpError 401.
 */
export function peerSvid(req: IncomingMessage, trustDomain: string): PeerSvid {
  const socket = req.socket as TLSSocket;
  const peer = socket.getPeerCertificate();
  if (!peer?.raw) {
    throw new HttpError(401, "NoClientCertificate", "present your X.509-SVID as the TLS client certificate");
  }
  if (!socket.authorized) {
    throw new HttpError(
      401,
      "ClientCertificateNotTrusted",
      `the client certificate does not chain to the trust domain ${trustDomain}'s bundle (${String(socket.authorizationError)})`,
    );
  }
  const pem = `-----BEGIN CERTIFICATE-----\n${peer.raw.toString("base64")}\n-----END CERTIFICATE-----\n`;
  const { uris } = subjectAltNames(parseCertificate(pem));
  const [uri] = uris;
  if (uris.length !== 1 || !uri) {
    throw new HttpError(
      401,
      "NotAnSvid",
      "the client certificate is not an X.509-SVID: it needs exactly one URI SAN",
    );
  }
  try {
    if (parseSpiffeId(uri).trustDomain !== trustDomain) throw new Error("another trust domain");
  } catch {
    throw new HttpError(
      401,
      "NotAnSvid",
      `the client certificate's URI SAN ${uri} is not a SPIFFE ID of ${trustDomain}`,
    );
  }
  return { spiffeId: uri, serialNumber: peer.serialNumber.toLowerCase(), pem };
}
