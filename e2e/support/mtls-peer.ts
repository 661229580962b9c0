// A workload that proves who it is with an SVID: `server <dir> <expected peer SPIFFE ID>` or
// `client <dir> <expected peer SPIFFE ID> <port>`, where <dir> holds tls.crt, tls.key and ca.crt
// exactly as the identity Secret is mounted into a pod.
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { connect, createServer, type PeerCertificate, type TLSSocket } from "node:tls";

const [role, dir = "", expectedPeer = "", port] = process.argv.slice(2);
const files = {
  cert: readFileSync(join(dir, "tls.crt")),
  key: readFileSync(join(dir, "tls.key")),
  ca: readFileSync(join(dir, "ca.crt")),
};

/** SPIFFE authentication: the peer's single URI SAN must be the expected SPIFFE ID. */
function spiffeIdOf(cert: PeerCertificate): string | undefined {
  const uris = (cert.subjectaltname ?? "")
    .split(", ")
    .filter((s) => s.startsWith("URI:"))
    .map((s) => s.slice(4));
  return uris.length === 1 ? uris[0] : undefined;
}

if (role === "server") {
  const server = createServer(
    { ...files, requestCert: true, rejectUnauthorized: true, minVersion: "TLSv1.2" },
    (socket: TLSSocket) => {
      const peer = spiffeIdOf(socket.getPeerCertificate());
      if (peer !== expectedPeer) {
        socket.end(`refused: peer is ${peer}\n`);
        return;
      }
      socket.end(`hello ${peer}\n`);
    },
  );
  server.on("tlsClientError", (err) => process.stderr.write(`tls client error: ${err.message}\n`));
  server.listen(0, "127.0.0.1", () => {
    const address = server.address();
    process.stdout.write(`listening ${typeof address === "object" && address ? address.port : 0}\n`);
  });
} else {
  const socket = connect({
    host: "127.0.0.1",
    port: Number(port),
    ...files,
    minVersion: "TLSv1.2",
    servername: "",
    checkServerIdentity: (_host, cert) => {
      const peer = spiffeIdOf(cert);
      return peer === expectedPeer ? undefined : new Error(`server is ${peer}, expected ${expectedPeer}`);
    },
  });
  let data = "";
  socket.setEncoding("utf8");
  socket.on("data", (chunk: string) => {
    data += chunk;
  });
  socket.on("end", () => {
    process.stdout.write(data || "error: the server closed the connection without a word\n");
    process.exit(data.startsWith("hello") ? 0 : 1);
  });
  socket.on("error", (err) => {
    process.stdout.write(`error: ${err.message}\n`);
    process.exit(1);
  });
}
