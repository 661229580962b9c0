// npm run demo [-- --keep]: Signet end to end on a real single-node cluster, narrated step by step:
// the chart installed with Helm, the examples applied, pods that prove who they are over mTLS,
// AccessPolicies enforced on the node's network, and a rotation reaching a running pod.
// It uses the cluster of `npm run cluster -- up` when one runs, or starts a node of its own, and
// leaves nothing behind unless --keep is given.
import { execFileSync } from "node:child_process";
import { X509Certificate } from "node:crypto";
import { existsSync, readdirSync, readFileSync } from "node:fs";
import { join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { parseArgs } from "node:util";
import * as k8s from "@kubernetes/client-node";
import { parseAllDocuments } from "yaml";
import { buildImages } from "../e2e/harness/images.ts";
import {
  missingNodePrerequisites,
  NODE_NAME,
  type NodeCluster,
  startNodeCluster,
} from "../e2e/harness/node.ts";
import {
  type ClusterOps,
  clusterOps,
  PEER_PORT,
  peerPod,
  probeLines,
  RELEASE_NAMESPACE,
  type SignetStatus,
} from "../e2e/node/cluster-ops.ts";
import { applyObject } from "../e2e/support/apply.ts";
import { waitFor } from "../e2e/support/wait.ts";
import type { AccessSchedule, MachineIdentity } from "../operator/src/api/index.ts";

const { values: flags } = parseArgs({ options: { keep: { type: "boolean", default: false } } });
const root = fileURLToPath(new URL("../", import.meta.url));
const stateDir = process.env.SIGNET_CLUSTER_DIR ?? join(root, ".signet", "cluster");
const tty = process.stdout.isTTY;
const paint = (code: number) => (s: string) => (tty ? `\x1b[${code}m${s}\x1b[0m` : s);
const bold = paint(1);
const green = paint(32);
const red = paint(31);
const dim = paint(2);
const cyan = paint(36);

let stepNo = 0;
const step = (title: string) => console.log(`\n${bold(`${++stepNo}. ${title}`)}`);
const say = (line: string) => console.log(`   ${line}`);

const RELEASE = "signet";
const OPERATOR_PODS = `app.kubernetes.io/instance=${RELEASE},app.kubernetes.io/component=operator`;
const SHOP = "shop";
const DEMO_NAMESPACES = [SHOP, "finance"];
const FIELD_MANAGER = "signet-demo";
const idOf = (name: string) => `spiffe://cluster.local/ns/${SHOP}/id/${name}`;
const peer = (...args: string[]) => ["node", "/peer/peer.ts", ...args];

const until = <T>(what: string, fn: () => Promise<T | undefined>, timeoutMs = 60_000, intervalMs = 200) =>
  waitFor(what, fn, { timeoutMs, intervalMs });

/** Fails with `what` when `promise` takes longer than `ms`. */
function within<T>(what: string, ms: number, promise: Promise<T>): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`timed out after ${ms / 1000} s: ${what}`)), ms);
  });
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}

const secs = (ms: number) => `${(ms / 1000).toFixed(1)} s`;
const short = (serial: string) => `${serial.toLowerCase().slice(0, 12)}…`;
const sameSerial = (a: string, b: string) => a !== "" && b !== "" && BigInt(`0x${a}`) === BigInt(`0x${b}`);
const serialOf = (secret: k8s.V1Secret) =>
  new X509Certificate(Buffer.from(secret.data?.["tls.crt"] ?? "", "base64")).serialNumber;

const code = (err: unknown) => (err as { code?: number }).code;
const bodyMessage = (err: unknown): string => {
  const body = (err as { body?: unknown }).body;
  try {
    const parsed = typeof body === "string" ? JSON.parse(body) : body;
    return (parsed as { message?: string }).message ?? String(err);
  } catch {
    return String(body ?? err);
  }
};

/** Long messages broken at spaces into lines of at most `width`, for the narration. */
function wrap(text: string, width = 96): string[] {
  const lines: string[] = [];
  let line = "";
  for (const word of text.split(/\s+/)) {
    if (line && line.length + word.length + 1 > width) {
      lines.push(line);
      line = word;
    } else line = line ? `${line} ${word}` : word;
  }
  if (line) lines.push(line);
  return lines;
}

function loadExamples(): k8s.KubernetesObject[] {
  const dir = `${root}examples/`;
  const order = (f: string) => (f.startsWith("namespaces") ? 0 : f.startsWith("serviceaccounts") ? 1 : 2);
  return readdirSync(dir)
    .filter((f) => f.endsWith(".yaml"))
    .sort((a, b) => order(a) - order(b) || a.localeCompare(b))
    .flatMap((f) =>
      parseAllDocuments(readFileSync(dir + f, "utf8")).map((d) => d.toJS() as k8s.KubernetesObject),
    )
    .filter(Boolean);
}

/** The cluster of `npm run cluster -- up`, when its state file names a live single-node cluster. */
function runningNodeCluster(): { kubeconfig: string; server: string; pid: number } | undefined {
  const file = join(stateDir, "state.json");
  if (!existsSync(file)) return undefined;
  const state = JSON.parse(readFileSync(file, "utf8")) as {
    pid: number;
    server: string;
    kubeconfig: string;
    kind: string;
  };
  if (state.kind !== "node") return undefined;
  try {
    process.kill(state.pid, 0);
  } catch {
    return undefined;
  }
  return state;
}

/** "Mon-Fri 08:00-18:00 Europe/Berlin, it is Tue 00:05 there" for a schedule's spec. */
function describeSchedule(schedule: AccessSchedule | undefined): string {
  if (!schedule) return "";
  const tz = schedule.spec.timeZone ?? "UTC";
  const windows = (schedule.spec.windows ?? []).map((w) => {
    const days = w.days ?? [];
    const span =
      days.length === 7 ? "daily" : days.length === 5 && days[0] === "Mon" ? "Mon-Fri" : days.join(",");
    return `${span} ${w.start}-${w.end}`;
  });
  const now = new Intl.DateTimeFormat("en-GB", {
    timeZone: tz,
    weekday: "short",
    hour: "2-digit",
    minute: "2-digit",
  }).format(new Date());
  return `${windows.join(", ")} ${tz}; it is ${now.replace(",", "")} there`;
}

async function main(): Promise<void> {
  const started = Date.now();
  let cluster: NodeCluster | undefined;
  let stopping = false;
  const stopCluster = async () => {
    if (stopping) return;
    stopping = true;
    await cluster?.stop();
  };
  for (const [signal, exitCode] of [
    ["SIGINT", 130],
    ["SIGTERM", 143],
  ] as const) {
    process.once(signal, () => void stopCluster().finally(() => process.exit(exitCode)));
  }

  try {
    step("A single-node Kubernetes cluster");
    let kubeconfigPath: string;
    const running = runningNodeCluster();
    const external = process.env.KUBECONFIG;
    if (external && resolve(external) !== (running && resolve(running.kubeconfig))) {
      say(dim(`KUBECONFIG names another cluster: the demo leaves it alone and runs on a local node`));
    }
    if (running) {
      kubeconfigPath = running.kubeconfig;
      say(`using the cluster of npm run cluster -- up at ${running.server} (pid ${running.pid})`);
      const socket = join(stateDir, "containerd", "containerd.sock");
      if (existsSync(socket)) {
        const t = Date.now();
        for (const file of buildImages()) {
          execFileSync("ctr", ["-a", socket, "-n", "k8s.io", "images", "import", file], { stdio: "pipe" });
        }
        say(`imported the current images into its containerd (${secs(Date.now() - t)})`);
      }
    } else {
      const missing = missingNodePrerequisites();
      if (missing.length > 0) {
        say(red("this machine cannot run a Kubernetes node; missing:"));
        for (const m of missing) say(`  - ${m}`);
        say("`npm run setup` installs them (as root), then run the demo again");
        process.exitCode = 1;
        return;
      }
      say("building the images signet:dev and signet-e2e-peer:dev (reused when unchanged)");
      const images = buildImages();
      say("starting etcd, kube-apiserver, controller-manager, scheduler, and a node with containerd,");
      say("kubelet, kube-proxy and kube-router (NetworkPolicies), in Linux namespaces of its own");
      const t = Date.now();
      cluster = await startNodeCluster({ images });
      kubeconfigPath = cluster.kubeconfigPath;
      say(`${green("ready")} at ${cluster.controlPlane.server} in ${secs(Date.now() - t)}`);
    }
    const kc = new k8s.KubeConfig();
    kc.loadFromFile(kubeconfigPath);
    const ops = clusterOps(kc, () => kubeconfigPath);
    const node = await ops.core.readNode({ name: NODE_NAME });
    const ready = node.status?.conditions?.find((c) => c.type === "Ready")?.status === "True";
    say(
      `node ${NODE_NAME} ${ready ? green("Ready") : red("NotReady")}: kubelet ${node.status?.nodeInfo?.kubeletVersion}, ${node.status?.nodeInfo?.containerRuntimeVersion}`,
    );
    const nodeIp = node.status?.addresses?.find((a) => a.type === "InternalIP")?.address;
    say(dim(`node ${nodeIp}, pods ${node.spec?.podCIDR}, behind a veth pair: nothing leaves the machine`));

    await demo(ops, kubeconfigPath, !cluster);
    if (cluster && !flags.keep) {
      const t = Date.now();
      await stopCluster();
      say(dim(`stopped the cluster and its node (${secs(Date.now() - t)})`));
    }

    console.log(`\n${green("Demo complete")} in ${((Date.now() - started) / 1000).toFixed(0)} s.`);
    if (flags.keep) {
      say(`export KUBECONFIG=${kubeconfigPath}`);
      if (cluster) {
        say("the cluster runs until Ctrl-C");
        await new Promise(() => setInterval(() => {}, 1 << 30));
      }
    }
  } finally {
    await stopCluster();
  }
}

async function demo(ops: ClusterOps, kubeconfigPath: string, persistent: boolean): Promise<void> {
  const { core, networking, objects } = ops;
  const exec = (pod: string, args: string[], ms = 20_000) =>
    within(`kubectl exec ${pod} -- ${args.join(" ")}`, ms, ops.execIn(SHOP, pod, peer(...args)));

  // ---------------------------------------------------------------------------------------------
  step("Install Signet with Helm");
  const upgrade = await ops.helm(["status", RELEASE, "--namespace", RELEASE_NAMESPACE]).then(
    () => true,
    () => false,
  );
  say(
    `helm ${upgrade ? "upgrade --install" : "install"} ${RELEASE} charts/signet -n ${RELEASE_NAMESPACE} \\`,
  );
  say("  --set image.repository=signet,image.tag=dev,image.pullPolicy=Never,minTTL=1m");
  if (upgrade) say(dim("(a release from an earlier run is there: upgraded in place)"));
  let t = Date.now();
  await within("helm install", 240_000, ops.installChart(RELEASE, ["minTTL=1m"], { upgrade }));
  say(
    `${green(upgrade ? "upgraded" : "installed")} in ${secs(Date.now() - t)}: CRDs, RBAC, webhooks, the Deployment`,
  );
  const pods = (await core.listNamespacedPod({ namespace: RELEASE_NAMESPACE, labelSelector: OPERATOR_PODS }))
    .items;
  for (const pod of pods) {
    const podReady = pod.status?.conditions?.find((c) => c.type === "Ready")?.status === "True";
    say(
      `${pod.metadata?.name}  ${pod.status?.phase}${podReady ? ", Ready" : ""}  image ${pod.spec?.containers[0]?.image}  ${pod.status?.podIP}`,
    );
  }
  const leader = await until(
    "a leader in Lease signet-system/signet-controller",
    () => ops.leaseHolder(),
    30_000,
  );
  say(`leader (Lease ${RELEASE_NAMESPACE}/signet-controller): ${cyan(leader)}`);
  say(dim("both replicas serve the webhook; the leader alone runs the controllers"));
  const ca = await until("Signet's root CA", () =>
    core.readNamespacedSecret({ namespace: RELEASE_NAMESPACE, name: "signet-ca" }),
  );
  const rootCa = new X509Certificate(Buffer.from(ca.data?.["tls.crt"] ?? "", "base64"));
  say(`root CA in Secret ${RELEASE_NAMESPACE}/signet-ca: ${rootCa.subject.replace(/\n/g, ", ")}`);

  // ---------------------------------------------------------------------------------------------
  step("Apply the examples: the shop and its payments");
  if (persistent) {
    const left = [];
    for (const name of DEMO_NAMESPACES) {
      if (await core.readNamespace({ name }).catch(() => undefined)) left.push(name);
    }
    if (left.length > 0) {
      say(dim(`namespaces ${left.join(", ")} are left from an earlier run: deleting them first`));
      await deleteNamespaces(ops, left);
    }
  }
  const examples = loadExamples();
  for (const obj of examples) await applyObject(ops.kc, obj, { fieldManager: FIELD_MANAGER });
  say(`${examples.length} objects from examples/: namespaces shop and finance, ServiceAccounts,`);
  say("MachineIdentities, AccessSchedules, AccessPolicies and finance's IssuancePolicy");
  const read = async <T>(namespace: string, plural: string, name: string) =>
    (await objects.getNamespacedCustomObject({
      group: "signet.dev",
      version: "v1alpha1",
      namespace,
      plural,
      name,
    })) as T;
  const schedules = new Map<string, AccessSchedule>();
  for (const obj of examples.filter((o) => o.kind === "AccessSchedule")) {
    const key = `${obj.metadata?.namespace}/${obj.metadata?.name}`;
    schedules.set(
      key,
      await until(`AccessSchedule ${key} observed`, async () => {
        const got = await read<AccessSchedule>(
          obj.metadata?.namespace ?? "",
          "accessschedules",
          obj.metadata?.name ?? "",
        );
        return got.status?.active === undefined ? undefined : got;
      }),
    );
  }
  for (const obj of examples.filter((o) => o.kind === "MachineIdentity")) {
    const namespace = obj.metadata?.namespace ?? "";
    const name = obj.metadata?.name ?? "";
    const mi = await until(`MachineIdentity ${namespace}/${name} reconciled`, async () => {
      const got = await read<MachineIdentity>(namespace, "machineidentities", name);
      return got.status?.conditions?.some((c) => c.type === "Ready") ? got : undefined;
    });
    const cond = mi.status?.conditions?.find((c) => c.type === "Ready");
    if (cond?.status === "True") {
      say(`${green("✔")} ${cyan(mi.status?.spiffeID ?? "")}  serial ${short(mi.status?.serialNumber ?? "")}`);
    } else {
      say(`${dim("○")} ${namespace}/${name}: ${cond?.reason}`);
      for (const line of wrap(cond?.message ?? "", 90)) say(dim(`    ${line}`));
      const ref = mi.spec.scheduleRef?.name;
      const schedule = ref ? schedules.get(`${namespace}/${ref}`) : undefined;
      if (schedule) say(dim(`    ${ref}: ${describeSchedule(schedule)}`));
    }
  }
  for (const obj of examples.filter((o) => o.kind === "AccessPolicy")) {
    const namespace = obj.metadata?.namespace ?? "";
    const name = obj.metadata?.name ?? "";
    const ap = await until(`AccessPolicy ${namespace}/${name} reconciled`, async () => {
      const got = await ops.readSignet(namespace, "AccessPolicy", name);
      return got.status?.active === undefined ? undefined : (got as { status: SignetStatus });
    });
    const spec = (obj as { spec?: { scheduleRef?: { name?: string } } }).spec;
    const schedule = spec?.scheduleRef?.name
      ? schedules.get(`${namespace}/${spec.scheduleRef.name}`)
      : undefined;
    if (ap.status.active) {
      say(`${green("●")} AccessPolicy ${name}: active (${ap.status.networkPolicies?.join(", ") ?? ""})`);
    } else {
      say(`${dim("○")} AccessPolicy ${name}: inactive, ${ap.status.reason}`);
    }
    if (schedule) say(dim(`    ${spec?.scheduleRef?.name}: ${describeSchedule(schedule)}`));
  }

  // ---------------------------------------------------------------------------------------------
  step("Pods get their identities at admission");
  const checkoutId = idOf("checkout");
  const paymentsId = idOf("payments-api");
  // receipts rotates every 30 s (step 6); reporting is an identity no AccessPolicy names (step 5).
  t = Date.now();
  await Promise.all([
    ops.createIdentity(SHOP, "receipts", { ttl: "90s", renewBefore: "60s" }),
    ops.createIdentity(SHOP, "reporting"),
  ]);
  const [payments, , receipts] = await within(
    "the demo's pods Running",
    120_000,
    Promise.all([
      ops.startPeerPod(
        SHOP,
        "payments",
        "payments-api",
        ["serve", "--port", `${PEER_PORT}`, "--allow", checkoutId],
        {
          serviceAccount: "payments",
        },
      ),
      ops.startPeerPod(SHOP, "checkout", "checkout", ["idle"]),
      ops.startPeerPod(SHOP, "receipts", "receipts", [
        "serve",
        "--port",
        `${PEER_PORT}`,
        "--allow",
        checkoutId,
      ]),
      ops.startPeerPod(SHOP, "reporting", "reporting", ["idle"]),
    ]),
  );
  say(`pods payments, checkout, receipts and reporting Running in ${secs(Date.now() - t)}`);
  const container = payments.spec?.containers[0];
  const mount = container?.volumeMounts?.find((m) => m.name.startsWith("signet"));
  say(`${green("admitted")} shop/payments, ServiceAccount payments, asking for payments-api:`);
  say(
    `   label signet.dev/identity=${payments.metadata?.labels?.["signet.dev/identity"]} (set by the webhook)`,
  );
  say(
    `   Secret ${payments.spec?.volumes?.find((v) => v.name === mount?.name)?.secret?.secretName} at ${mount?.mountPath} (read-only)`,
  );
  say(`   env ${container?.env?.map((e) => e.name).join(", ")}`);
  const log = (pod: string) => core.readNamespacedPodLog({ namespace: SHOP, name: pod, container: "app" });
  const serving = await until("payments serving", async () =>
    (await log("payments")).split("\n").find((l) => l.startsWith("serving")),
  );
  say(`   its log: ${serving.replace(/serial (\w+)/, (_, s: string) => `serial ${short(s)}`)}`);
  const target = `${payments.status?.podIP}:${PEER_PORT}`;
  const hello = await until(
    "checkout's mTLS connection to payments (kube-router admitting the new pods)",
    async () => {
      const r = await exec("checkout", ["connect", "--to", target, "--expect", paymentsId]);
      return r.code === 0 ? r.stdout.trim() : undefined;
    },
    30_000,
  );
  say(`checkout -> payments (${target}), mTLS with their SVIDs:`);
  const [greet, from] = hello.replace(/serial (\w+)/, (_, s: string) => `serial ${short(s)}`).split(" from ");
  say(`   ${green(greet ?? "")}`);
  if (from) say(`   ${green(`from ${from}`)}`);
  say(dim("payments accepts checkout's SPIFFE ID only; checkout accepts only payments-api's"));
  try {
    await core.createNamespacedPod({
      namespace: SHOP,
      body: peerPod("intruder", "payments-api", ["idle"], { serviceAccount: "default" }),
    });
    say(red("unexpected: a pod with the wrong ServiceAccount was admitted"));
  } catch (err) {
    say(`${red("denied")} shop/intruder, ServiceAccount default, asking for payments-api:`);
    for (const line of wrap(bodyMessage(err), 92)) say(`   ${line}`);
  }
  try {
    await core.createNamespacedPod({
      namespace: SHOP,
      body: {
        metadata: { name: "spoofer", labels: { "signet.dev/identity": "payments-api" } },
        spec: { containers: [{ name: "app", image: "signet-e2e-peer:dev" }] },
      },
    });
    say(red("unexpected: a hand-set identity label was accepted"));
  } catch (err) {
    say(`${red("denied")} shop/spoofer with a hand-set label signet.dev/identity=payments-api:`);
    const message = bodyMessage(err);
    for (const line of wrap(message.length > 180 ? `${message.slice(0, 180)}…` : message, 92))
      say(`   ${line}`);
  }

  // ---------------------------------------------------------------------------------------------
  step("Micro-segmentation on the node's network");
  const netpols = await networking.listNamespacedNetworkPolicy({ namespace: SHOP });
  say("NetworkPolicies Signet made in shop:");
  for (const p of netpols.items) say(`   ${p.metadata?.name}`);
  const blocked = await until(
    "reporting's TCP connection to payments blocked",
    async () => {
      const r = await exec("reporting", ["tcp", "--to", target, "--timeout", "1000"]);
      return r.code === 1 ? r.stdout.trim() : undefined;
    },
    30_000,
  );
  say(`reporting (an identity no AccessPolicy names) -> payments:${PEER_PORT}: ${red(blocked)}`);
  say(dim("   no TCP connection at all: the node's firewall stops it before any TLS is spoken"));
  const allowed = await exec("checkout", ["tcp", "--to", target]);
  say(
    `checkout -> payments:${PEER_PORT}: ${allowed.code === 0 ? green(allowed.stdout.trim()) : red(allowed.stdout.trim())}`,
  );

  say("suspending AccessPolicy checkout-to-payments while checkout connects every 100 ms:");
  const probe = exec(
    "checkout",
    ["probe", "--to", target, "--expect", paymentsId, "--every", "100", "--for", "6000"],
    30_000,
  );
  await new Promise((r) => setTimeout(r, 1_500));
  const suspendedAt = Date.now();
  await ops.patchSignet(SHOP, "AccessPolicy", "checkout-to-payments", { suspend: true });
  const lines = probeLines((await probe).stdout);
  const okBefore = lines.filter((l) => l.at < suspendedAt && l.outcome === "ok").length;
  const cut = lines.find((l) => l.at >= suspendedAt && l.outcome !== "ok");
  if (cut) {
    say(
      `   ${okBefore} connections ok, then ${red(cut.outcome)} ${secs(cut.at - suspendedAt)} after the patch`,
    );
  } else {
    const late = await until(
      "checkout's connections to stop after the suspend",
      async () =>
        (await exec("checkout", ["tcp", "--to", target, "--timeout", "500"])).code === 1 ? true : undefined,
      30_000,
    );
    if (late) say(`   new connections stopped within ${secs(Date.now() - suspendedAt)} of the patch`);
  }
  const suspended = await ops.readSignet(SHOP, "AccessPolicy", "checkout-to-payments");
  say(dim(`   status: active=${suspended.status?.active}, ${suspended.status?.reason}`));
  await ops.patchSignet(SHOP, "AccessPolicy", "checkout-to-payments", { suspend: false });
  const resumedAt = Date.now();
  await until(
    "checkout connecting again after the resume",
    async () =>
      (await exec("checkout", ["tcp", "--to", target, "--timeout", "500"])).code === 0 ? true : undefined,
    30_000,
    100,
  );
  say(`resumed: checkout connects again ${secs(Date.now() - resumedAt)} later`);

  // ---------------------------------------------------------------------------------------------
  step("Rotation reaches a running pod");
  const receiptsTarget = `${receipts.status?.podIP}:${PEER_PORT}`;
  const firstLine = await until("receipts serving", async () =>
    (await log("receipts")).split("\n").find((l) => l.startsWith("serving")),
  );
  const firstSerial = /serial (\w+)/.exec(firstLine)?.[1] ?? "";
  say(`receipts (ttl 90s, renewBefore 60s) started with serial ${short(firstSerial)}`);
  const readSerial = async () =>
    serialOf(await core.readNamespacedSecret({ namespace: SHOP, name: "receipts-identity" }));
  const seenBefore = !sameSerial(await readSerial(), firstSerial);
  const rotated = await until(
    "the Secret receipts-identity to rotate",
    async () => {
      const serial = await readSerial();
      return sameSerial(serial, firstSerial) ? undefined : { serial, at: Date.now() };
    },
    90_000,
  );
  say(`Secret receipts-identity rotated: a new key, serial ${short(rotated.serial)}`);
  const reload = await until(
    "the receipts pod to reload a new certificate",
    async () => {
      for (const line of (await log("receipts")).split("\n")) {
        const m = /^reloaded serial (\w+) .* at (\d+)$/.exec(line);
        if (m && !sameSerial(m[1] ?? "", firstSerial)) return { line, serial: m[1] ?? "", at: Number(m[2]) };
      }
      return undefined;
    },
    90_000,
  );
  say(`its log: ${green(reload.line.replace(/serial (\w+)/, (_, s: string) => `serial ${short(s)}`))}`);
  if (!seenBefore && sameSerial(reload.serial, rotated.serial))
    say(dim(`   ${secs(reload.at - rotated.at)} after the Secret changed: kubelet sync, then the file poll`));
  const greeting = await exec("checkout", ["connect", "--to", receiptsTarget, "--expect", idOf("receipts")]);
  const presented = /serial (\w+)/.exec(greeting.stdout)?.[1] ?? "";
  const reloads = (await log("receipts")).split("\n").filter((l) => l.startsWith("reloaded"));
  const latest = /serial (\w+)/.exec(reloads.at(-1) ?? "")?.[1] ?? "";
  const fresh =
    !sameSerial(presented, firstSerial) &&
    (sameSerial(presented, reload.serial) || sameSerial(presented, latest));
  say(`checkout -> receipts now sees serial ${fresh ? green(short(presented)) : red(short(presented))}`);
  const restarts = (await core.readNamespacedPod({ namespace: SHOP, name: "receipts" })).status
    ?.containerStatuses?.[0]?.restartCount;
  say(dim(`   same process, no restart (restarts: ${restarts ?? 0}), no dropped listener`));

  // ---------------------------------------------------------------------------------------------
  step("What to try next");
  say(
    flags.keep
      ? `export KUBECONFIG=${kubeconfigPath}`
      : dim("npm run demo -- --keep leaves all of it running for these:"),
  );
  say(`kubectl get signet -A                          ${dim("# identities, policies, schedules")}`);
  say(`kubectl -n shop describe mid payments-api      ${dim("# conditions and events")}`);
  say(`kubectl -n shop get networkpolicies            ${dim("# what the AccessPolicies compiled to")}`);
  say(`kubectl -n shop logs receipts                  ${dim("# a reload every 30 s")}`);
  say(`kubectl -n shop exec checkout -- node /peer/peer.ts connect --to ${target} \\`);
  say(`  --expect ${paymentsId}`);
  say(`npm exec signet -- audit --all-namespaces      ${dim("# who holds what, who may talk to whom")}`);
  say(`docs/quickstart.md, docs/concepts.md           ${dim("# the ideas behind it")}`);

  if (!flags.keep) {
    t = Date.now();
    console.log("");
    await deleteNamespaces(ops, DEMO_NAMESPACES, false);
    await objects
      .deleteClusterCustomObject({
        group: "signet.dev",
        version: "v1alpha1",
        plural: "issuancepolicies",
        name: "finance",
      })
      .catch(() => undefined);
    await ops.helm(["uninstall", RELEASE, "--namespace", RELEASE_NAMESPACE, "--wait", "--timeout", "120s"]);
    // On a cluster that stays, the next run starts from nothing: wait until the namespaces are gone.
    await deleteNamespaces(ops, [...DEMO_NAMESPACES, RELEASE_NAMESPACE], persistent);
    say(
      dim(`uninstalled the chart, deleted shop, finance and ${RELEASE_NAMESPACE} (${secs(Date.now() - t)})`),
    );
  }
}

/** Deletes namespaces and, when `wait`, returns once they are gone. */
async function deleteNamespaces(ops: ClusterOps, names: string[], wait = true): Promise<void> {
  for (const name of names) {
    await ops.core.deleteNamespace({ name }).catch((err) => {
      if (code(err) !== 404) throw err;
    });
  }
  if (!wait) return;
  for (const name of names) {
    await until(
      `namespace ${name} deleted`,
      async () => ((await ops.core.readNamespace({ name }).catch(() => undefined)) ? undefined : true),
      120_000,
      500,
    );
  }
}

main().then(
  () => process.exit(),
  (err: unknown) => {
    console.error(`\n${red("demo failed")}: ${(err as Error).message}`);
    process.exit(1);
  },
);
