// A deliberately small DER writer: only the handful of ASN.1 types an X.509 certificate needs.
// The minting hot path assembles certificates from precomputed byte strings, so every helper
// here returns a Buffer ready to concatenate.

const TAG_BOOLEAN = 0x01;
const TAG_INTEGER = 0x02;
const TAG_BIT_STRING = 0x03;
const TAG_OCTET_STRING = 0x04;
const TAG_NULL = 0x05;
const TAG_OID = 0x06;
const TAG_UTF8_STRING = 0x0c;
const TAG_UTC_TIME = 0x17;
const TAG_GENERALIZED_TIME = 0x18;
const TAG_SEQUENCE = 0x30;

export function lengthBytes(length: number): Buffer {
  if (length < 0x80) return Buffer.of(length);
  if (length < 0x100) return Buffer.of(0x81, length);
  if (length < 0x10000) return Buffer.of(0x82, length >> 8, length & 0xff);
  if (length < 0x1000000) return Buffer.of(0x83, length >> 16, (length >> 8) & 0xff, length & 0xff);
  throw new RangeError(`DER length ${length} is too large for a certificate`);
}

export function tlv(tag: number, ...content: Uint8Array[]): Buffer {
  const body = content.length === 1 ? (content[0] as Uint8Array) : Buffer.concat(content);
  return Buffer.concat([Buffer.of(tag), lengthBytes(body.length), body]);
}

export function sequence(...items: Uint8Array[]): Buffer {
  return tlv(TAG_SEQUENCE, ...items);
}

export function set(...items: Uint8Array[]): Buffer {
  return tlv(0x31, ...items);
}

/** Context-specific constructed tag [n], as used for EXPLICIT tagging. */
export function explicit(n: number, ...content: Uint8Array[]): Buffer {
  return tlv(0xa0 | n, ...content);
}

/** Context-specific primitive tag [n], as used for IMPLICIT tagging of primitive types. */
export function implicit(n: number, content: Uint8Array): Buffer {
  return tlv(0x80 | n, content);
}

export function boolean(value: boolean): Buffer {
  return tlv(TAG_BOOLEAN, Buffer.of(value ? 0xff : 0x00));
}

export function nullValue(): Buffer {
  return Buffer.of(TAG_NULL, 0x00);
}

/** A non-negative INTEGER from its big-endian magnitude, minimally encoded. */
export function unsignedInteger(magnitude: Uint8Array): Buffer {
  let start = 0;
  while (start < magnitude.length - 1 && magnitude[start] === 0) start++;
  const trimmed = magnitude.subarray(start);
  const needsPad = trimmed.length === 0 || ((trimmed[0] as number) & 0x80) !== 0;
  return tlv(TAG_INTEGER, needsPad ? Buffer.concat([Buffer.of(0), trimmed]) : trimmed);
}

export function smallInteger(value: number): Buffer {
  if (!Number.isInteger(value) || value < 0 || value > 0x7fffffff) {
    throw new RangeError(`smallInteger expects 0..2^31-1, got ${value}`);
  }
  const bytes: number[] = [];
  let rest = value;
  do {
    bytes.unshift(rest & 0xff);
    rest = Math.floor(rest / 256);
  } while (rest > 0);
  return unsignedInteger(Uint8Array.from(bytes));
}

export function octetString(content: Uint8Array): Buffer {
  return tlv(TAG_OCTET_STRING, content);
}

/** A BIT STRING whose content is a whole number of bytes (keys, signatures). */
export function bitString(content: Uint8Array): Buffer {
  return tlv(TAG_BIT_STRING, Buffer.of(0), content);
}

/**
 * A named-bit BIT STRING (KeyUsage): bit 0 is the most significant bit of the first byte, and DER
 * requires trailing zero bits to be dropped.
 */
export function namedBits(bits: readonly number[]): Buffer {
  if (bits.length === 0) return tlv(TAG_BIT_STRING, Buffer.of(0));
  const highest = Math.max(...bits);
  const bytes = Buffer.alloc((highest >> 3) + 1);
  for (const bit of bits) bytes[bit >> 3] = (bytes[bit >> 3] as number) | (0x80 >> (bit & 7));
  const unused = 7 - (highest & 7);
  return tlv(TAG_BIT_STRING, Buffer.of(unused), bytes);
}

export function oid(dotted: string): Buffer {
  const arcs = dotted.split(".").map((arc) => {
    if (!/^\d+$/.test(arc)) throw new Error(`invalid OID ${dotted}`);
    return Number(arc);
  });
  const [first, second, ...rest] = arcs;
  if (first === undefined || second === undefined) throw new Error(`invalid OID ${dotted}`);
  const out: number[] = [];
  for (const arc of [first * 40 + second, ...rest]) {
    const chunk: number[] = [arc & 0x7f];
    let value = Math.floor(arc / 128);
    while (value > 0) {
      chunk.unshift((value & 0x7f) | 0x80);
      value = Math.floor(value / 128);
    }
    out.push(...chunk);
  }
  return tlv(TAG_OID, Uint8Array.from(out));
}

export function utf8String(value: string): Buffer {
  return tlv(TAG_UTF8_STRING, Buffer.from(value, "utf8"));
}

function pad(value: number, width: number): string {
  return String(value).padStart(width, "0");
}

/**
 * RFC 5280 4.1.2.5: UTCTime through 2049, GeneralizedTime from 2050, both in whole seconds with
 * "Z". Milliseconds are dropped (callers floor first so the encoded time is the one they report).
 */
export function time(date: Date): Buffer {
  const year = date.getUTCFullYear();
  const rest =
    pad(date.getUTCMonth() + 1, 2) +
    pad(date.getUTCDate(), 2) +
    pad(date.getUTCHours(), 2) +
    pad(date.getUTCMinutes(), 2) +
    pad(date.getUTCSeconds(), 2) +
    "Z";
  if (year >= 1950 && year < 2050) return tlv(TAG_UTC_TIME, Buffer.from(pad(year % 100, 2) + rest, "ascii"));
  if (year < 0 || year > 9999) throw new RangeError(`year ${year} cannot be encoded in a certificate`);
  return tlv(TAG_GENERALIZED_TIME, Buffer.from(pad(year, 4) + rest, "ascii"));
}

/** The offset of the content and the total length of the TLV that starts at `offset`. */
export function readHeader(
  der: Uint8Array,
  offset: number,
): { tag: number; start: number; contentStart: number; end: number } {
  const tag = der[offset];
  const first = der[offset + 1];
  if (tag === undefined || first === undefined) throw new Error("truncated DER");
  let length = first;
  let contentStart = offset + 2;
  if (first & 0x80) {
    const count = first & 0x7f;
    if (count === 0 || count > 3) throw new Error("unsupported DER length");
    length = 0;
    for (let i = 0; i < count; i++) {
      const byte = der[contentStart + i];
      if (byte === undefined) throw new Error("truncated DER");
      length = length * 256 + byte;
    }
    contentStart += count;
  }
  const end = contentStart + length;
  if (end > der.length) throw new Error("truncated DER");
  return { tag, start: offset, contentStart, end };
}

/** The bytes of subjectPublicKey (without the unused-bits octet) inside a SubjectPublicKeyInfo. */
export function subjectPublicKeyBits(spki: Uint8Array): Uint8Array {
  const outer = readHeader(spki, 0);
  const algorithm = readHeader(spki, outer.contentStart);
  const key = readHeader(spki, algorithm.end);
  if (outer.tag !== TAG_SEQUENCE || algorithm.tag !== TAG_SEQUENCE || key.tag !== TAG_BIT_STRING) {
    throw new Error("not a SubjectPublicKeyInfo");
  }
  return spki.subarray(key.contentStart + 1, key.end);
}

export function toPem(label: string, der: Uint8Array): string {
  const base64 = Buffer.from(der.buffer, der.byteOffset, der.byteLength).toString("base64");
  let body = "";
  for (let i = 0; i < base64.length; i += 64) body += `${base64.slice(i, i + 64)}\n`;
  return `-----BEGIN ${label}-----\n${body}-----END ${label}-----\n`;
}
