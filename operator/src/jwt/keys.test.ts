import { calculateJwkThumbprint } from "jose";
import { describe, expect, it } from "vitest";
import { createSigningKey, jwksOf, parseSigningKeys, serializeSigningKeys } from "./keys.ts";

const T0 = new Date("2026-01-01T00:00:00Z");
const T1 = new Date("2026-01-02T00:00:00Z");

describe("signing keys", () => {
  it("should name each key by the RFC 7638 thumbprint of its public JWK", async () => {
    const key = await createSigningKey(T0, T0);
    const { kty, crv, x, y } = key.jwk;
    expect(key.kid).toBe(await calculateJwkThumbprint({ kty, crv, x, y }));
    expect(key.jwk).toMatchObject({ kty: "EC", crv: "P-256", alg: "ES256", use: "sig", kid: key.kid });
    expect(key.jwk).not.toHaveProperty("d");
  });

  it("should read back what it writes, oldest first, and publish no private part", async () => {
    const later = await createSigningKey(T0, T1);
    const first = await createSigningKey(T0, T0);
    const text = serializeSigningKeys([later, first]);
    const read = await parseSigningKeys(text, "Secret x");
    expect(read.map((k) => [k.kid, k.createdAt, k.signingFrom])).toEqual([
      [first.kid, T0, T0],
      [later.kid, T0, T1],
    ]);
    expect(serializeSigningKeys(read)).toBe(text);
    expect(JSON.stringify(jwksOf(read))).not.toMatch(/"d"|PRIVATE/);
    expect(jwksOf(read).keys.map((k) => k.kid)).toEqual([first.kid, later.kid]);
  });

  it("should refuse a key whose kid is not its thumbprint, naming the entry", async () => {
    const key = await createSigningKey(T0, T0);
    const stored = JSON.parse(serializeSigningKeys([key]));
    stored[0].kid = "chosen-by-hand";
    await expect(parseSigningKeys(JSON.stringify(stored), "Secret x")).rejects.toThrow(
      `Secret x: keys.json[0]: kid chosen-by-hand is not the thumbprint of its key (${key.kid})`,
    );
  });

  it("should refuse something that is not a list of P-256 keys", async () => {
    await expect(parseSigningKeys("{", "S")).rejects.toThrow("S: keys.json is not JSON");
    await expect(parseSigningKeys("{}", "S")).rejects.toThrow("S: keys.json is not a list of keys");
    await expect(
      parseSigningKeys(JSON.stringify([{ kid: "a", createdAt: "x", signingFrom: T0, privateKey: "" }]), "S"),
    ).rejects.toThrow("S: keys.json[0]: createdAt and signingFrom must be RFC 3339 times");
  });
});
