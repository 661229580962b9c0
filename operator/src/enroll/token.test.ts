import { createHash } from "node:crypto";
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { generateToken, hashToken, parseToken, TOKEN_PREFIX, tokenMatches } from "./token.ts";

const fixed = (byte: number) => (n: number) => Buffer.alloc(n, byte);

describe("enrollment tokens", () => {
  it("should carry 256 random bits after the Enrollment's namespace and name", () => {
    const token = generateToken({ namespace: "shop", name: "agent-1" }, fixed(0xab));
    expect(token).toBe(`${TOKEN_PREFIX}.shop.agent-1.${Buffer.alloc(32, 0xab).toString("base64url")}`);
    expect(token.split(".")[3]).toHaveLength(43);
  });

  it("should differ every time with the real random source", () => {
    const tokens = new Set(Array.from({ length: 100 }, () => generateToken({ namespace: "a", name: "b" })));
    expect(tokens.size).toBe(100);
  });

  it.each([
    ["a namespace with a dot", { namespace: "a.b", name: "x" }],
    ["an upper-case name", { namespace: "shop", name: "Agent" }],
    ["an empty name", { namespace: "shop", name: "" }],
    ["a name of 64 characters", { namespace: "shop", name: "a".repeat(64) }],
  ])("should refuse to make a token for %s", (_what, ref) => {
    expect(() => generateToken(ref)).toThrow(/is not a DNS label/);
  });

  it("should refuse a random source that returns too few bytes", () => {
    expect(() => generateToken({ namespace: "a", name: "b" }, () => Buffer.alloc(16))).toThrow(
      /too few bytes/,
    );
  });

  it("should parse the Enrollment a token names and nothing else", () => {
    const token = generateToken({ namespace: "ci", name: "runner-7" });
    expect(parseToken(token)).toEqual({ ok: true, ref: { namespace: "ci", name: "runner-7" } });
  });

  it.each([
    ["", "has the form"],
    ["signet-et1.shop.agent", "has the form"],
    ["signet-et2.shop.agent.AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA", "has the form"],
    ["signet-et1.shop.agent.x.AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA", "has the form"],
    ["signet-et1.Shop.agent.AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA", "DNS labels"],
    ["signet-et1.shop.agent.short", "43 base64url"],
    ["signet-et1.shop.agent.AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA+", "43 base64url"],
    ["signet-et1.shop.agent.AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA", "43 base64url"],
  ])("should refuse %j as a token (%s)", (text, why) => {
    const parsed = parseToken(text);
    expect(parsed.ok).toBe(false);
    expect(parsed.ok ? "" : parsed.message).toContain(why);
  });

  it("should store the SHA-256 of the whole token, in the form the CRD requires", () => {
    const token = generateToken({ namespace: "shop", name: "agent-1" }, fixed(1));
    const hash = hashToken(token);
    expect(hash).toBe(`sha256:${createHash("sha256").update(token).digest("hex")}`);
    expect(hash).toMatch(/^sha256:[0-9a-f]{64}$/);
    expect(hash).not.toContain(token.split(".")[3]);
  });

  it("should match a token only against its own hash", () => {
    fc.assert(
      fc.property(
        fc.uint8Array({ minLength: 32, maxLength: 32 }),
        fc.uint8Array({ minLength: 32, maxLength: 32 }),
        (a, b) => {
          const ta = generateToken({ namespace: "n", name: "e" }, () => Buffer.from(a));
          const tb = generateToken({ namespace: "n", name: "e" }, () => Buffer.from(b));
          expect(tokenMatches(ta, hashToken(ta))).toBe(true);
          expect(tokenMatches(ta, hashToken(tb))).toBe(Buffer.from(a).equals(Buffer.from(b)));
        },
      ),
    );
  });

  it("should not match a stored value of another length or form", () => {
    const token = generateToken({ namespace: "n", name: "e" });
    expect(tokenMatches(token, "")).toBe(false);
    expect(tokenMatches(token, hashToken(token).toUpperCase())).toBe(false);
    expect(tokenMatches(token, `${hashToken(token)}0`)).toBe(false);
    expect(tokenMatches(token, token)).toBe(false);
  });
});
