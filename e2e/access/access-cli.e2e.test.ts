import { randomBytes } from "node:crypto";
import { mkdtempSync, symlinkSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import * as k8s from "@kubernetes/client-node";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { AccessSchedule } from "../../operator/src/api/index.ts";
import type { StatusScreen } from "../../operator/src/status/screen.ts";
import { type CliResult, signetAs } from "../audit/support.ts";
import { createIdentity, readIdentity, waitReady } from "../identity/support.ts";
import { createNamespace, kubeConfig, userKubeConfig } from "../support/cluster.ts";
import { installCrds } from "../support/crds.ts";
import type { OperatorProcess } from "../support/operator.ts";
import { grantTenant } from "../support/tenant.ts";
import { waitFor as eventually } from "../support/wait.ts";
import { Access, observe, SCHEDULES, startTestOperator } from "./support.ts";

/**
 * signet suspend, resume, grant, revoke and status, run as a tenant of the namespace would run
 * them: the real CLI as a child process with a non-admin user's client certificate, against the
 * real API server, with the operator as its own process. Each change is observed through the API
 * (NetworkPolicies, Secrets, status), and its Event is read back; the time from the command to the
 * effect is printed, not asserted.
 */

const kc = kubeConfig();
const access = new Access(kc);
const events = kc.makeApiClient(k8s.EventsV1Api);
const operatorNamespace = `signet-cli-${randomBytes(4).toString("hex")}`;
const ALICE = "alice@example.org";
const BOB = "bob@example.org";
let operator: OperatorProcess;
let shop: string;
let aliceConfig: string;
let bobConfig: string;

const asAlice = (...args: string[]) => signetAs(aliceConfig, ...args);

/** A kubeconfig file for `user`, a tenant of `namespace`; `mayRecord` adds create on events.k8s.io Events. */
async function tenantConfig(user: string, namespace: string, mayRecord: boolean): Promise<string> {
  await grantTenant(kc, namespace, user);
  if (mayRecord) {
    const rbac = kc.makeApiClient(k8s.RbacAuthorizationV1Api);
    const name = `${user.split("@")[0]}-events`;
    await rbac.createNamespacedRole({
      namespace,
      body: {
        metadata: { name },
        rules: [{ apiGroups: ["events.k8s.io"], resources: ["events"], verbs: ["create"] }],
      },
    });
    await rbac.createNamespacedRoleBinding({
      namespace,
      body: {
        metadata: { name },
        roleRef: { apiGroup: "rbac.authorization.k8s.io", kind: "Role", name },
        subjects: [{ apiGroup: "rbac.authorization.k8s.io", kind: "User", name: user }],
      },
    });
  }
  const file = join(mkdtempSync(join(tmpdir(), "signet-cli-")), "kubeconfig");
  writeFileSync(file, (await userKubeConfig(user)).exportConfig());
  return file;
}

/** The Events the CLI left on an object, oldest first. */
async function cliEvents(name: string, reason?: string): Promise<k8s.EventsV1Event[]> {
  const list = await events.listNamespacedEvent({ namespace: shop });
  return list.items
    .filter(
      (e) =>
        e.reportingController === "signet.dev/cli" &&
        e.regarding?.name === name &&
        (reason === undefined || e.reason === reason),
    )
    .sort((a, b) => String(a.eventTime).localeCompare(String(b.eventTime)));
}

const exists = (name: string) => async () => (await access.networkPolicy(shop, name)) !== undefined;

/** Runs the CLI, then waits for `effect` to hold; prints how long the command and the whole took. */
async function timed(what: string, run: () => Promise<CliResult>, effect: () => Promise<boolean>) {
  const started = Date.now();
  const result = await run();
  const answered = Date.now();
  expect(result.stderr).toBe("");
  expect(result.code).toBe(0);
  const seen = await observe(effect, true, { intervalMs: 20, timeoutMs: 20_000 });
  console.log(
    `[figure] ${what}: the command took ${answered - started} ms, the effect was seen through the API ${seen - started} ms after it started`,
  );
  return result;
}

beforeAll(async () => {
  await installCrds(kc);
  shop = await createNamespace(kc, "cli-shop");
  operator = await startTestOperator(kc, operatorNamespace, [shop]);
  aliceConfig = await tenantConfig(ALICE, shop, true);
  bobConfig = await tenantConfig(BOB, shop, false);
  await createIdentity(kc, shop, "payments");
  await createIdentity(kc, shop, "checkout");
  await access.createPolicy(shop, "checkout-to-payments", {
    target: { identity: "payments", ports: [{ port: 8443, protocol: "TCP" }] },
    allowFrom: [{ identity: "checkout" }],
  });
  await access.createSchedule(shop, "incident", { windows: [] });
  await access.createPolicy(shop, "oncall-to-payments", {
    target: { identity: "payments" },
    allowFrom: [{ identity: "oncall" }],
    scheduleRef: { name: "incident" },
  });
  await access.createSchedule(shop, "batch-window", { windows: [] });
  await createIdentity(kc, shop, "batch", { scheduleRef: { name: "batch-window" } });
  await waitReady(kc, shop, "payments");
  await waitReady(kc, shop, "checkout");
  await observe(exists("signet-allow-checkout-to-payments"), true);
});

afterAll(async () => {
  await operator?.stop();
});

describe("signet suspend and resume", () => {
  it("should cut a policy's access and restore it, with an Event naming the user each time", async () => {
    const suspended = await timed(
      "suspend policy (allow NetworkPolicy removed)",
      () => asAlice("suspend", `policy/${shop}/checkout-to-payments`, "--reason", "incident 4711"),
      async () => !(await exists("signet-allow-checkout-to-payments")()),
    );
    expect(suspended.stdout).toMatch(
      new RegExp(
        `^policy ${shop}/checkout-to-payments: suspend false -> true \\(incident 4711\\)\\nrecorded Event ${shop}/checkout-to-payments\\.[a-z0-9]+: Suspended by ${ALICE}\\n$`,
      ),
    );
    const policy = await access.readPolicy(shop, "checkout-to-payments");
    expect(policy.spec.suspend).toBe(true);
    const managers = (policy.metadata as { managedFields?: { manager?: string }[] }).managedFields;
    expect(managers?.map((f) => f.manager)).toContain("signet-cli");
    await eventually("the policy's status", async () => {
      const p = await access.readPolicy(shop, "checkout-to-payments");
      return p.status?.reason === "Suspended" && p.status.active === false ? p : undefined;
    });

    const [event] = await cliEvents("checkout-to-payments", "Suspended");
    expect(event).toMatchObject({
      type: "Normal",
      reason: "Suspended",
      action: "Suspend",
      reportingController: "signet.dev/cli",
      regarding: {
        apiVersion: "signet.dev/v1alpha1",
        kind: "AccessPolicy",
        name: "checkout-to-payments",
        namespace: shop,
        uid: policy.metadata.uid,
      },
      note: `suspended by ${ALICE}: incident 4711`,
    });

    // kubectl describe finds Events through the core/v1 view of the same objects.
    const described = await access.events(shop, "checkout-to-payments");
    expect(described.map((e) => [e.reason, e.reportingComponent, e.involvedObject.uid])).toContainEqual([
      "Suspended",
      "signet.dev/cli",
      policy.metadata.uid,
    ]);

    const again = await asAlice("suspend", `ap/${shop}/checkout-to-payments`);
    expect(again.code).toBe(0);
    expect(again.stdout).toBe(`policy ${shop}/checkout-to-payments: already suspended; nothing changed\n`);
    expect(await cliEvents("checkout-to-payments", "Suspended")).toHaveLength(1);

    const resumed = await timed(
      "resume policy (allow NetworkPolicy restored)",
      () => asAlice("resume", "-n", shop, "accesspolicy/checkout-to-payments"),
      exists("signet-allow-checkout-to-payments"),
    );
    expect(resumed.stdout).toMatch(
      new RegExp(`^policy ${shop}/checkout-to-payments: suspend true -> false\\n`),
    );
    const [resumedEvent] = await cliEvents("checkout-to-payments", "Resumed");
    expect(resumedEvent).toMatchObject({ action: "Resume", note: `resumed by ${ALICE}` });
  });

  it("should revoke an identity's Secret and issue a new one on resume", async () => {
    const secretExists = async () => {
      try {
        await access.core.readNamespacedSecret({ namespace: shop, name: "checkout-identity" });
        return true;
      } catch (err) {
        if ((err as { code?: number }).code === 404) return false;
        throw err;
      }
    };
    await timed(
      "suspend identity (Secret removed)",
      () => asAlice("suspend", `identity/${shop}/checkout`, "--reason", "key leaked"),
      async () => !(await secretExists()),
    );
    expect((await readIdentity(kc, shop, "checkout")).spec.suspend).toBe(true);
    expect((await cliEvents("checkout", "Suspended"))[0]).toMatchObject({
      regarding: { kind: "MachineIdentity", name: "checkout" },
      note: `suspended by ${ALICE}: key leaked`,
    });

    await timed(
      "resume identity (Secret issued again)",
      () => asAlice("resume", `mi/${shop}/checkout`),
      secretExists,
    );
    await waitReady(kc, shop, "checkout");
  });

  it("should close every policy that follows a suspended schedule, and open them on resume", async () => {
    const opened = await asAlice("grant", `${shop}/incident`, "--for", "1h", "--reason", "schedule test");
    expect(opened.code).toBe(0);
    await observe(exists("signet-allow-oncall-to-payments"), true);

    await timed(
      "suspend schedule (allow NetworkPolicy of its policy removed)",
      () => asAlice("suspend", `schedule/${shop}/incident`),
      async () => !(await exists("signet-allow-oncall-to-payments")()),
    );
    const suspended = await eventually("the schedule's status", async () => {
      const s = await access.readSchedule(shop, "incident");
      return s.status?.active === false ? s : undefined;
    });
    expect(suspended.spec.suspend).toBe(true);

    await timed(
      "resume schedule (allow NetworkPolicy back)",
      () => asAlice("resume", `as/${shop}/incident`),
      exists("signet-allow-oncall-to-payments"),
    );
    const revoked = await asAlice("revoke", `schedule/${shop}/incident`);
    expect(revoked.code).toBe(0);
    await observe(exists("signet-allow-oncall-to-payments"), false);
  });

  it("should change nothing for a user who may not record the change", async () => {
    const result = await signetAs(bobConfig, "suspend", `policy/${shop}/checkout-to-payments`);
    expect(result.code).toBe(1);
    expect(result.stderr).toBe(
      `signet suspend: user ${BOB} may not create events.k8s.io Events in namespace ${shop}, so the change could not be recorded; nothing was changed. Ask for create on events.events.k8s.io there.\n`,
    );
    expect((await access.readPolicy(shop, "checkout-to-payments")).spec.suspend).toBe(false);
  });

  it("should refuse an object that does not exist with the API server's message", async () => {
    const result = await asAlice("suspend", `policy/${shop}/no-such-policy`);
    expect(result.code).toBe(1);
    expect(result.stdout).toBe("");
    expect(result.stderr).toBe(
      `signet suspend: policy ${shop}/no-such-policy: the API server answered 404: accesspolicies.signet.dev "no-such-policy" not found\n`,
    );
  });

  it("should refuse a target it cannot read as a usage error", async () => {
    const result = await asAlice("suspend", `pod/${shop}/x`);
    expect(result.code).toBe(2);
    expect(result.stderr).toContain('unknown kind "pod"; use identity, policy, schedule');
  });
});

describe("signet grant and revoke", () => {
  const grants = async () => (await access.readSchedule(shop, "incident")).spec.grants ?? [];

  it("should open a grant through the policy's schedule now, and end it early on revoke", async () => {
    const before = await grants();
    const granted = await timed(
      "grant on a policy (allow NetworkPolicy created)",
      () => asAlice("grant", `${shop}/oncall-to-payments`, "--for", "30m", "--reason", "incident 4711"),
      exists("signet-allow-oncall-to-payments"),
    );
    expect(granted.stdout).toMatch(
      new RegExp(
        `^schedule ${shop}/incident \\(spec.scheduleRef of policy ${shop}/oncall-to-payments\\): grant opened (\\S+) -> (\\S+) \\(30m, incident 4711\\)\\n`,
      ),
    );
    const after = await grants();
    expect(after.slice(0, before.length)).toEqual(before);
    const grant = after[after.length - 1];
    expect(grant?.reason).toBe("incident 4711");
    expect(Date.parse(grant?.end ?? "") - Date.parse(grant?.start ?? "")).toBe(30 * 60_000);
    expect(Math.abs(Date.parse(grant?.start ?? "") - Date.now())).toBeLessThan(60_000);
    const open = await eventually("the schedule active", async () => {
      const s = await access.readSchedule(shop, "incident");
      return s.status?.active === true ? s : undefined;
    });
    expect(open.status?.currentWindowEnd).toBe(new Date(grant?.end ?? "").toISOString());

    const event = (await cliEvents("incident", "GrantOpened")).at(-1);
    expect(event).toMatchObject({
      action: "Grant",
      regarding: { kind: "AccessSchedule", name: "incident", namespace: shop },
      related: { kind: "AccessPolicy", name: "oncall-to-payments", namespace: shop },
      note: `grant ${grant?.start} to ${grant?.end} opened by ${ALICE}: incident 4711`,
    });

    const revoked = await timed(
      "revoke (allow NetworkPolicy removed)",
      () => asAlice("revoke", `${shop}/incident`, "--reason", "fixed"),
      async () => !(await exists("signet-allow-oncall-to-payments")()),
    );
    expect(revoked.stdout).toMatch(
      new RegExp(
        `^schedule ${shop}/incident: grant \\S+ -> \\S+ \\(incident 4711\\) revoked, end \\S+ -> \\S+ \\(fixed\\)\\n`,
      ),
    );
    // The grant stays, with the end it really had: the record of who had access when.
    const ended = await grants();
    expect(ended).toHaveLength(after.length);
    expect(ended[ended.length - 1]).toMatchObject({ start: grant?.start, reason: "incident 4711" });
    const endedAt = Date.parse(ended[ended.length - 1]?.end ?? "");
    expect(endedAt).toBeLessThan(Date.parse(grant?.end ?? ""));
    expect(endedAt).toBeLessThanOrEqual(Date.now());
    const revokedEvent = (await cliEvents("incident", "GrantRevoked")).at(-1);
    expect(revokedEvent?.note).toMatch(
      new RegExp(`^grant .* \\(incident 4711\\) ended at .* by ${ALICE}: fixed$`),
    );

    const nothing = await asAlice("revoke", `${shop}/incident`);
    expect(nothing.code).toBe(1);
    expect(nothing.stderr).toMatch(
      new RegExp(`^signet revoke: schedule ${shop}/incident has no grant open at `),
    );
  });

  it("should refuse a grant of 8 days with the API server's message and leave the schedule as it was", async () => {
    const before = await access.readSchedule(shop, "incident");
    const result = await asAlice("grant", `schedule/${shop}/incident`, "--for", "8d", "--reason", "too long");
    expect(result.code).toBe(1);
    expect(result.stdout).toBe("");
    expect(result.stderr).toMatch(
      new RegExp(
        `^signet grant: schedule ${shop}/incident: the API server answered 422: AccessSchedule.signet.dev "incident" is invalid: spec.grants\\[\\d+\\].end: .*a grant lasts at most 7 days \\(168h\\); use a window for recurring access`,
      ),
    );
    const after = await access.readSchedule(shop, "incident");
    expect(after.metadata.resourceVersion).toBe(before.metadata.resourceVersion);
    expect((await cliEvents("incident", "GrantOpened")).map((e) => e.note)).not.toContainEqual(
      expect.stringContaining("too long"),
    );
  });

  it("should say what to do for a grant on a policy without a schedule", async () => {
    const result = await asAlice("grant", `${shop}/checkout-to-payments`, "--for", "30m");
    expect(result.code).toBe(1);
    expect(result.stderr).toBe(
      `signet grant: policy ${shop}/checkout-to-payments has no spec.scheduleRef: its access stands whenever it is not suspended, so no grant opens or ends on it. For access only for a while, create an AccessSchedule without windows, set spec.scheduleRef.name of the policy to it, and grant on that schedule; to cut the access now instead, run signet suspend policy/${shop}/checkout-to-payments\n`,
    );
  });

  it("should open a grant through an identity's schedule: its Secret exists only while the grant is open", async () => {
    const secretExists = async () => {
      try {
        await access.core.readNamespacedSecret({ namespace: shop, name: "batch-identity" });
        return true;
      } catch (err) {
        if ((err as { code?: number }).code === 404) return false;
        throw err;
      }
    };
    expect(await secretExists()).toBe(false);
    const granted = await timed(
      "grant on an identity's schedule (Secret issued)",
      () => asAlice("grant", `identity/${shop}/batch`, "--for", "10m", "--reason", "nightly rerun"),
      secretExists,
    );
    expect(granted.stdout).toMatch(
      new RegExp(
        `^schedule ${shop}/batch-window \\(spec.scheduleRef of identity ${shop}/batch\\): grant opened `,
      ),
    );
    await timed(
      "revoke on an identity's schedule (Secret removed)",
      () => asAlice("revoke", `mi/${shop}/batch`),
      async () => !(await secretExists()),
    );
  });

  it("should ask which is meant when a schedule and a policy share the name, and say when neither exists", async () => {
    await access.createSchedule(shop, "twin", { windows: [] });
    await access.createPolicy(shop, "twin", {
      target: { identity: "payments" },
      allowFrom: [{ identity: "x" }],
    });
    const both = await asAlice("grant", `${shop}/twin`, "--for", "1m");
    expect(both.code).toBe(2);
    expect(both.stderr).toMatch(
      new RegExp(
        `^signet grant: ${shop}/twin is both an AccessSchedule and an AccessPolicy; write schedule/${shop}/twin or policy/${shop}/twin\n`,
      ),
    );
    const named = await asAlice("grant", `schedule/${shop}/twin`, "--for", "10m");
    expect(named.code).toBe(0);

    const neither = await asAlice("revoke", `${shop}/nothing`);
    expect(neither.code).toBe(1);
    expect(neither.stderr).toBe(
      `signet revoke: namespace ${shop} has no AccessSchedule and no AccessPolicy named nothing\n`,
    );

    const noSchedule = await asAlice("grant", `identity/${shop}/payments`, "--for", "1m");
    expect(noSchedule.code).toBe(1);
    expect(noSchedule.stderr).toMatch(
      new RegExp(
        `^signet grant: identity ${shop}/payments has no spec.scheduleRef: its credential exists whenever it is not suspended`,
      ),
    );
  });

  it("should refuse an unreadable --for before asking the API server anything", async () => {
    const result = await asAlice("grant", `${shop}/incident`, "--for", "30");
    expect(result.code).toBe(2);
    expect(result.stderr).toContain("--for must be a duration such as 30m");
  });

  it("should check a change without making it on --dry-run", async () => {
    const before = await access.readSchedule(shop, "incident");
    const result = await asAlice("grant", `${shop}/incident`, "--for", "10m", "--dry-run");
    expect(result.code).toBe(0);
    expect(result.stdout).toMatch(/grant opened .* \(10m\) \(dry run: nothing changed\)\n$/);
    const after = await access.readSchedule(shop, "incident");
    expect(after.metadata.resourceVersion).toBe(before.metadata.resourceVersion);
  });

  it("should keep every grant of concurrent commands: each write is guarded and retried", async () => {
    const before = (await grants()).length;
    const reasons = ["one", "two", "three", "four"];
    const started = Date.now();
    const results = await Promise.all(
      reasons.map((r) => asAlice("grant", `${shop}/incident`, "--for", "5m", "--reason", `concurrent ${r}`)),
    );
    console.log(
      `[figure] ${reasons.length} concurrent grants on one schedule took ${Date.now() - started} ms`,
    );
    for (const result of results) expect(result.code).toBe(0);
    const after = (await access.objects.getNamespacedCustomObject({
      ...SCHEDULES,
      namespace: shop,
      name: "incident",
    })) as AccessSchedule;
    const added = (after.spec.grants ?? []).slice(before).map((g) => g.reason);
    expect(added.sort()).toEqual(reasons.map((r) => `concurrent ${r}`).sort());
    await asAlice("revoke", `${shop}/incident`);
  });
});

describe("signet status", () => {
  it("should show a suspended policy as a problem, and the rows of the namespace", async () => {
    await asAlice("suspend", `policy/${shop}/checkout-to-payments`, "--reason", "status test");
    await eventually("the policy's status", async () => {
      const p = await access.readPolicy(shop, "checkout-to-payments");
      return p.status?.reason === "Suspended" ? p : undefined;
    });
    const result = await asAlice("status", "-n", shop, "-o", "json");
    expect(result.code).toBe(0);
    const screen = JSON.parse(result.stdout) as StatusScreen;
    expect(screen.scope).toBe(`namespace ${shop}`);
    expect(screen.problems).toContainEqual({
      kind: "suspended",
      object: `policy ${shop}/checkout-to-payments`,
      problem: "suspended (spec.suspend): its allow rule is removed",
    });
    expect(screen.identities.map((i) => [i.name, i.ready, i.readyReason])).toEqual([
      ["batch", false, "OutsideWindow"],
      ["checkout", true, "Issued"],
      ["payments", true, "Issued"],
    ]);
    const payments = screen.identities.find((i) => i.name === "payments");
    const mi = await readIdentity(kc, shop, "payments");
    expect(payments?.notAfter).toBe(new Date(mi.status?.notAfter ?? "").toISOString());
    expect(payments?.renewalTime).toBe(new Date(mi.status?.renewalTime ?? "").toISOString());
    expect(screen.policies.map((p) => [p.name, p.active, p.reason])).toEqual([
      ["checkout-to-payments", false, "Suspended"],
      ["oncall-to-payments", false, "ScheduleInactive"],
      ["twin", true, "Active"],
    ]);
    expect(screen.schedules.map((s) => [s.name, s.active])).toEqual([
      ["batch-window", false],
      ["incident", false],
      ["twin", true],
    ]);
    await asAlice("resume", `policy/${shop}/checkout-to-payments`);
  });

  it("should run as a kubectl plugin: kubectl signet status", async () => {
    // kubectl finds a plugin by its file name on PATH; a link to bin/kubectl-signet, as a user makes one.
    const dir = mkdtempSync(join(tmpdir(), "signet-plugin-"));
    symlinkSync(
      fileURLToPath(new URL("../../bin/kubectl-signet", import.meta.url)),
      join(dir, "kubectl-signet"),
    );
    const { execFile } = await import("node:child_process");
    const result = await new Promise<CliResult>((resolve) => {
      execFile(
        "kubectl",
        ["signet", "status", "-n", shop],
        {
          env: { ...process.env, KUBECONFIG: aliceConfig, PATH: `${dir}:${process.env.PATH}` },
          timeout: 60_000,
        },
        (err, stdout, stderr) =>
          resolve({ code: err ? Number((err as { code?: number }).code ?? 1) : 0, stdout, stderr }),
      );
    });
    expect(result.stderr).toBe("");
    expect(result.code).toBe(0);
    expect(result.stdout).toMatch(new RegExp(`^Signet status of namespace ${shop} at `));
    expect(result.stdout).toContain("IDENTITIES\nNAME      READY");
    expect(result.stdout).toMatch(/\nincident\s+closed, nothing scheduled/);
  });
});
