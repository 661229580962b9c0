import { describe, expect, it } from "vitest";
import { identityOfSpiffeId, trustDomainOf } from "./caller.ts";
import { endToEndHeaders, parseUpstream } from "./forward.ts";

describe("identityOfSpiffeId", () => {
  it.each([
    ["spiffe://cluster.local/ns/shop/id/checkout", { namespace: "shop", identity: "checkout" }],
    ["spiffe://cluster.local/ns/a/id/b-1", { namespace: "a", identity: "b-1" }],
    ["spiffe://other.domain/ns/shop/id/checkout", undefined],
    ["spiffe://cluster.local.evil/ns/shop/id/checkout", undefined],
    ["spiffe://cluster.local/ns/shop/id/checkout/extra", undefined],
    ["spiffe://cluster.local/ns/shop/sa/checkout", undefined],
    ["spiffe://cluster.local/team/checkout", undefined],
    ["spiffe://cluster.local/ns/Shop/id/checkout", undefined],
    ["spiffe://cluster.local/ns/shop/id/Checkout", undefined],
    ["spiffe://cluster.local/ns/shop/id/check.out", undefined],
    ["spiffe://cluster.local/ns//id/checkout", undefined],
    [`spiffe://cluster.local/ns/shop/id/${"a".repeat(64)}`, undefined],
  ])("should map %s to %j", (id, expected) => {
    expect(identityOfSpiffeId(id, "cluster.local")).toEqual(expected);
  });

  it("should read the trust domain of a SPIFFE ID", () => {
    expect(trustDomainOf("spiffe://cluster.local/ns/shop/id/x")).toBe("cluster.local");
    expect(trustDomainOf("https://cluster.local/ns/shop/id/x")).toBeUndefined();
  });
});

describe("parseUpstream", () => {
  it.each([
    ["http://127.0.0.1:8080", { host: "127.0.0.1", port: 8080 }],
    ["http://localhost:3000/", { host: "localhost", port: 3000 }],
    ["http://[::1]:8080", { host: "::1", port: 8080 }],
  ])("should accept %s", (upstream, expected) => {
    expect(parseUpstream(upstream)).toEqual(expected);
  });

  it.each([
    "https://127.0.0.1:8080",
    "http://10.0.0.1:8080",
    "http://payments.shop.svc:8080",
    "http://127.0.0.1",
    "http://127.0.0.1:8080/api",
    "127.0.0.1:8080",
  ])("should refuse %s, saying what to give", (upstream) => {
    expect(() => parseUpstream(upstream)).toThrow(/http:\/\/127\.0\.0\.1:<port>/);
  });
});

describe("endToEndHeaders", () => {
  it("should drop hop-by-hop fields, those Connection names, and the ones asked", () => {
    expect(
      endToEndHeaders(
        {
          connection: "keep-alive, X-Trace-Hop",
          "keep-alive": "timeout=5",
          "transfer-encoding": "chunked",
          te: "trailers",
          upgrade: "websocket",
          "proxy-authorization": "Basic x",
          "x-trace-hop": "1",
          "signet-proof": "a.b.c",
          authorization: "Bearer t",
          host: "payments.shop.svc:8443",
          "set-cookie": ["a=1", "b=2"],
        },
        ["signet-proof"],
      ),
    ).toEqual({ authorization: "Bearer t", host: "payments.shop.svc:8443", "set-cookie": ["a=1", "b=2"] });
  });
});
