import { randomFillSync, sign } from "node:crypto";
import type { CertificateAuthority } from "./ca.ts";
import { keyIdentifierOf } from "./certificate.ts";
import {
  bitString,
  boolean,
  explicit,
  implicit,
  lengthBytes,
  namedBits,
  octetString,
  oid,
  sequence,
  smallInteger,
  time,
  toPem,
} from "./der.ts";
import {
  type GeneratedKey,
  generateKey,
  type KeyAlgorithm,
  PkiError,
  type PrivateKeySpec,
  resolveKeyAlgorithm,
} from "./keys.ts";
import { checkDnsName, parseSpiffeId } from "./spiffe-id.ts";

export type Usage = "client" | "server";

export const DEFAULT_BACKDATE_MS = 60_000;

export interface MintSvidInput {
  ca: CertificateAuthority;
  spiffeId: string;
  dnsNames?: readonly string[] | undefined;
  ttlMs: number;
  /** Default: ECDSA 256. */
  keyAlgorithm?: PrivateKeySpec | undefined;
  now: Date;
  /** How far notBefore reaches back for clock skew; default 60 s, never before the CA's notBefore. */
  backdateMs?: number | undefined;
  /** The end of the current access window: the SVID never outlives it. */
  notAfterLimit?: Date | undefined;
}

export interface MintedSvid {
  /** The leaf alone. */
  certPem: string;
  /** tls.crt: the leaf then the intermediates, without the root (roots travel in ca.crt). */
  chainPem: string;
  /** tls.key: the fresh private key, PKCS#8. */
  keyPem: string;
  /** Lowercase hex of the positive serial, without a sign-padding byte. */
  serialNumber: string;
  notBefore: Date;
  notAfter: Date;
  spiffeId: string;
}

const OID = {
  basicConstraints: "2.5.29.19",
  keyUsage: "2.5.29.15",
  extKeyUsage: "2.5.29.37",
  subjectAltName: "2.5.29.17",
  authorityKeyIdentifier: "2.5.29.35",
  subjectKeyIdentifier: "2.5.29.14",
  serverAuth: "1.3.6.1.5.5.7.3.1",
  clientAuth: "1.3.6.1.5.5.7.3.2",
} as const;

const KEY_USAGE_DIGITAL_SIGNATURE = 0;
const KEY_USAGE_KEY_ENCIPHERMENT = 2;

function extension(id: string, critical: boolean, value: Uint8Array): Buffer {
  return critical
    ? sequence(oid(id), boolean(true), octetString(value))
    : sequence(oid(id), octetString(value));
}

/**
 * Every SVID serves both ends of mTLS: the X.509-SVID standard (section 4.4) requires serverAuth
 * and clientAuth together whenever extKeyUsage is present.
 */
export const SVID_USAGES: readonly Usage[] = ["server", "client"];

/** The identity-dependent parts of an SVID's extensions, in the order they appear in the certificate. */
export function svidExtensions(params: {
  spiffeId: string;
  dnsNames: readonly string[];
  keyAlgorithm: KeyAlgorithm;
  authorityKeyIdentifier: Uint8Array;
}): Buffer[] {
  // keyEncipherment only matters for RSA key transport in TLS 1.2 servers, and every SVID may
  // serve; ECDSA and Ed25519 keys cannot encipher, so SPIFFE's "digitalSignature, optionally
  // keyEncipherment" narrows to digitalSignature for them.
  const keyBits = [KEY_USAGE_DIGITAL_SIGNATURE];
  if (params.keyAlgorithm.algorithm === "RSA") keyBits.push(KEY_USAGE_KEY_ENCIPHERMENT);
  const ekus = [oid(OID.serverAuth), oid(OID.clientAuth)];
  const names = [
    implicit(6, Buffer.from(params.spiffeId, "ascii")),
    ...params.dnsNames.map((name) => implicit(2, Buffer.from(name, "ascii"))),
  ];
  return [
    extension(OID.keyUsage, true, namedBits(keyBits)),
    extension(OID.extKeyUsage, false, sequence(...ekus)),
    extension(OID.basicConstraints, true, sequence()),
    extension(OID.authorityKeyIdentifier, false, sequence(implicit(0, params.authorityKeyIdentifier))),
    // The subject is empty, so RFC 5280 4.2.1.6 requires the SAN extension to be critical.
    extension(OID.subjectAltName, true, sequence(...names)),
  ];
}

/**
 * Everything about a certificate that is fixed for one (CA, identity, key algorithm): the bytes
 * before the serial, between serial and validity, between validity and the public key, and the
 * extensions up to the Subject Key Identifier value, which is the only per-key extension.
 */
export interface SvidTemplate {
  beforeSerial: Buffer;
  afterSerial: Buffer;
  afterValidity: Buffer;
  extensionsUpToSki: Buffer;
  signatureAlgorithm: Buffer;
  chainTail: string;
}

const SERIAL_BYTES = 16;
const SKI_BYTES = 20;

// The subject is an empty Name, as cert-manager's csi-driver-spiffe and Consul Connect issue
// their SVIDs: the SPIFFE X.509-SVID standard says relying parties must identify by the URI SAN
// and ignore the subject, so an empty subject leaves nothing to misuse. (SPIRE puts a fixed
// "C=US, O=SPIRE" there, which carries no identity either.)
const EMPTY_NAME = sequence();

function buildTemplate(ca: CertificateAuthority, identity: NormalisedIdentity): SvidTemplate {
  const staticExtensions = svidExtensions({ ...identity, authorityKeyIdentifier: ca.subjectKeyIdentifier });
  const skiPrefix = Buffer.concat([
    Buffer.of(0x30),
    lengthBytes(2 + 3 + 2 + 2 + SKI_BYTES),
    oid(OID.subjectKeyIdentifier),
    Buffer.of(0x04, 2 + SKI_BYTES, 0x04, SKI_BYTES),
  ]);
  const extensionsBody = Buffer.concat([...staticExtensions, skiPrefix]);
  const extensionsLength = extensionsBody.length + SKI_BYTES;
  const innerHeader = Buffer.concat([Buffer.of(0x30), lengthBytes(extensionsLength)]);
  const outerHeader = Buffer.concat([Buffer.of(0xa3), lengthBytes(innerHeader.length + extensionsLength)]);
  return {
    // [0] EXPLICIT version v3, then the INTEGER header of a 17-byte serial with its 0x00 sign byte.
    beforeSerial: Buffer.concat([explicit(0, smallInteger(2)), Buffer.of(0x02, SERIAL_BYTES + 1, 0x00)]),
    afterSerial: Buffer.concat([ca.signature.algorithmIdentifier, ca.subjectDer]),
    afterValidity: EMPTY_NAME,
    extensionsUpToSki: Buffer.concat([outerHeader, innerHeader, extensionsBody]),
    signatureAlgorithm: ca.signature.algorithmIdentifier,
    chainTail: ca.intermediatesPem,
  };
}

interface NormalisedIdentity {
  spiffeId: string;
  dnsNames: string[];
  keyAlgorithm: KeyAlgorithm;
}

const TEMPLATES_PER_CA = 4096;
const templateCache = new WeakMap<CertificateAuthority, Map<string, SvidTemplate>>();

/**
 * A copy of a template in one allocation of its own, for the cache. The small Buffers a template is
 * built from are slices of Node's shared 64 KiB Buffer pool slab, and a cached slice keeps its whole
 * slab alive: 1,000 cached templates pinned about 270 slabs (17 MB) for some 400 KB of template
 * bytes, and a full cache could pin 256 MB. Detached, a full cache holds about 3 MB.
 */
export function detachedTemplate(template: SvidTemplate): SvidTemplate {
  const { beforeSerial, afterSerial, afterValidity, extensionsUpToSki, signatureAlgorithm } = template;
  const own = Buffer.allocUnsafeSlow(
    beforeSerial.length +
      afterSerial.length +
      afterValidity.length +
      extensionsUpToSki.length +
      signatureAlgorithm.length,
  );
  let offset = 0;
  const take = (part: Buffer): Buffer => {
    part.copy(own, offset);
    offset += part.length;
    return own.subarray(offset - part.length, offset);
  };
  return {
    beforeSerial: take(beforeSerial),
    afterSerial: take(afterSerial),
    afterValidity: take(afterValidity),
    extensionsUpToSki: take(extensionsUpToSki),
    signatureAlgorithm: take(signatureAlgorithm),
    chainTail: template.chainTail,
  };
}

function templateFor(ca: CertificateAuthority, identity: NormalisedIdentity): SvidTemplate {
  let byIdentity = templateCache.get(ca);
  if (!byIdentity) {
    byIdentity = new Map();
    templateCache.set(ca, byIdentity);
  }
  const key = JSON.stringify(identity);
  let template = byIdentity.get(key);
  if (!template) {
    template = detachedTemplate(buildTemplate(ca, identity));
    // Map keeps insertion order, so the first key is the oldest template.
    if (byIdentity.size >= TEMPLATES_PER_CA) byIdentity.delete(byIdentity.keys().next().value as string);
    byIdentity.set(key, template);
  }
  return template;
}

// One syscall's worth of randomness serves 256 serials.
const serialPool = Buffer.alloc(SERIAL_BYTES * 256);
let serialOffset = serialPool.length;

function nextSerial(): Buffer {
  if (serialOffset === serialPool.length) {
    randomFillSync(serialPool);
    serialOffset = 0;
  }
  const serial = Buffer.from(serialPool.subarray(serialOffset, serialOffset + SERIAL_BYTES));
  serialOffset += SERIAL_BYTES;
  // The top bit set plus a 0x00 sign byte gives a positive integer of exactly 128 bits (127 random).
  serial[0] = (serial[0] as number) | 0x80;
  return serial;
}

function floorToSecond(ms: number): Date {
  return new Date(Math.floor(ms / 1000) * 1000);
}

export function normaliseIdentity(input: {
  ca: CertificateAuthority;
  spiffeId: string;
  dnsNames?: readonly string[] | undefined;
  keyAlgorithm?: PrivateKeySpec | undefined;
}): NormalisedIdentity {
  const { trustDomain } = parseSpiffeId(input.spiffeId);
  if (input.ca.trustDomain !== undefined && trustDomain !== input.ca.trustDomain) {
    throw new PkiError(
      `SPIFFE ID "${input.spiffeId}" is outside the CA's trust domain "${input.ca.trustDomain}"`,
    );
  }
  const dnsNames = [...new Set(input.dnsNames ?? [])].sort();
  for (const name of dnsNames) checkDnsName(name);
  return {
    spiffeId: input.spiffeId,
    dnsNames,
    keyAlgorithm: resolveKeyAlgorithm(input.keyAlgorithm ?? { algorithm: "ECDSA", size: 256 }),
  };
}

/** The validity an SVID minted now gets: backdated notBefore, notAfter clamped by CA and window. */
export function svidValidity(input: {
  ca: CertificateAuthority;
  ttlMs: number;
  now: Date;
  backdateMs?: number | undefined;
  notAfterLimit?: Date | undefined;
}): { notBefore: Date; notAfter: Date } {
  const now = input.now.getTime();
  const backdate = input.backdateMs ?? DEFAULT_BACKDATE_MS;
  if (!(input.ttlMs > 0)) throw new PkiError(`ttl must be positive, got ${input.ttlMs} ms`);
  if (!(backdate >= 0)) throw new PkiError(`backdate must not be negative, got ${backdate} ms`);
  if (now < input.ca.notBefore.getTime()) {
    throw new PkiError(`the issuing CA is not valid before ${input.ca.notBefore.toISOString()}`);
  }
  if (now >= input.ca.notAfter.getTime()) {
    throw new PkiError(`the issuing CA expired at ${input.ca.notAfter.toISOString()}`);
  }
  if (input.notAfterLimit && input.notAfterLimit.getTime() <= now) {
    throw new PkiError(
      `the access window ended at ${input.notAfterLimit.toISOString()}; no SVID can be issued`,
    );
  }
  const notBefore = floorToSecond(Math.max(now - backdate, input.ca.notBefore.getTime()));
  const notAfter = floorToSecond(
    Math.min(
      now + input.ttlMs,
      input.ca.notAfter.getTime(),
      input.notAfterLimit?.getTime() ?? Number.POSITIVE_INFINITY,
    ),
  );
  if (notAfter.getTime() <= now) {
    throw new PkiError(
      "the SVID would expire within the second it is issued; the CA or access window ends too soon",
    );
  }
  return { notBefore, notAfter };
}

function assemble(
  template: SvidTemplate,
  ca: CertificateAuthority,
  key: GeneratedKey,
  validity: { notBefore: Date; notAfter: Date },
  spiffeId: string,
): MintedSvid {
  const serial = nextSerial();
  const validityDer = sequence(time(validity.notBefore), time(validity.notAfter));
  const ski = keyIdentifierOf(key.publicKeySpki);
  const body = [
    template.beforeSerial,
    serial,
    template.afterSerial,
    validityDer,
    template.afterValidity,
    key.publicKeySpki,
    template.extensionsUpToSki,
    ski,
  ];
  let bodyLength = 0;
  for (const part of body) bodyLength += part.length;
  const tbs = Buffer.concat([Buffer.of(0x30), lengthBytes(bodyLength), ...body]);
  const signature = bitString(sign(ca.signature.digest, tbs, ca.privateKey));
  const certLength = tbs.length + template.signatureAlgorithm.length + signature.length;
  const der = Buffer.concat([
    Buffer.of(0x30),
    lengthBytes(certLength),
    tbs,
    template.signatureAlgorithm,
    signature,
  ]);
  const certPem = toPem("CERTIFICATE", der);
  return {
    certPem,
    chainPem: certPem + template.chainTail,
    keyPem: key.privateKeyPem,
    serialNumber: serial.toString("hex"),
    notBefore: validity.notBefore,
    notAfter: validity.notAfter,
    spiffeId,
  };
}

/**
 * Mints an X.509-SVID with a fresh key. The certificate is assembled from a per-(CA, identity)
 * DER template with only the serial, validity, public key and its identifier filled in, then
 * signed with node:crypto; building it through a general ASN.1 object model costs about forty
 * times more per certificate (see bench/README.md). Everything is validated before the key is
 * generated, so a bad request costs no key.
 */
export async function mintSvid(input: MintSvidInput): Promise<MintedSvid> {
  const identity = normaliseIdentity(input);
  const validity = svidValidity(input);
  const template = templateFor(input.ca, identity);
  const generated = generateKey(identity.keyAlgorithm);
  const key = generated instanceof Promise ? await generated : generated;
  return assemble(template, input.ca, key, validity, identity.spiffeId);
}

/** An SVID for a key that Signet never holds (a kubelet's PodCertificateRequest): chain, no key. */
export type MintedForKey = Omit<MintedSvid, "keyPem">;

/**
 * Mints an X.509-SVID for a public key generated elsewhere, e.g. by the kubelet on the node, with
 * exactly the validity given (whole seconds, inside the CA's): the same template as mintSvid, but
 * no private key exists here, so none is returned. `keyAlgorithm` must describe `publicKeySpki`.
 */
export function mintSvidForKey(input: {
  ca: CertificateAuthority;
  spiffeId: string;
  dnsNames?: readonly string[] | undefined;
  keyAlgorithm: KeyAlgorithm;
  publicKeySpki: Buffer;
  notBefore: Date;
  notAfter: Date;
}): MintedForKey {
  const identity = normaliseIdentity(input);
  const { notBefore, notAfter, ca } = input;
  if (notBefore.getTime() % 1000 !== 0 || notAfter.getTime() % 1000 !== 0) {
    throw new PkiError("notBefore and notAfter must be whole seconds");
  }
  if (notBefore < ca.notBefore || notAfter > ca.notAfter) {
    throw new PkiError(
      `the validity ${notBefore.toISOString()}..${notAfter.toISOString()} is not inside the issuing CA's ${ca.notBefore.toISOString()}..${ca.notAfter.toISOString()}`,
    );
  }
  if (!(notAfter > notBefore)) throw new PkiError("notAfter must be after notBefore");
  const template = templateFor(ca, identity);
  const { keyPem: _none, ...minted } = assemble(
    template,
    ca,
    { privateKeyPem: "", publicKeySpki: input.publicKeySpki },
    { notBefore, notAfter },
    identity.spiffeId,
  );
  return minted;
}
