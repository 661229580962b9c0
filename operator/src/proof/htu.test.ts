import { describe, expect, it } from "vitest";
import { normaliseHtu } from "./htu.ts";

describe("normaliseHtu", () => {
  const cases: [string, string, string][] = [
    [
      "should keep a URL already in normal form",
      "https://payments.shop.svc:8443/v1/charges",
      "https://payments.shop.svc:8443/v1/charges",
    ],
    ["should drop the query and the fragment", "https://a.example/p?q=1&r=2#frag", "https://a.example/p"],
    [
      "should lower-case the scheme and the host",
      "HTTPS://Payments.Shop.SVC/Path",
      "https://payments.shop.svc/Path",
    ],
    ["should drop the default port 443", "https://a.example:443/p", "https://a.example/p"],
    [
      "should drop a default port written with a leading zero",
      "https://a.example:0443/p",
      "https://a.example/p",
    ],
    ["should keep any other port", "https://a.example:8443/p", "https://a.example:8443/p"],
    ["should give an empty path as /", "https://a.example", "https://a.example/"],
    ["should remove dot segments", "https://a.example/a/./b/../c", "https://a.example/a/c"],
    ["should remove percent-encoded dot segments", "https://a.example/a/%2e%2E/c", "https://a.example/c"],
    [
      "should decode percent-encoded unreserved characters",
      "https://a.example/%7Euser/%41%2d%5F%2e",
      "https://a.example/~user/A-_.",
    ],
    [
      "should upper-case the hex of other percent-encodings",
      "https://a.example/a%2fb%c3%a9",
      "https://a.example/a%2Fb%C3%A9",
    ],
    [
      "should percent-encode a space and non-ASCII as UTF-8",
      "https://a.example/a b/é",
      "https://a.example/a%20b/%C3%A9",
    ],
    [
      "should encode an international host name as IDNA",
      "https://bücher.example/",
      "https://xn--bcher-kva.example/",
    ],
    ["should write an IPv4 address canonically", "https://0x7f.1:8443/", "https://127.0.0.1:8443/"],
    [
      "should write an IPv6 address compressed in brackets",
      "https://[0:0:0:0:0:0:0:1]:8443/x",
      "https://[::1]:8443/x",
    ],
    ["should keep a trailing slash", "https://a.example/p/", "https://a.example/p/"],
  ];
  for (const [name, input, expected] of cases) {
    it(name, () => {
      expect(normaliseHtu(input)).toEqual({ htu: expected });
      expect(normaliseHtu(new URL(input))).toEqual({ htu: expected });
      // The normal form is a fixed point.
      expect(normaliseHtu(expected)).toEqual({ htu: expected });
    });
  }

  const refused: [string, string, RegExp][] = [
    ["should refuse plain http", "http://a.example/", /scheme is http/],
    ["should refuse a relative URL", "/v1/charges", /not an absolute URL/],
    ["should refuse userinfo", "https://user:pw@a.example/", /userinfo/],
    ["should refuse another scheme", "wss://a.example/", /scheme is wss/],
  ];
  for (const [name, input, why] of refused) {
    it(name, () => {
      const result = normaliseHtu(input);
      expect("error" in result && result.error).toMatch(why);
    });
  }
});
