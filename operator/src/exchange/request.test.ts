import { describe, expect, it } from "vitest";
import {
  exchangeError,
  GRANT_TYPE_TOKEN_EXCHANGE,
  MAX_CSR_CHARS,
  MAX_SUBJECT_TOKEN_CHARS,
  parseExchangeRequest,
  TOKEN_TYPE_ID_TOKEN,
  TOKEN_TYPE_JWT,
  TOKEN_TYPE_X509_SVID,
} from "./request.ts";

const FORM = "application/x-www-form-urlencoded";
const CSR = "-----BEGIN CERTIFICATE REQUEST-----\nMIIB\n-----END CERTIFICATE REQUEST-----\n";
const TOKEN = "eyJhbGciOiJFUzI1NiJ9.eyJpc3MiOiJ4In0.c2ln";

/** A form body: the given parameters, each as many times as listed. */
const form = (params: [string, string][]) => new URLSearchParams(params).toString();

const x509Params = (): [string, string][] => [
  ["grant_type", GRANT_TYPE_TOKEN_EXCHANGE],
  ["subject_token", TOKEN],
  ["subject_token_type", TOKEN_TYPE_ID_TOKEN],
  ["requested_token_type", TOKEN_TYPE_X509_SVID],
  ["csr", CSR],
];
const jwtParams = (): [string, string][] => [
  ["grant_type", GRANT_TYPE_TOKEN_EXCHANGE],
  ["subject_token", TOKEN],
  ["subject_token_type", TOKEN_TYPE_JWT],
  ["requested_token_type", TOKEN_TYPE_JWT],
  ["audience", "vault"],
];
const without = (params: [string, string][], name: string) => params.filter(([n]) => n !== name);
const replaced = (params: [string, string][], name: string, value: string) =>
  params.map(([n, v]): [string, string] => [n, n === name ? value : v]);

describe("parseExchangeRequest", () => {
  it("should take an X.509-SVID request", () => {
    expect(parseExchangeRequest(FORM, form(x509Params()))).toEqual({
      ok: true,
      subjectToken: TOKEN,
      subjectTokenType: TOKEN_TYPE_ID_TOKEN,
      requested: "x509-svid",
      csr: CSR,
    });
  });

  it("should take a JWT-SVID request with one audience", () => {
    expect(parseExchangeRequest(FORM, form(jwtParams()))).toEqual({
      ok: true,
      subjectToken: TOKEN,
      subjectTokenType: TOKEN_TYPE_JWT,
      requested: "jwt-svid",
      audiences: ["vault"],
    });
  });

  it("should take several audiences, each once", () => {
    const parsed = parseExchangeRequest(
      FORM,
      form([...jwtParams(), ["audience", "sts.example.com"], ["audience", "vault"]]),
    );
    expect(parsed).toMatchObject({ ok: true, audiences: ["vault", "sts.example.com"] });
  });

  it("should accept a content type with a charset and in capitals", () => {
    expect(
      parseExchangeRequest("Application/X-WWW-Form-Urlencoded; charset=UTF-8", form(x509Params())),
    ).toMatchObject({
      ok: true,
    });
  });

  it("should ignore unknown parameters and treat empty ones as absent", () => {
    const parsed = parseExchangeRequest(FORM, form([...x509Params(), ["scope", "openid"], ["audience", ""]]));
    expect(parsed).toMatchObject({ ok: true, requested: "x509-svid" });
  });

  it("should decode percent-encoded and plus-encoded values", () => {
    const body = `${form(without(x509Params(), "csr"))}&csr=${encodeURIComponent(CSR).replace(/%20/g, "+")}`;
    expect(parseExchangeRequest(FORM, body)).toMatchObject({ ok: true, csr: CSR });
  });

  const refusals: [string, string | undefined, string, string, string, RegExp][] = [
    [
      "should refuse JSON",
      "application/json",
      form(x509Params()),
      "invalid_request",
      "InvalidRequest",
      /x-www-form-urlencoded.*"application\/json"/,
    ],
    [
      "should refuse a request without a content type",
      undefined,
      form(x509Params()),
      "invalid_request",
      "InvalidRequest",
      /without a content type/,
    ],
    [
      "should refuse a missing grant_type",
      FORM,
      form(without(x509Params(), "grant_type")),
      "invalid_request",
      "InvalidRequest",
      /grant_type is required/,
    ],
    [
      "should refuse another grant type",
      FORM,
      form(replaced(x509Params(), "grant_type", "client_credentials")),
      "unsupported_grant_type",
      "UnsupportedGrantType",
      /"client_credentials" is not supported/,
    ],
    [
      "should refuse a missing subject_token",
      FORM,
      form(without(x509Params(), "subject_token")),
      "invalid_request",
      "InvalidRequest",
      /subject_token is required/,
    ],
    [
      "should refuse a too long subject_token",
      FORM,
      form(replaced(x509Params(), "subject_token", "a".repeat(MAX_SUBJECT_TOKEN_CHARS + 1))),
      "invalid_request",
      "InvalidRequest",
      /subject_token is longer than/,
    ],
    [
      "should refuse a missing subject_token_type",
      FORM,
      form(without(x509Params(), "subject_token_type")),
      "invalid_request",
      "InvalidRequest",
      /subject_token_type is required/,
    ],
    [
      "should refuse a SAML subject token",
      FORM,
      form(replaced(x509Params(), "subject_token_type", "urn:ietf:params:oauth:token-type:saml2")),
      "unsupported_token_type",
      "UnsupportedTokenType",
      /subject_token_type "urn:ietf:params:oauth:token-type:saml2" is not supported/,
    ],
    [
      "should refuse an access token type, which is not known to be a JWT",
      FORM,
      form(replaced(x509Params(), "subject_token_type", "urn:ietf:params:oauth:token-type:access_token")),
      "unsupported_token_type",
      "UnsupportedTokenType",
      /access_token" is not supported/,
    ],
    [
      "should refuse a missing requested_token_type",
      FORM,
      form(without(x509Params(), "requested_token_type")),
      "invalid_request",
      "InvalidRequest",
      /requested_token_type is required/,
    ],
    [
      "should refuse an unknown requested_token_type",
      FORM,
      form(replaced(x509Params(), "requested_token_type", "urn:ietf:params:oauth:token-type:id_token")),
      "unsupported_token_type",
      "UnsupportedTokenType",
      /requested_token_type ".*id_token" is not supported/,
    ],
    [
      "should refuse an X.509-SVID request without csr",
      FORM,
      form(without(x509Params(), "csr")),
      "invalid_request",
      "InvalidRequest",
      /csr is required/,
    ],
    [
      "should refuse a too long csr",
      FORM,
      form(replaced(x509Params(), "csr", "c".repeat(MAX_CSR_CHARS + 1))),
      "invalid_request",
      "InvalidRequest",
      /csr is longer than/,
    ],
    [
      "should refuse an audience for an X.509-SVID",
      FORM,
      form([...x509Params(), ["audience", "vault"]]),
      "invalid_request",
      "InvalidRequest",
      /audience has no meaning for an X.509-SVID/,
    ],
    [
      "should refuse a JWT-SVID request without audience",
      FORM,
      form(without(jwtParams(), "audience")),
      "invalid_request",
      "InvalidRequest",
      /audience is required/,
    ],
    [
      "should refuse a csr for a JWT-SVID",
      FORM,
      form([...jwtParams(), ["csr", CSR]]),
      "invalid_request",
      "InvalidRequest",
      /csr has no meaning for a JWT-SVID/,
    ],
    [
      "should refuse an audience with whitespace",
      FORM,
      form(replaced(jwtParams(), "audience", "a b")),
      "invalid_request",
      "InvalidRequest",
      /audience "a b" must be/,
    ],
    [
      "should refuse a too long audience",
      FORM,
      form(replaced(jwtParams(), "audience", "a".repeat(257))),
      "invalid_request",
      "InvalidRequest",
      /at most 256 characters/,
    ],
    [
      "should refuse more than eight audiences",
      FORM,
      form([...jwtParams(), ...Array.from({ length: 8 }, (_, i): [string, string] => ["audience", `a${i}`])]),
      "invalid_request",
      "InvalidRequest",
      /at most 8 audiences/,
    ],
    [
      "should refuse a repeated subject_token",
      FORM,
      form([...x509Params(), ["subject_token", "other"]]),
      "invalid_request",
      "InvalidRequest",
      /subject_token is given 2 times/,
    ],
    [
      "should refuse a repeated grant_type even with the same value",
      FORM,
      form([...x509Params(), ["grant_type", GRANT_TYPE_TOKEN_EXCHANGE]]),
      "invalid_request",
      "InvalidRequest",
      /grant_type is given 2 times/,
    ],
    [
      "should refuse delegation with an actor_token",
      FORM,
      form([...x509Params(), ["actor_token", TOKEN], ["actor_token_type", TOKEN_TYPE_JWT]]),
      "invalid_request",
      "InvalidRequest",
      /actor_token is not supported/,
    ],
    [
      "should refuse a resource indicator",
      FORM,
      form([...jwtParams(), ["resource", "https://api.example.com"]]),
      "invalid_request",
      "InvalidRequest",
      /resource is not supported/,
    ],
    ["should refuse an empty body", FORM, "", "invalid_request", "InvalidRequest", /grant_type is required/],
  ];
  it.each(refusals)("%s", (_name, contentType, body, error, reason, description) => {
    const parsed = parseExchangeRequest(contentType, body);
    expect(parsed).toMatchObject({ ok: false, status: 400, error, reason });
    expect(parsed.ok ? "" : parsed.description).toMatch(description);
  });

  it("should cut a long unsupported value in the description", () => {
    const parsed = parseExchangeRequest(FORM, form(replaced(x509Params(), "grant_type", "g".repeat(5000))));
    expect(parsed.ok ? "" : parsed.description.length).toBeLessThan(300);
  });
});

describe("exchangeError", () => {
  it.each([
    ["invalid_request", 400],
    ["invalid_grant", 400],
    ["invalid_target", 400],
    ["unsupported_grant_type", 400],
    ["unsupported_token_type", 400],
    ["temporarily_unavailable", 503],
    ["server_error", 500],
  ] as const)("should answer %s with %i", (code, status) => {
    expect(exchangeError(code, "R", "d")).toEqual({
      ok: false,
      status,
      error: code,
      reason: "R",
      description: "d",
    });
  });

  it("should keep a status given", () => {
    expect(exchangeError("invalid_request", "R", "d", 413).status).toBe(413);
  });
});
