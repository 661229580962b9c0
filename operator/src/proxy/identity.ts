import { createHash, X509Certificate } from "node:crypto";
import { readFileSync, statSync } from "node:fs";
import { createSecureContext, type SecureContextOptions } from "node:tls";
import { spiffeIdOf } from "../proof/format.ts";

export interface IdentityFiles {
  certFile: string;
  keyFile: string;
  caFile: string;
}

/** The proxy's serving identity: its TLS options and the SPIFFE ID that proofs must name as aud. */
export interface ServingIdentity {
  tls: SecureContextOptions;
  spiffeId: string;
  /** Lowercase hex, as Signet reports serials. */
  serial: string;
  notAfter: string;
}

export class IdentityError extends Error {
  override name = "IdentityError";
}

/** TLS 1.3 only: channelBindingOf needs it, and proofs are bound to the channel. */
const TLS = { minVersion: "TLSv1.3", maxVersion: "TLSv1.3" } as const;

function codeOf(err: unknown): string {
  return (err as NodeJS.ErrnoException).code ?? (err as Error).message;
}

function readAll(files: IdentityFiles): { cert: Buffer; key: Buffer; ca: Buffer } {
  try {
    return {
      cert: readFileSync(files.certFile),
      key: readFileSync(files.keyFile),
      ca: readFileSync(files.caFile),
    };
  } catch (err) {
    const path = (err as NodeJS.ErrnoException).path;
    throw new IdentityError(`cannot read the identity files: ${codeOf(err)}${path ? ` ${path}` : ""}`);
  }
}

/** Parses and checks the identity files; an error says what is wrong, never what the key is. */
export function loadIdentity(files: IdentityFiles, read = readAll(files)): ServingIdentity {
  let leaf: X509Certificate;
  try {
    leaf = new X509Certificate(read.cert);
  } catch {
    throw new IdentityError(`${files.certFile} holds no X.509 certificate`);
  }
  const spiffeId = spiffeIdOf(leaf);
  if (spiffeId === undefined) {
    throw new IdentityError(`${files.certFile}: the certificate carries no single SPIFFE ID URI SAN`);
  }
  const tls: SecureContextOptions = { cert: read.cert, key: read.key, ca: read.ca, ...TLS };
  try {
    createSecureContext(tls);
  } catch (err) {
    // OpenSSL's reason ("key values mismatch", "no start line"): safe to print, it quotes no key.
    throw new IdentityError(`the identity files do not make a TLS context: ${(err as Error).message}`);
  }
  return {
    tls,
    spiffeId,
    serial: leaf.serialNumber.toLowerCase(),
    notAfter: new Date(leaf.validTo).toISOString(),
  };
}

export interface IdentityWatch {
  current(): ServingIdentity;
  stop(): void;
}

/**
 * Follows the identity files. Secret volumes update by swapping a `..data` symlink, which fs.watch
 * does not reliably see: the stat of each file (following links) is polled, and the contents are
 * read when it changes. A reload that fails, or that would change the SPIFFE ID (and with it the
 * audience of every proof), keeps the identity in use.
 */
export function watchIdentity(
  files: IdentityFiles,
  onChange: (next: ServingIdentity) => void,
  onError: (message: string) => void,
  intervalMs = 1_000,
): IdentityWatch {
  let identity = loadIdentity(files);
  const paths = [files.certFile, files.keyFile, files.caFile];
  const statKey = () =>
    paths
      .map((path) => {
        try {
          const s = statSync(path, { bigint: true });
          return `${s.ino}:${s.size}:${s.mtimeNs}`;
        } catch (err) {
          return codeOf(err);
        }
      })
      .join("|");
  const hash = (read: ReturnType<typeof readAll>) =>
    createHash("sha256")
      .update(read.cert)
      .update("\0")
      .update(read.key)
      .update("\0")
      .update(read.ca)
      .digest("hex");
  let lastStat = statKey();
  let lastContent = hash(readAll(files));
  const timer = setInterval(() => {
    const stat = statKey();
    if (stat === lastStat) return;
    lastStat = stat;
    try {
      const read = readAll(files);
      const content = hash(read);
      if (content === lastContent) return;
      lastContent = content;
      const next = loadIdentity(files, read);
      if (next.spiffeId !== identity.spiffeId) {
        throw new IdentityError(
          `the new certificate names ${next.spiffeId}, not ${identity.spiffeId}; restart the proxy to change its identity`,
        );
      }
      identity = next;
      onChange(next);
    } catch (err) {
      // A half-written volume is read again at the next change.
      lastContent = "";
      onError(`reload failed, still serving serial ${identity.serial}: ${(err as Error).message}`);
    }
  }, intervalMs);
  timer.unref();
  return { current: () => identity, stop: () => clearInterval(timer) };
}
