import type * as k8s from "@kubernetes/client-node";
import { describe, expect, it } from "vitest";
import { type MachineIdentity, SERVING_CA_SECRET_NAME, secretNameOf } from "../../api/index.ts";
import { NOT_CREATED_BY_SIGNET, ownedBy, secretClaim } from "./ownership.ts";

const reserved = {
  namespace: "signet-system",
  names: ["signet-ca", "signet-webhook-tls", SERVING_CA_SECRET_NAME],
};

function identity(
  name: string,
  options: {
    namespace?: string;
    uid?: string;
    created?: string;
    secretName?: string;
    deleting?: boolean;
  } = {},
): MachineIdentity {
  return {
    apiVersion: "signet.dev/v1alpha1",
    kind: "MachineIdentity",
    metadata: {
      name,
      namespace: options.namespace ?? "shop",
      uid: options.uid ?? `uid-${name}`,
      creationTimestamp: options.created ?? "2026-12-01T10:00:00Z",
      ...(options.deleting ? { deletionTimestamp: "2026-12-01T11:00:00Z" } : {}),
    },
    spec: {
      serviceAccounts: ["default"],
      ttl: "1h",
      privateKey: { algorithm: "ECDSA", size: 256 },
      usages: ["client", "server"],
      suspend: false,
      delivery: "Secret",
      ...(options.secretName ? { secretName: options.secretName } : {}),
    },
  } as MachineIdentity;
}

function secret(
  name: string,
  marks: {
    label?: string;
    owner?: { name: string; uid: string; controller?: boolean | "absent"; kind?: string };
    namespace?: string;
  } = {},
): k8s.V1Secret {
  return {
    metadata: {
      name,
      namespace: marks.namespace ?? "shop",
      labels: {
        "app.kubernetes.io/managed-by": "signet",
        ...(marks.label ? { "signet.dev/machineidentity": marks.label } : {}),
      },
      ...(marks.owner
        ? {
            ownerReferences: [
              {
                apiVersion: "signet.dev/v1alpha1",
                kind: marks.owner.kind ?? "MachineIdentity",
                name: marks.owner.name,
                uid: marks.owner.uid,
                ...(marks.owner.controller === undefined ? { controller: true } : {}),
                ...(marks.owner.controller === false ? { controller: false } : {}),
              },
            ],
          }
        : {}),
    },
    type: "kubernetes.io/tls",
  };
}

/** The Secret exactly as Signet writes it for this identity. */
function ownSecret(mi: MachineIdentity): k8s.V1Secret {
  return secret(secretNameOf(mi), {
    namespace: mi.metadata.namespace ?? "",
    label: mi.metadata.name,
    owner: { name: mi.metadata.name, uid: String(mi.metadata.uid) },
  });
}

const victim = identity("victim", { created: "2026-12-01T09:00:00Z" });
const thief = identity("thief", { secretName: "victim-identity", created: "2026-12-01T10:00:00Z" });

describe("secretClaim on an existing Secret", () => {
  it.each<[string, MachineIdentity, k8s.V1Secret, { ok: boolean; holder?: string }]>([
    ["should let an identity use the Secret it owns", victim, ownSecret(victim), { ok: true }],
    [
      "should refuse an identity the Secret of another identity it names",
      thief,
      ownSecret(victim),
      { ok: false, holder: "MachineIdentity shop/victim" },
    ],
    [
      "should refuse a Secret whose label is right but whose owner uid is of a deleted identity of the same name",
      identity("victim", { uid: "uid-victim-2" }),
      ownSecret(victim),
      { ok: false, holder: "MachineIdentity shop/victim" },
    ],
    [
      "should refuse a Secret whose owner reference is right but whose label names another identity",
      victim,
      secret("victim-identity", { label: "other", owner: { name: "victim", uid: "uid-victim" } }),
      { ok: false, holder: "MachineIdentity shop/victim" },
    ],
    [
      "should refuse a Secret whose owner reference is right but whose label was removed",
      victim,
      secret("victim-identity", { owner: { name: "victim", uid: "uid-victim" } }),
      { ok: false, holder: "MachineIdentity shop/victim" },
    ],
    [
      "should refuse a Secret whose owner reference to the identity is not a controller reference",
      victim,
      secret("victim-identity", {
        label: "victim",
        owner: { name: "victim", uid: "uid-victim", controller: false },
      }),
      { ok: false, holder: "MachineIdentity shop/victim" },
    ],
    [
      "should refuse a Secret whose owner reference has no controller field",
      victim,
      secret("victim-identity", {
        label: "victim",
        owner: { name: "victim", uid: "uid-victim", controller: "absent" },
      }),
      { ok: false, holder: "MachineIdentity shop/victim" },
    ],
    [
      "should refuse a Secret whose controller of the right uid is not a MachineIdentity",
      victim,
      secret("victim-identity", {
        label: "victim",
        owner: { name: "victim", uid: "uid-victim", kind: "Deployment" },
      }),
      { ok: false, holder: "MachineIdentity shop/victim" },
    ],
    [
      "should refuse a Secret carrying only a copied label of the identity",
      victim,
      secret("victim-identity", { label: "victim" }),
      { ok: false, holder: "MachineIdentity shop/victim" },
    ],
    [
      "should refuse a Secret with neither mark as not created by Signet",
      identity("app", { secretName: "db-password" }),
      secret("db-password"),
      { ok: false, holder: NOT_CREATED_BY_SIGNET },
    ],
    [
      "should refuse an identity without a uid even a Secret marked with an empty uid",
      identity("app", { uid: "" }),
      secret("app-identity", { label: "app", owner: { name: "app", uid: "" } }),
      { ok: false, holder: "MachineIdentity shop/app" },
    ],
  ])("%s", (_name, mi, existing, expected) => {
    const out = secretClaim({
      identity: mi,
      secret: existing,
      sameNamespaceIdentities: [victim, thief],
      reserved,
    });
    expect(out.ok).toBe(expected.ok);
    expect(ownedBy(existing, mi)).toBe(expected.ok);
    if (out.ok) return;
    expect(out.reason).toBe("SecretConflict");
    expect(out.holder).toBe(expected.holder);
    expect(out.message).toContain(`MachineIdentity shop/${mi.metadata.name}:`);
    expect(out.message).toContain(`Secret shop/${existing.metadata?.name} named in spec.secretName`);
    expect(out.message).toContain(expected.holder === NOT_CREATED_BY_SIGNET ? NOT_CREATED_BY_SIGNET : "");
    expect(out.message).toMatch(/choose another spec\.secretName/);
  });

  it("should name the holder and say it keeps the Secret, in one sentence a user can act on", () => {
    const out = secretClaim({
      identity: thief,
      secret: ownSecret(victim),
      sameNamespaceIdentities: [],
      reserved,
    });
    expect(out).toEqual({
      ok: false,
      reason: "SecretConflict",
      holder: "MachineIdentity shop/victim",
      message:
        "MachineIdentity shop/thief: Secret shop/victim-identity named in spec.secretName belongs to MachineIdentity shop/victim; Signet does not write or delete it for this identity; choose another spec.secretName",
    });
  });

  it("should say which marks disagree when the Secret is marked for another object of the same name", () => {
    const out = secretClaim({
      identity: identity("victim", { uid: "uid-victim-2" }),
      secret: ownSecret(victim),
      sameNamespaceIdentities: [],
      reserved,
    });
    expect(out.ok ? "" : out.message).toContain(
      "is marked for a MachineIdentity of the same name but not for this one (uid uid-victim-2): its label signet.dev/machineidentity is victim and its controller owner reference has uid uid-victim",
    );
  });

  it("should keep the Secret with its owner even when a claimant was created earlier", () => {
    const elder = identity("elder", { secretName: "victim-identity", created: "2026-01-01T00:00:00Z" });
    const forOwner = secretClaim({
      identity: victim,
      secret: ownSecret(victim),
      sameNamespaceIdentities: [elder, victim],
      reserved,
    });
    const forElder = secretClaim({
      identity: elder,
      secret: ownSecret(victim),
      sameNamespaceIdentities: [elder, victim],
      reserved,
    });
    expect(forOwner).toEqual({ ok: true });
    expect(forElder).toMatchObject({
      ok: false,
      reason: "SecretConflict",
      holder: "MachineIdentity shop/victim",
    });
  });
});

describe("secretClaim while no Secret exists yet", () => {
  const a = identity("a", { secretName: "shared", created: "2026-12-01T10:00:00Z" });
  const b = identity("b", { secretName: "shared", created: "2026-12-01T10:00:01Z" });
  const sameSecond = identity("0-same-second", { secretName: "shared", created: "2026-12-01T10:00:00Z" });
  const elsewhere = identity("0-elsewhere", {
    namespace: "finance",
    secretName: "shared",
    created: "2026-01-01T00:00:00Z",
  });
  const leaving = identity("0-leaving", {
    secretName: "shared",
    created: "2026-01-01T00:00:00Z",
    deleting: true,
  });
  const untimed = identity("0-untimed", { secretName: "shared", created: "not a time" });

  it.each<[string, MachineIdentity, MachineIdentity[], string | undefined]>([
    ["should let a sole claimant create its Secret", a, [a], undefined],
    ["should let a sole claimant create its Secret when the list does not hold it yet", a, [], undefined],
    ["should let the claimant created first create the Secret", a, [a, b], undefined],
    ["should refuse a claimant created later, naming the first", b, [a, b], "MachineIdentity shop/a"],
    [
      "should break a tie within the same second by name: the first name wins",
      sameSecond,
      [a, sameSecond],
      undefined,
    ],
    [
      "should break a tie within the same second by name: the later name loses",
      a,
      [a, sameSecond],
      "MachineIdentity shop/0-same-second",
    ],
    ["should ignore an identity of another namespace naming the same Secret", a, [a, elsewhere], undefined],
    ["should ignore an identity that is being deleted", a, [a, leaving], undefined],
    ["should sort an identity without a readable creation time last", a, [a, untimed], undefined],
    [
      "should ignore identities that name other Secrets",
      b,
      [identity("0-other", { created: "2026-01-01T00:00:00Z" }), b],
      undefined,
    ],
  ])("%s", (_name, mi, others, holder) => {
    const out = secretClaim({ identity: mi, secret: undefined, sameNamespaceIdentities: others, reserved });
    if (holder === undefined) {
      expect(out).toEqual({ ok: true });
      return;
    }
    expect(out).toMatchObject({ ok: false, reason: "SecretConflict", holder });
    expect(out.ok ? "" : out.message).toBe(
      `MachineIdentity shop/${mi.metadata.name}: Secret shop/shared named in spec.secretName is also named by ${holder}, created earlier, which is the one to create it; Signet does not create it for this identity; choose another spec.secretName`,
    );
  });

  it("should give exactly one of several claimants the right to create, whatever the list order", () => {
    const all = [b, sameSecond, a, leaving, untimed];
    const orders = [all, [...all].reverse(), [a, untimed, b, leaving, sameSecond]];
    for (const order of orders) {
      const winners = [a, b, sameSecond, untimed].filter(
        (mi) => secretClaim({ identity: mi, secret: undefined, sameNamespaceIdentities: order, reserved }).ok,
      );
      expect(winners.map((w) => w.metadata.name)).toEqual(["0-same-second"]);
    }
  });
});

describe("secretClaim on Signet's reserved Secret names", () => {
  it.each<[string, MachineIdentity, k8s.V1Secret | undefined, string | undefined]>([
    [
      "should refuse the CA Secret's name in the operator's namespace",
      identity("ca-thief", { namespace: "signet-system", secretName: "signet-ca" }),
      secret("signet-ca", { namespace: "signet-system" }),
      "SecretNameReserved",
    ],
    [
      "should refuse the webhook Secret's name in the operator's namespace before it exists",
      identity("tls-thief", { namespace: "signet-system", secretName: "signet-webhook-tls" }),
      undefined,
      "SecretNameReserved",
    ],
    [
      "should refuse the serving CA's name in the operator's namespace",
      identity("x", { namespace: "signet-system", secretName: SERVING_CA_SECRET_NAME }),
      undefined,
      "SecretNameReserved",
    ],
    [
      "should refuse a reserved name even when the Secret carries this identity's marks",
      identity("signet", { namespace: "signet-system", secretName: "signet-ca" }),
      secret("signet-ca", {
        namespace: "signet-system",
        label: "signet",
        owner: { name: "signet", uid: "uid-signet" },
      }),
      "SecretNameReserved",
    ],
    [
      "should allow a reserved name in any other namespace",
      identity("ca", { namespace: "shop", secretName: "signet-ca" }),
      undefined,
      undefined,
    ],
    [
      "should allow other names in the operator's namespace",
      identity("own", { namespace: "signet-system" }),
      undefined,
      undefined,
    ],
    [
      "should compare reserved names exactly, not by prefix or case",
      identity("ca2", { namespace: "signet-system", secretName: "signet-ca-2" }),
      undefined,
      undefined,
    ],
  ])("%s", (_name, mi, existing, reason) => {
    const out = secretClaim({ identity: mi, secret: existing, sameNamespaceIdentities: [mi], reserved });
    if (reason === undefined) {
      expect(out).toEqual({ ok: true });
      return;
    }
    expect(out).toMatchObject({ ok: false, reason });
    expect(out.ok ? "" : out.message).toBe(
      `MachineIdentity signet-system/${mi.metadata.name}: spec.secretName ${mi.spec.secretName} is reserved for Signet's own Secrets in its namespace signet-system (signet-ca, signet-serving-ca, signet-webhook-tls); Signet does not write or delete it for a MachineIdentity; choose another spec.secretName`,
    );
  });
});
