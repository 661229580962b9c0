import type { TLSSocket } from "node:tls";
import { CHANNEL_BINDING_BYTES, EXPORTER_LABEL } from "./format.ts";

/**
 * The channel binding of a TLS connection: 32 bytes of keying material exported from it
 * (RFC 5705, label EXPORTER-signet-proof, empty context; RFC 9266's tls-exporter construction).
 * Both ends of one connection get the same bytes; any other connection gets different ones.
 *
 * TLS 1.3 only: RFC 9266 allows the exporter on TLS 1.2 only with the extended master secret
 * (RFC 7627), without which two connections can be made to share keys (the triple handshake
 * attack), and Node cannot tell whether a TLS 1.2 session negotiated it.
 */
export function channelBindingOf(socket: TLSSocket): Buffer {
  const protocol = socket.getProtocol();
  if (protocol !== "TLSv1.3") {
    throw new Error(
      `channel binding needs a TLS 1.3 connection, this one is ${protocol ?? "not established"}; set minVersion: "TLSv1.3" on both ends`,
    );
  }
  return socket.exportKeyingMaterial(CHANNEL_BINDING_BYTES, EXPORTER_LABEL, Buffer.alloc(0));
}
