import { createPublicKey } from "node:crypto";
import { decodeProtectedHeader, jwtVerify } from "jose";
import { describe, expect, it } from "vitest";
import type { AccessSchedule, MachineIdentity } from "../api/index.ts";
import { createSigningKey } from "./keys.ts";
import { type JwtSvidRequest, jwtSvidClaims, mintJwtSvid } from "./mint.ts";

const NOW = new Date("2026-03-02T10:00:00.400Z");
const MIN = 60_000;
const ISSUER = "https://signet-jwt.signet-system.svc:8444";
const WHERE = "MachineIdentity shop/payments-api";

function identity(spec: Record<string, unknown> = {}): MachineIdentity {
  return {
    apiVersion: "signet.dev/v1alpha1",
    kind: "MachineIdentity",
    metadata: { name: "payments-api", namespace: "shop", uid: "mi-uid-1" },
    spec: {
      serviceAccounts: ["payments"],
      ttl: "1h",
      privateKey: { algorithm: "ECDSA", size: 256 },
      usages: ["client", "server"],
      suspend: false,
      delivery: "Secret",
      jwtSVID: { audiences: ["vault", "sts.amazonaws.com"], ttl: "5m" },
      ...spec,
    },
  } as MachineIdentity;
}

function grants(...windows: { start: Date; end: Date }[]): AccessSchedule {
  return {
    apiVersion: "signet.dev/v1alpha1",
    kind: "AccessSchedule",
    metadata: { name: "office-hours", namespace: "shop" },
    spec: {
      timeZone: "UTC",
      windows: [],
      grants: windows.map((g) => ({ start: g.start.toISOString(), end: g.end.toISOString() })),
      suspend: false,
    },
  } as AccessSchedule;
}

function request(overrides: Partial<JwtSvidRequest> = {}): JwtSvidRequest {
  return {
    identity: identity(),
    schedule: undefined,
    claimRefusal: undefined,
    audiences: ["vault"],
    ttlMs: undefined,
    trustDomain: "cluster.local",
    issuer: ISSUER,
    now: NOW,
    ...overrides,
  };
}

const at = (ms: number) => new Date(NOW.getTime() + ms);
const iat = Math.floor(NOW.getTime() / 1000);

describe("jwtSvidClaims", () => {
  const refusals: { name: string; request: JwtSvidRequest; reason: string; message: string }[] = [
    {
      name: "should refuse an identity without spec.jwtSVID",
      request: request({ identity: identity({ jwtSVID: undefined }) }),
      reason: "JwtSvidNotEnabled",
      message: `${WHERE} has no spec.jwtSVID: it may get no JWT-SVID; list the audiences in spec.jwtSVID.audiences`,
    },
    {
      name: "should refuse an audience the identity does not list, naming it and the allowed ones",
      request: request({ audiences: ["vault", "gcp"] }),
      reason: "AudienceNotAllowed",
      message: `${WHERE} may not get a JWT-SVID for audience "gcp": spec.jwtSVID.audiences allows "vault", "sts.amazonaws.com"`,
    },
    {
      name: "should refuse a suspended identity",
      request: request({ identity: identity({ suspend: true }) }),
      reason: "Suspended",
      message: `${WHERE} is suspended (spec.suspend: true): no JWT-SVID is issued until it is false`,
    },
    {
      name: "should refuse an identity outside its access window",
      request: request({
        identity: identity({ scheduleRef: { name: "office-hours" } }),
        schedule: grants({ start: at(MIN), end: at(60 * MIN) }),
      }),
      reason: "OutsideWindow",
      message: `${WHERE}: outside the access windows of AccessSchedule shop/office-hours; the next window opens at ${at(MIN).toISOString()}`,
    },
    {
      name: "should refuse an identity whose schedule does not exist",
      request: request({ identity: identity({ scheduleRef: { name: "office-hours" } }) }),
      reason: "ScheduleNotFound",
      message: `${WHERE}: AccessSchedule shop/office-hours named in spec.scheduleRef does not exist; no credential is issued until it does`,
    },
    {
      name: "should refuse when the access window ends within the second of issue",
      request: request({
        identity: identity({ scheduleRef: { name: "office-hours" } }),
        schedule: grants({ start: at(-MIN), end: at(500) }),
      }),
      reason: "WindowClosing",
      message: `${WHERE}: its access window ends at ${at(500).toISOString()}, too soon for a JWT-SVID; ask again in the next window`,
    },
    {
      name: "should refuse what the namespace may not claim, with the issuance rules' reason",
      request: request({
        claimRefusal: { reason: "ClaimNotPermitted", message: `${WHERE}: spiffeID is not the namespace's` },
      }),
      reason: "ClaimNotPermitted",
      message: `${WHERE}: spiffeID is not the namespace's`,
    },
  ];
  it.each(refusals.map((c) => [c.name, c] as const))("%s", (_, c) => {
    expect(jwtSvidClaims(c.request)).toEqual({ refused: true, reason: c.reason, message: c.message });
  });

  const grantsOf: { name: string; request: JwtSvidRequest; exp: number; sub?: string; aud?: string[] }[] = [
    { name: "should give the identity's ttl when none is asked for", request: request(), exp: iat + 300 },
    {
      name: "should give the shorter ttl asked for",
      request: request({ ttlMs: 2 * MIN }),
      exp: iat + 120,
    },
    {
      name: "should cap a longer ttl asked for at spec.jwtSVID.ttl",
      request: request({ ttlMs: 60 * MIN }),
      exp: iat + 300,
    },
    {
      name: "should end the token with the access window",
      request: request({
        identity: identity({ scheduleRef: { name: "office-hours" } }),
        schedule: grants({ start: at(-MIN), end: at(90_000) }),
      }),
      exp: Math.floor(at(90_000).getTime() / 1000),
    },
    {
      name: "should carry the explicit SPIFFE ID and every audience asked for",
      request: request({
        identity: identity({ spiffeID: "spiffe://cluster.local/ns/shop/sa/payments" }),
        audiences: ["sts.amazonaws.com", "vault"],
      }),
      exp: iat + 300,
      sub: "spiffe://cluster.local/ns/shop/sa/payments",
      aud: ["sts.amazonaws.com", "vault"],
    },
  ];
  it.each(grantsOf.map((c) => [c.name, c] as const))("%s", (_, c) => {
    expect(jwtSvidClaims(c.request)).toEqual({
      refused: false,
      sub: c.sub ?? "spiffe://cluster.local/ns/shop/id/payments-api",
      aud: c.aud ?? ["vault"],
      iat,
      exp: c.exp,
    });
  });
});

describe("mintJwtSvid", () => {
  it("should sign a JWT-SVID that verifies with the key's public half and carries every claim", async () => {
    const key = await createSigningKey(NOW, NOW);
    const minted = await mintJwtSvid(request({ ttlMs: 2 * MIN }), key, () => Buffer.alloc(16, 7));
    if (minted.refused) throw new Error(minted.message);
    expect(decodeProtectedHeader(minted.token)).toEqual({ alg: "ES256", kid: key.kid, typ: "JWT" });
    const { payload } = await jwtVerify(minted.token, createPublicKey(key.privateKey), {
      issuer: ISSUER,
      audience: "vault",
      currentDate: NOW,
    });
    expect(payload).toEqual({
      iss: ISSUER,
      sub: "spiffe://cluster.local/ns/shop/id/payments-api",
      aud: "vault",
      iat,
      nbf: iat,
      exp: iat + 120,
      jti: Buffer.alloc(16, 7).toString("base64url"),
    });
    expect(minted.expiresAt).toEqual(new Date((iat + 120) * 1000));
  });

  it("should give every token a fresh 128-bit jti", async () => {
    const key = await createSigningKey(NOW, NOW);
    const jtis = new Set<unknown>();
    for (let i = 0; i < 20; i++) {
      const minted = await mintJwtSvid(request(), key);
      if (minted.refused) throw new Error(minted.message);
      const { payload } = await jwtVerify(minted.token, createPublicKey(key.privateKey), {
        currentDate: NOW,
      });
      expect(Buffer.from(String(payload.jti), "base64url")).toHaveLength(16);
      jtis.add(payload.jti);
    }
    expect(jtis.size).toBe(20);
  });

  it("should refuse without a signing key, and refuse before signing for a refused identity", async () => {
    expect(await mintJwtSvid(request(), undefined)).toMatchObject({ refused: true, reason: "NoSigningKey" });
    const key = await createSigningKey(NOW, NOW);
    expect(await mintJwtSvid(request({ audiences: ["gcp"] }), key)).toMatchObject({
      refused: true,
      reason: "AudienceNotAllowed",
    });
  });
});
