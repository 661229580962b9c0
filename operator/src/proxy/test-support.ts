import { once } from "node:events";
import * as tls from "node:tls";

// A caller of signet proxy for tests: its own mutual TLS 1.3 connections (a proof is bound to one)
// and raw HTTP/1.1 on them, so that a test controls every header byte.

export const ADDRESSED = "payments.shop.svc:8443";

export interface Response {
  status: number;
  headers: Record<string, string>;
  body: string;
}

/** A connection with the caller's SVID, checking that the server presents `serverId`. */
export async function connectMtls(
  port: number,
  svid: { chainPem: string; keyPem: string },
  bundle: string,
  serverId: string,
): Promise<tls.TLSSocket> {
  const socket = tls.connect({
    host: "127.0.0.1",
    port,
    cert: svid.chainPem,
    key: svid.keyPem,
    ca: bundle,
    minVersion: "TLSv1.3",
    // SPIFFE authorises the server by its URI SAN, not by host name.
    checkServerIdentity: (_host, cert) =>
      cert.subjectaltname === `URI:${serverId}`
        ? undefined
        : new Error(`unexpected server ${cert.subjectaltname}`),
  });
  await once(socket, "secureConnect");
  return socket;
}

/** Reads one HTTP/1.1 response with a content-length from `socket`. */
export function readResponse(socket: tls.TLSSocket): Promise<Response> {
  return new Promise((resolve, reject) => {
    let buffered = Buffer.alloc(0);
    const onData = (chunk: Buffer) => {
      buffered = Buffer.concat([buffered, chunk]);
      const text = buffered.toString("latin1");
      const end = text.indexOf("\r\n\r\n");
      if (end === -1) return;
      const lines = text.slice(0, end).split("\r\n");
      const headers: Record<string, string> = {};
      for (const line of lines.slice(1)) {
        const colon = line.indexOf(":");
        headers[line.slice(0, colon).toLowerCase()] = line.slice(colon + 1).trim();
      }
      const length = Number(headers["content-length"] ?? 0);
      if (buffered.length < end + 4 + length) return;
      cleanup();
      resolve({
        status: Number(lines[0]?.slice(9, 12)),
        headers,
        body: buffered.subarray(end + 4, end + 4 + length).toString("utf8"),
      });
    };
    const onEnd = () => {
      cleanup();
      reject(new Error(`connection closed after ${JSON.stringify(buffered.toString("latin1"))}`));
    };
    const cleanup = () => {
      socket.off("data", onData);
      socket.off("end", onEnd);
      socket.off("close", onEnd);
    };
    socket.on("data", onData);
    socket.once("end", onEnd);
    socket.once("close", onEnd);
  });
}

export interface Call {
  method?: string;
  path?: string;
  host?: string;
  proof?: string | undefined;
  headers?: string[];
  body?: string;
}

export function send(socket: tls.TLSSocket, call: Call = {}): Promise<Response> {
  const { method = "POST", path = "/v1/charges", host = ADDRESSED, body = "" } = call;
  const lines = [`${method} ${path} HTTP/1.1`, `Host: ${host}`, `Content-Length: ${Buffer.byteLength(body)}`];
  if (call.proof !== undefined) lines.push(`Signet-Proof: ${call.proof}`);
  lines.push(...(call.headers ?? []));
  const response = readResponse(socket);
  socket.write(`${lines.join("\r\n")}\r\n\r\n${body}`);
  return response;
}
