// The htu claim: the request's URL as the client addressed it, in one normal form that signer and
// verifier compute alike, so that the verifier compares strings and parses no attacker-chosen URL
// beyond the request's own (docs/proofs.md, "htu normalisation").

const UNRESERVED = /[A-Za-z0-9._~-]/;

/**
 * RFC 3986 6.2.2.1 and 6.2.2.2: percent-encoded unreserved characters are decoded, every other
 * percent-encoding gets upper-case hex digits. Dot segments, including %2E ones, are already gone
 * (WHATWG URL removes them), and decoding "%2E" inside a longer segment makes no new one.
 */
function normalisePercentEncoding(path: string): string {
  return path.replace(/%([0-9A-Fa-f]{2})/g, (_match, hex: string) => {
    const char = String.fromCharCode(Number.parseInt(hex, 16));
    return UNRESERVED.test(char) ? char : `%${hex.toUpperCase()}`;
  });
}

/**
 * The normal form of an https URL for htu, or a sentence saying why there is none:
 * `https://` + host (lower case, IDNA, canonical IP literal) + `:port` unless 443 + the path
 * (at least "/", no dot segments, normalised percent-encoding); no userinfo, query or fragment.
 */
export function normaliseHtu(url: string | URL): { htu: string } | { error: string } {
  let parsed: URL;
  try {
    parsed = typeof url === "string" ? new URL(url) : new URL(url.href);
  } catch {
    return { error: "it is not an absolute URL" };
  }
  if (parsed.protocol !== "https:") {
    return {
      error: `its scheme is ${parsed.protocol.slice(0, -1)}; proofs travel over TLS, so it must be https`,
    };
  }
  if (parsed.username !== "" || parsed.password !== "") return { error: "it carries userinfo" };
  return { htu: `https://${parsed.host}${normalisePercentEncoding(parsed.pathname)}` };
}
