import { Writable } from "node:stream";
import type * as k8s from "@kubernetes/client-node";
import { describe, expect, it } from "vitest";
import { createLogger } from "../telemetry/logger.ts";
import { SigningKeyLoader } from "./key-loader.ts";
import { createSigningKey, SIGNING_KEYS_DATA_KEY, type SigningKey, serializeSigningKeys } from "./keys.ts";

const T = new Date("2026-03-02T10:00:00Z");

function secret(resourceVersion: string, text: string): k8s.V1Secret {
  return {
    metadata: { name: "signet-jwt-signing", namespace: "signet-system", uid: "u1", resourceVersion },
    data: { [SIGNING_KEYS_DATA_KEY]: Buffer.from(text).toString("base64") },
  };
}

function loader() {
  const lines: string[] = [];
  const destination = new Writable({
    write(chunk, _encoding, done) {
      lines.push(String(chunk));
      done();
    },
  });
  const log = createLogger({ level: "info", destination });
  return { keys: new SigningKeyLoader("Secret signet-system/signet-jwt-signing", log), lines };
}

const kids = (keys: SigningKey[]) => keys.map((k) => k.kid);

describe("SigningKeyLoader", () => {
  it("should read the keys of a Secret", async () => {
    const a = await createSigningKey(T, T);
    const { keys } = loader();
    expect(kids(await keys.load(secret("1", serializeSigningKeys([a]))))).toEqual([a.kid]);
    expect(kids(keys.keys())).toEqual([a.kid]);
  });

  it("should parse one version once", async () => {
    const a = await createSigningKey(T, T);
    const { keys, lines } = loader();
    const first = await keys.load(secret("1", serializeSigningKeys([a])));
    const again = await keys.load(secret("1", serializeSigningKeys([a])));
    expect(again).toBe(first);
    expect(lines.filter((l) => l.includes("JWT signing keys loaded"))).toHaveLength(1);
  });

  it("should take a newer version", async () => {
    const a = await createSigningKey(T, T);
    const b = await createSigningKey(T, new Date(T.getTime() + 60_000));
    const { keys } = loader();
    await keys.load(secret("1", serializeSigningKeys([a])));
    expect(kids(await keys.load(secret("2", serializeSigningKeys([a, b]))))).toEqual([a.kid, b.kid]);
  });

  it("should keep the previous keys when a version does not parse, and say why without the key", async () => {
    const a = await createSigningKey(T, T);
    const { keys, lines } = loader();
    await keys.load(secret("1", serializeSigningKeys([a])));
    const tampered = JSON.parse(serializeSigningKeys([a])) as { kid: string }[];
    (tampered[0] as { kid: string }).kid = "not-the-thumbprint";
    expect(kids(await keys.load(secret("2", JSON.stringify(tampered))))).toEqual([a.kid]);
    const warning = lines.find((l) => l.includes("rejected")) ?? "";
    expect(warning).toContain("kid not-the-thumbprint is not the thumbprint of its key");
    expect(warning).not.toContain("PRIVATE KEY");
  });

  it("should have no keys once the Secret is gone", async () => {
    const a = await createSigningKey(T, T);
    const { keys } = loader();
    await keys.load(secret("1", serializeSigningKeys([a])));
    expect(await keys.load(undefined)).toEqual([]);
    expect(keys.keys()).toEqual([]);
  });

  it("should apply versions in the order they were given, whatever each parse takes", async () => {
    const many = await Promise.all(Array.from({ length: 8 }, () => createSigningKey(T, T)));
    const one = many[0] as SigningKey;
    const { keys } = loader();
    const slow = keys.load(secret("1", serializeSigningKeys(many)));
    const fast = keys.load(secret("2", serializeSigningKeys([one])));
    await Promise.all([slow, fast]);
    expect(kids(keys.keys())).toEqual([one.kid]);
  });
});
