import { PkiError } from "./keys.ts";

export interface SpiffeId {
  trustDomain: string;
  path: string;
}

const TRUST_DOMAIN_CHARS = /^[a-z0-9._-]+$/;
const SEGMENT_CHARS = /^[A-Za-z0-9._-]+$/;

/**
 * Parses a SPIFFE ID by the rules of the SPIFFE ID standard (section 2): scheme "spiffe", a
 * lowercase trust domain without port or userinfo, a path of non-empty segments that are not
 * "." or "..", no trailing slash, query or fragment, at most 2048 bytes.
 */
export function parseSpiffeId(id: string): SpiffeId {
  const fail = (why: string): never => {
    throw new PkiError(`SPIFFE ID "${id}" is invalid: ${why}`);
  };
  if (Buffer.byteLength(id, "utf8") > 2048) fail("it is longer than 2048 bytes");
  if (!id.startsWith("spiffe://")) fail('it must start with "spiffe://"');
  const rest = id.slice("spiffe://".length);
  const slash = rest.indexOf("/");
  const trustDomain = slash === -1 ? rest : rest.slice(0, slash);
  const path = slash === -1 ? "" : rest.slice(slash);
  if (trustDomain === "") fail("the trust domain is empty");
  if (!TRUST_DOMAIN_CHARS.test(trustDomain)) {
    fail('the trust domain may only hold lowercase letters, digits, ".", "-" and "_"');
  }
  if (path !== "") {
    if (path.endsWith("/")) fail("the path must not end with a slash");
    for (const segment of path.slice(1).split("/")) {
      if (segment === "") fail("the path has an empty segment");
      if (segment === "." || segment === "..") fail('the path must not contain "." or ".." segments');
      if (!SEGMENT_CHARS.test(segment)) fail('path segments may only hold letters, digits, ".", "-" and "_"');
    }
  }
  return { trustDomain, path };
}

const DNS_LABEL = /^(?!-)[a-z0-9-]{1,63}(?<!-)$/;

/** A DNS SAN: lowercase LDH labels, optionally a leading "*." wildcard, at most 253 characters. */
export function checkDnsName(name: string): void {
  const labels = name.startsWith("*.") ? name.slice(2).split(".") : name.split(".");
  if (name.length > 253 || !labels.every((label) => DNS_LABEL.test(label))) {
    throw new PkiError(
      `DNS name "${name}" is invalid: use lowercase letters, digits and "-" in dot-separated labels`,
    );
  }
}
