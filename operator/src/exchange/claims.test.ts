import fc from "fast-check";
import { describe, expect, it } from "vitest";
import {
  audienceAccepted,
  claimText,
  describeMismatch,
  firstMismatch,
  globMatches,
  selectRule,
  shorten,
} from "./claims.ts";

describe("globMatches", () => {
  const cases: [string, string, string, boolean][] = [
    ["should match an exact text", "acme/app", "acme/app", true],
    ["should refuse another text without a star", "acme/app", "acme/api", false],
    ["should refuse a longer text without a star", "acme/app", "acme/app2", false],
    ["should refuse a prefix without a star", "acme/app", "acme/ap", false],
    ["should be case-sensitive", "acme/App", "acme/app", false],
    ["should match anything with a lone star", "*", "refs/heads/main", true],
    ["should match the empty text with a lone star", "*", "", true],
    ["should refuse a non-empty text with an empty pattern", "", "x", false],
    ["should match the empty text with an empty pattern", "", "", true],
    ["should match a trailing star", "refs/heads/release-*", "refs/heads/release-1.2", true],
    [
      "should match a trailing star with nothing after the prefix",
      "refs/heads/release-*",
      "refs/heads/release-",
      true,
    ],
    [
      "should refuse another prefix with a trailing star",
      "refs/heads/release-*",
      "refs/tags/release-1",
      false,
    ],
    ["should match a leading star", "*/main", "refs/heads/main", true],
    ["should refuse another suffix with a leading star", "*/main", "refs/heads/mainline", false],
    ["should match a star in the middle", "acme/*-svc", "acme/payments-svc", true],
    ["should let a star span slashes", "acme/*", "acme/team/app", true],
    ["should match several stars in order", "a*b*c", "a-x-b-y-c", true],
    ["should refuse pieces out of order", "a*b*c", "a-c-b", false],
    ["should not let the prefix and suffix overlap", "ab*ba", "aba", false],
    ["should match where prefix and suffix just meet", "ab*ba", "abba", true],
    ["should treat adjacent stars as one", "a**c", "abc", true],
    ["should refuse a middle piece that only fits inside the suffix", "a*bc*c", "abc", false],
    ["should take a dot literally", "acme.app", "acmexapp", false],
    ["should take a dot literally when it matches itself", "acme.app", "acme.app", true],
    ["should take regex anchors and groups literally", "^(a|b)+$", "a", false],
    ["should match regex metacharacters as themselves", "^(a|b)+$", "^(a|b)+$", true],
    ["should take a question mark literally", "v?", "v1", false],
    ["should take brackets literally", "[ab]", "a", false],
    ["should take a backslash literally", "a\\*", "a\\anything", true],
    ["should match unicode text", "zürich-*", "zürich-1", true],
  ];
  it.each(cases)("%s (%j vs %j)", (_name, pattern, text, expected) => {
    expect(globMatches(pattern, text)).toBe(expected);
  });

  it("should agree with an anchored regular expression built from the escaped pieces", () => {
    const alphabet = fc.constantFrom("a", "b", "*", ".", "/");
    fc.assert(
      fc.property(
        fc.string({ unit: alphabet, maxLength: 8 }),
        fc.string({ unit: alphabet, maxLength: 10 }),
        (pattern, text) => {
          const escaped = pattern
            .split("*")
            .map((p) => p.replace(/[.*+?^${}()|[\]\\/]/g, "\\$&"))
            .join(".*");
          expect(globMatches(pattern, text)).toBe(new RegExp(`^${escaped}$`, "s").test(text));
        },
      ),
      { numRuns: 2000 },
    );
  });

  it("should answer quickly for a pattern that backtracks badly as a regular expression", () => {
    const pattern = `${"*a".repeat(20)}b`;
    const text = "a".repeat(10_000);
    const started = performance.now();
    expect(globMatches(pattern, text)).toBe(false);
    console.log(`pathological pattern: ${(performance.now() - started).toFixed(2)} ms`);
  });
});

describe("claimText", () => {
  const cases: [string, unknown, string | undefined][] = [
    ["should keep a string", "refs/heads/main", "refs/heads/main"],
    ["should keep the empty string", "", ""],
    ["should write an integer as text", 42, "42"],
    ["should write a negative decimal as text", -1.5, "-1.5"],
    ["should write zero as text", 0, "0"],
    ["should write true as text", true, "true"],
    ["should write false as text", false, "false"],
    ["should give no text for NaN", Number.NaN, undefined],
    ["should give no text for infinity", Number.POSITIVE_INFINITY, undefined],
    ["should give no text for null", null, undefined],
    ["should give no text for a missing claim", undefined, undefined],
    ["should give no text for a list", ["a"], undefined],
    ["should give no text for an empty list", [], undefined],
    ["should give no text for an object", { a: "b" }, undefined],
  ];
  it.each(cases)("%s", (_name, value, expected) => {
    expect(claimText(value)).toBe(expected);
  });
});

describe("firstMismatch", () => {
  const rule = { claims: { repository: "acme/app", ref: "refs/heads/*" } };
  const cases: [string, Record<string, unknown>, ReturnType<typeof firstMismatch>][] = [
    [
      "should find none when every claim matches",
      { repository: "acme/app", ref: "refs/heads/main" },
      undefined,
    ],
    [
      "should name the first claim that differs",
      { repository: "acme/other", ref: "refs/tags/v1" },
      { claim: "repository", pattern: "acme/app", actual: "acme/other" },
    ],
    [
      "should name a later claim when the first matches",
      { repository: "acme/app", ref: "refs/tags/v1" },
      { claim: "ref", pattern: "refs/heads/*", actual: "refs/tags/v1" },
    ],
    [
      "should name a claim the token lacks",
      { repository: "acme/app" },
      { claim: "ref", pattern: "refs/heads/*", actual: undefined },
    ],
    [
      "should not match a list even though its text would",
      { repository: ["acme/app"], ref: "refs/heads/main" },
      { claim: "repository", pattern: "acme/app", actual: ["acme/app"] },
    ],
    [
      "should not match an object",
      { repository: { toString: "acme/app" }, ref: "refs/heads/main" },
      { claim: "repository", pattern: "acme/app", actual: { toString: "acme/app" } },
    ],
    [
      "should not match null",
      { repository: null, ref: "refs/heads/main" },
      { claim: "repository", pattern: "acme/app", actual: null },
    ],
  ];
  it.each(cases)("%s", (_name, claims, expected) => {
    expect(firstMismatch(rule, claims)).toEqual(expected);
  });

  it("should compare numbers and booleans as their text", () => {
    expect(
      firstMismatch({ claims: { run_attempt: "1", private: "true" } }, { run_attempt: 1, private: true }),
    ).toBe(undefined);
    expect(firstMismatch({ claims: { run_attempt: "1*" } }, { run_attempt: 12 })).toBe(undefined);
    expect(firstMismatch({ claims: { private: "true" } }, { private: false })).toEqual({
      claim: "private",
      pattern: "true",
      actual: false,
    });
  });

  it("should not take a claim from the object's prototype", () => {
    expect(firstMismatch({ claims: { constructor: "*" } }, {})).toEqual({
      claim: "constructor",
      pattern: "*",
      actual: undefined,
    });
    expect(firstMismatch({ claims: { toString: "*" } }, JSON.parse('{"a":1}'))).toMatchObject({
      claim: "toString",
    });
  });
});

describe("selectRule", () => {
  const rules: { name: string; claims: Record<string, string> }[] = [
    { name: "main", claims: { repository: "acme/app", ref: "refs/heads/main" } },
    { name: "release", claims: { repository: "acme/*", ref: "refs/heads/release-*" } },
    { name: "any-acme", claims: { repository: "acme/*" } },
  ];
  const cases: [string, Record<string, unknown>, number | undefined][] = [
    ["should pick the first rule when it matches", { repository: "acme/app", ref: "refs/heads/main" }, 0],
    [
      "should pick the second rule when only it and later ones match",
      { repository: "acme/lib", ref: "refs/heads/release-2" },
      1,
    ],
    [
      "should pick a broad later rule when no narrow one matches",
      { repository: "acme/lib", ref: "refs/heads/dev" },
      2,
    ],
    ["should pick none when no rule matches", { repository: "other/app", ref: "refs/heads/main" }, undefined],
    ["should pick none for a token without the claims", {}, undefined],
  ];
  it.each(cases)("%s", (_name, claims, expected) => {
    const selection = selectRule(rules, claims);
    if (expected === undefined) expect(selection.matched).toBe(false);
    else expect(selection).toEqual({ matched: true, index: expected, rule: rules[expected] });
  });

  it("should keep the order of the rules, not their breadth", () => {
    const broadFirst = [rules[2], rules[0]] as typeof rules;
    expect(selectRule(broadFirst, { repository: "acme/app", ref: "refs/heads/main" })).toMatchObject({
      index: 0,
    });
  });

  it("should report every rule's first mismatch when none matches", () => {
    const selection = selectRule(rules, { repository: "other/app", ref: "refs/heads/main" });
    expect(selection).toEqual({
      matched: false,
      mismatches: [
        {
          index: 0,
          rule: rules[0],
          mismatch: { claim: "repository", pattern: "acme/app", actual: "other/app" },
        },
        {
          index: 1,
          rule: rules[1],
          mismatch: { claim: "repository", pattern: "acme/*", actual: "other/app" },
        },
        {
          index: 2,
          rule: rules[2],
          mismatch: { claim: "repository", pattern: "acme/*", actual: "other/app" },
        },
      ],
    });
  });

  it("should pick none from no rules", () => {
    expect(selectRule([], { repository: "acme/app" })).toEqual({ matched: false, mismatches: [] });
  });
});

describe("describeMismatch", () => {
  const cases: [string, Parameters<typeof describeMismatch>[0], string][] = [
    [
      "should quote the token's value",
      { claim: "ref", pattern: "refs/heads/main", actual: "refs/heads/dev" },
      'ref must match "refs/heads/main" but the token has "refs/heads/dev"',
    ],
    [
      "should say when the claim is missing",
      { claim: "ref", pattern: "refs/heads/main", actual: undefined },
      'ref must match "refs/heads/main" but the token has no such claim',
    ],
    [
      "should say when the claim is a list",
      { claim: "groups", pattern: "admins", actual: ["admins"] },
      'groups must match "admins" but the token\'s groups is a list, which never matches',
    ],
    [
      "should say when the claim is an object",
      { claim: "ctx", pattern: "*", actual: { a: 1 } },
      'ctx must match "*" but the token\'s ctx is an object, which never matches',
    ],
    [
      "should say when the claim is null",
      { claim: "ctx", pattern: "*", actual: null },
      'ctx must match "*" but the token\'s ctx is null, which never matches',
    ],
    [
      "should write a number as its text",
      { claim: "run_attempt", pattern: "1", actual: 2 },
      'run_attempt must match "1" but the token has "2"',
    ],
  ];
  it.each(cases)("%s", (_name, mismatch, expected) => {
    expect(describeMismatch(mismatch)).toBe(expected);
  });

  it("should cut a long value", () => {
    const text = describeMismatch({ claim: "ref", pattern: "x", actual: "y".repeat(1000) });
    expect(text.length).toBeLessThan(200);
    expect(text).toContain("…");
  });
});

describe("audienceAccepted", () => {
  const accepted = ["signet", "https://signet.example.com"];
  const cases: [string, unknown, boolean][] = [
    ["should accept a string audience on the list", "signet", true],
    ["should accept a list holding one audience on the list", ["other", "https://signet.example.com"], true],
    ["should accept a list of only accepted audiences", ["signet"], true],
    ["should refuse a string audience off the list", "sts.amazonaws.com", false],
    ["should refuse a list with no accepted audience", ["a", "b"], false],
    ["should refuse an audience that differs only in case", "Signet", false],
    ["should refuse a prefix of an accepted audience", "sign", false],
    ["should refuse an empty list", [], false],
    ["should refuse a missing aud", undefined, false],
    ["should refuse null", null, false],
    ["should refuse a number", 1, false],
    ["should refuse an object", { signet: true }, false],
    ["should refuse a list with a non-string in it", ["signet", 1], false],
  ];
  it.each(cases)("%s", (_name, aud, expected) => {
    expect(audienceAccepted(aud, accepted)).toBe(expected);
  });

  it("should refuse every audience when none is accepted", () => {
    expect(audienceAccepted("signet", [])).toBe(false);
  });
});

describe("shorten", () => {
  it.each([
    ["should keep a short text", "abc", 5, "abc"],
    ["should keep a text of exactly the bound", "abcde", 5, "abcde"],
    ["should cut a longer text and mark it", "abcdef", 5, "abcde…"],
  ])("%s", (_name, text, max, expected) => {
    expect(shorten(text, max)).toBe(expected);
  });
});
