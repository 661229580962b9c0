// A real single-node Kubernetes on this machine: the full control plane on the host, and the node
// (containerd, kubelet, kube-proxy, kube-router's NetworkPolicy firewall) inside network, mount and
// PID namespaces of its own. The node's only link is a veth pair to the host: pods and Services
// live on a bridge inside that network namespace, which has no default route, so nothing a pod
// sends can leave the machine. Killing the namespaces' first process ends every process in them
// (containers and shims included), and the kernel then removes the bridge, the veth pair and every
// iptables, ipset and nftables rule made inside.
import { execFileSync, spawn, spawnSync } from "node:child_process";
import {
  closeSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  openSync,
  readdirSync,
  readFileSync,
  rmdirSync,
  rmSync,
  writeFileSync,
} from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import * as k8s from "@kubernetes/client-node";
import { stringify } from "yaml";
import { issueServingCert } from "../../testing/certs.ts";
import { controlPlaneBinaries } from "./binaries.ts";
import { type ControlPlane, FEATURE_GATES, KUBELET_CLIENT_USER, startControlPlane } from "./controlplane.ts";
import { childrenOf, type Supervised, startSupervised } from "./supervised.ts";

/**
 * The address plan of the node in `slot` (several nodes can run side by side, each with its own
 * ranges). Nothing here is routed beyond the host end of the veth pair.
 */
export function nodeNetwork(slot: number) {
  const octet = 250 - slot;
  return {
    slot,
    /** The host end of the veth pair: kube-apiserver binds here, pods reach it through the node. */
    hostIp: `10.${octet}.255.1`,
    /** The node's end: the kubelet's InternalIP. */
    nodeIp: `10.${octet}.255.2`,
    linkPrefix: 30,
    /** The pod bridge inside the node's network namespace. */
    podCidr: `10.${octet}.0.0/24`,
    podGateway: `10.${octet}.0.1`,
    serviceCidr: `10.${octet}.128.0/24`,
    kubernetesServiceIp: `10.${octet}.128.1`,
    apiPort: 6443,
    hostLink: `signet-node${slot}`,
    bridge: "signet0",
  };
}

export type NodeNetwork = ReturnType<typeof nodeNetwork>;

/** How many nodes may run at once on one machine. */
export const NODE_SLOTS = 4;

/** The first slot whose host link does not exist. */
function freeSlot(): number {
  for (let slot = 0; slot < NODE_SLOTS; slot++) {
    if (!existsSync(`/sys/class/net/${nodeNetwork(slot).hostLink}`)) return slot;
  }
  throw new Error(
    `${NODE_SLOTS} Signet nodes are running on this machine (network devices signet-node0 to ` +
      `signet-node${NODE_SLOTS - 1} exist); stop one first (npm run cluster -- down)`,
  );
}

export const NODE_NAME = "signet-node";

export interface NodeCluster {
  readonly controlPlane: ControlPlane;
  readonly kubeconfigPath: string;
  readonly dir: string;
  readonly nodeName: string;
  /** The containerd socket (images are imported through it with ctr). */
  readonly containerdSocket: string;
  /** The node's addresses. */
  readonly network: NodeNetwork;
  /** The host pid of the first process in the node's namespaces (nsenter -t it to look inside). */
  readonly initPid: number;
  /** Imports docker-archive files into the node's containerd (namespace k8s.io). */
  importImages(files: string[]): void;
  stop(): Promise<void>;
}

export interface NodeOptions {
  /** Which address plan to use (nodeNetwork); default the first free one. */
  slot?: number;
  dir?: string;
  removeOnStop?: boolean;
  /** docker-archive files imported before the kubelet starts (the pause image among them). */
  images?: string[];
  readyTimeoutMs?: number;
}

/** What the prerequisite check asks of a machine; `thisMachine` asks the real one. */
export interface MachineProbe {
  isRoot(): boolean;
  onPath(command: string): boolean;
  exists(path: string): boolean;
}

export const thisMachine: MachineProbe = {
  isRoot: () => process.getuid?.() === 0,
  onPath: (command) => spawnSync("sh", ["-c", 'command -v "$1"', "sh", command]).status === 0,
  exists: existsSync,
};

/** Commands a node needs, with the Debian package that provides each. */
const NODE_COMMANDS: readonly (readonly [string, string])[] = [
  ["containerd", "containerd"],
  ["ctr", "containerd"],
  ["runc", "runc"],
  ["iptables", "iptables"],
  ["ipset", "ipset"],
  ["conntrack", "conntrack"],
  ["ip", "iproute2"],
  ["unshare", "util-linux"],
  ["nsenter", "util-linux"],
  ["buildah", "buildah"],
];

/** What a node needs from the machine; each missing piece is named with how to get it. */
export function missingNodePrerequisites(machine: MachineProbe = thisMachine): string[] {
  const missing: string[] = [];
  const need = (ok: boolean, what: string) => {
    if (!ok) missing.push(what);
  };
  need(machine.isRoot(), "root (the node creates namespaces, mounts and network devices)");
  for (const [cmd, pkg] of NODE_COMMANDS) {
    need(machine.onPath(cmd), `the ${cmd} command (apt-get install ${pkg})`);
  }
  for (const plugin of ["bridge", "host-local", "loopback"]) {
    need(
      machine.exists(`/usr/lib/cni/${plugin}`),
      `the CNI ${plugin} plugin in /usr/lib/cni (apt-get install containernetworking-plugins)`,
    );
  }
  need(
    machine.exists("/bin/busybox"),
    "/bin/busybox, the sandbox image's program (apt-get install busybox-static)",
  );
  need(machine.exists("/proc/sys/net/bridge"), "the kernel's br_netfilter (modprobe br_netfilter)");
  need(machine.exists("/dev/kmsg"), "/dev/kmsg (the kubelet's OOM watcher reads it)");
  return missing;
}

/** Starts the control plane and the node, and returns once the node is Ready with its network up. */
export async function startNodeCluster(options: NodeOptions = {}): Promise<NodeCluster> {
  const missing = missingNodePrerequisites();
  if (missing.length > 0) {
    throw new Error(`this machine cannot run a Kubernetes node; missing:\n  - ${missing.join("\n  - ")}`);
  }
  const net = nodeNetwork(options.slot ?? freeSlot());
  if (existsSync(`/sys/class/net/${net.hostLink}`)) {
    throw new Error(`a Signet node already runs in slot ${net.slot} (network device ${net.hostLink} exists)`);
  }
  const bins = controlPlaneBinaries();
  // A node killed with its harness leaves its pod cgroups (empty) behind; start from none.
  removeKubeletCgroups(cgroupRootOf(net));
  createKubeletCgroups(cgroupRootOf(net));
  const dir = options.dir ?? mkdtempSync(join(tmpdir(), "signet-node-"));
  const removeOnStop = options.removeOnStop ?? options.dir === undefined;
  mkdirSync(dir, { recursive: true });
  const processes: Supervised[] = [];
  let controlPlane: ControlPlane | undefined;
  let holder: Holder | undefined;

  const stopAll = async () => {
    // The node first: ending its namespaces' init ends every process inside at once.
    await holder?.stop();
    holder = undefined;
    for (const p of processes.reverse()) await p.stop(2_000);
    processes.length = 0;
    await controlPlane?.stop();
    controlPlane = undefined;
    removeKubeletCgroups(cgroupRootOf(net));
  };

  try {
    holder = await startNamespaces(dir);
    connectNetwork(holder.pid, net);

    controlPlane = await startControlPlane({
      dir: join(dir, "control-plane"),
      removeOnStop: false,
      readyTimeoutMs: options.readyTimeoutMs,
      full: {
        address: net.hostIp,
        port: net.apiPort,
        serviceClusterIpRange: net.serviceCidr,
        kubernetesServiceIp: net.kubernetesServiceIp,
        clusterCidr: net.podCidr,
        nodeCidrMaskSize: 24,
      },
    });
    const cp = controlPlane;
    const kc = new k8s.KubeConfig();
    kc.loadFromFile(cp.kubeconfigPath);
    await bindNodeComponents(kc);

    const inNode = (name: string, command: string, args: string[]) => {
      const p = startSupervised(
        name,
        "nsenter",
        ["-t", String(holder?.pid), "-n", "-m", "-p", "--", command, ...args],
        join(dir, `${name}.log`),
        { ...process.env, PATH: process.env.PATH ?? "/usr/sbin:/usr/bin:/sbin:/bin" },
      );
      processes.push(p);
      return p;
    };

    const containerdSocket = join(dir, "containerd", "containerd.sock");
    writeContainerdConfig(dir, containerdSocket, net);
    inNode("containerd", "containerd", ["--config", join(dir, "containerd", "config.toml")]);
    await waitFor(() => existsSync(containerdSocket), 30_000, "containerd's socket", dir, processes);
    const importImages = (files: string[]) => {
      for (const file of files) {
        execFileSync("ctr", ["-a", containerdSocket, "-n", "k8s.io", "images", "import", file], {
          stdio: "pipe",
        });
      }
    };
    importImages(options.images ?? []);

    const kubelet = await writeKubeletConfig(dir, cp, containerdSocket, net);
    inNode("kubelet", bins.kubelet, kubelet);
    await waitNodeReady(kc, options.readyTimeoutMs ?? 120_000, dir, processes);

    const proxyConfig = await writeKubeProxyConfig(dir, cp, net);
    inNode("kube-proxy", bins.kubeProxy, [`--config=${proxyConfig}`, "--v=1"]);
    const routerKubeconfig = join(dir, "kube-router.kubeconfig");
    await cp.writeKubeconfig(routerKubeconfig, "signet:kube-router");
    inNode("kube-router", bins.kubeRouter, [
      `--kubeconfig=${routerKubeconfig}`,
      "--run-firewall=true",
      "--run-router=false",
      "--run-service-proxy=false",
      "--enable-cni=false",
      `--hostname-override=${NODE_NAME}`,
      "--metrics-port=0",
      "--health-port=0",
      "--v=1",
    ]);
    await waitFor(
      () => serviceRulesInstalled(holder?.pid ?? 0, net),
      60_000,
      "kube-proxy's Service rules",
      dir,
      processes,
    );

    return {
      controlPlane: cp,
      kubeconfigPath: cp.kubeconfigPath,
      dir,
      nodeName: NODE_NAME,
      containerdSocket,
      network: net,
      initPid: holder.pid,
      importImages,
      async stop() {
        await stopAll();
        if (removeOnStop) rmSync(dir, { recursive: true, force: true });
      },
    };
  } catch (err) {
    await stopAll();
    throw err;
  }
}

/**
 * The namespaces' first process: a shell that mounts private copies of the directories the node
 * writes outside its own state directory, then reads its stdin, a pipe from this process, until it
 * closes. That happens when the harness stops the node or dies for any reason (SIGKILL included):
 * the shell then exits, and the kernel kills every process left in the PID namespace.
 */
async function startNamespaces(dir: string): Promise<Holder> {
  const script = [
    "set -e",
    // Shim sockets, runc state and pod network namespaces live here: private to the node.
    "mount -t tmpfs -o mode=0755 signet-node-run /run",
    "mkdir -p /run/netns /run/containerd",
    // sysfs of the node's network namespace, for the CNI plugins and the kubelet's network stats.
    `mkdir -p ${dir}/sys`,
    `mount -t sysfs signet-node-sys ${dir}/sys`,
    `mount --bind ${dir}/sys/class/net /sys/class/net`,
    `mount --bind ${dir}/sys/devices/virtual/net /sys/devices/virtual/net`,
    "ip link set lo up",
    "sysctl -qw net.ipv4.ip_forward=1 net.bridge.bridge-nf-call-iptables=1",
    "echo ready",
    "cat >/dev/null",
  ].join("\n");
  const logPath = join(dir, "node-namespaces.log");
  const log = openSync(logPath, "a");
  const child = spawn(
    "unshare",
    [
      "--net",
      "--mount",
      "--pid",
      "--fork",
      "--mount-proc",
      "--kill-child",
      "--propagation",
      "private",
      "sh",
      "-c",
      script,
    ],
    { stdio: ["pipe", log, log], detached: true },
  );
  closeSync(log);
  const exited = new Promise<void>((resolve) => child.once("exit", () => resolve()));
  const deadline = Date.now() + 10_000;
  while (Date.now() < deadline && child.pid !== undefined) {
    const [init] = childrenOf(child.pid);
    if (init && readFileSync(logPath, "utf8").includes("ready")) {
      return {
        pid: init,
        exited,
        async stop() {
          child.stdin?.end();
          killQuietly(init);
          await Promise.race([exited, sleep(5_000)]);
          if (child.pid !== undefined) killQuietly(child.pid);
        },
      };
    }
    await sleep(50);
  }
  child.stdin?.end();
  if (child.pid !== undefined) killQuietly(child.pid);
  throw new Error(`the node's namespaces did not come up; see ${logPath}`);
}

interface Holder {
  /** The host pid of the namespaces' init. */
  readonly pid: number;
  readonly exited: Promise<void>;
  stop(): Promise<void>;
}

function connectNetwork(initPid: number, net: NodeNetwork): void {
  const n = net;
  const inNode = (...args: string[]) =>
    execFileSync("nsenter", ["-t", String(initPid), "-n", ...args], { stdio: "pipe" });
  const host = (...args: string[]) => execFileSync(args[0] ?? "", args.slice(1), { stdio: "pipe" });
  host("ip", "link", "add", n.hostLink, "type", "veth", "peer", "name", "eth0", "netns", String(initPid));
  host("ip", "addr", "add", `${n.hostIp}/${n.linkPrefix}`, "dev", n.hostLink);
  host("ip", "link", "set", n.hostLink, "up");
  inNode("ip", "addr", "add", `${n.nodeIp}/${n.linkPrefix}`, "dev", "eth0");
  inNode("ip", "link", "set", "eth0", "up");
  // The host reaches pods and Services through the node; the node has no default route at all.
  host("ip", "route", "add", n.podCidr, "via", n.nodeIp, "dev", n.hostLink);
  host("ip", "route", "add", n.serviceCidr, "via", n.nodeIp, "dev", n.hostLink);
}

function writeContainerdConfig(dir: string, socket: string, net: NodeNetwork): void {
  const root = join(dir, "containerd");
  const cniConf = join(dir, "cni", "net.d");
  mkdirSync(cniConf, { recursive: true });
  mkdirSync(join(root, "root"), { recursive: true });
  writeFileSync(
    join(cniConf, "10-signet.conflist"),
    JSON.stringify({
      cniVersion: "0.4.0",
      name: "signet",
      plugins: [
        {
          type: "bridge",
          bridge: net.bridge,
          isGateway: true,
          ipMasq: false,
          hairpinMode: true,
          ipam: {
            type: "host-local",
            dataDir: join(dir, "cni", "ipam"),
            ranges: [[{ subnet: net.podCidr, gateway: net.podGateway }]],
            routes: [{ dst: "0.0.0.0/0" }],
          },
        },
      ],
    }),
  );
  const toml = `version = 2
root = "${join(root, "root")}"
state = "${join(root, "state")}"
disabled_plugins = ["io.containerd.snapshotter.v1.btrfs", "io.containerd.snapshotter.v1.zfs", "io.containerd.snapshotter.v1.devmapper", "io.containerd.snapshotter.v1.aufs", "io.containerd.internal.v1.tracing"]

[grpc]
  address = "${socket}"

[ttrpc]
  address = "${socket}.ttrpc"

[plugins."io.containerd.internal.v1.opt"]
  path = "${join(root, "opt")}"

[plugins."io.containerd.grpc.v1.cri"]
  sandbox_image = "registry.k8s.io/pause:3.6"
  # A process here cannot lower oom_score_adj below 0; without this every sandbox fails to start.
  restrict_oom_score_adj = true
  enable_selinux = false
  [plugins."io.containerd.grpc.v1.cri".containerd]
    snapshotter = "overlayfs"
    default_runtime_name = "runc"
    [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc]
      runtime_type = "io.containerd.runc.v2"
      [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc.options]
        SystemdCgroup = false
  [plugins."io.containerd.grpc.v1.cri".cni]
    bin_dir = "/usr/lib/cni"
    conf_dir = "${cniConf}"
`;
  writeFileSync(join(root, "config.toml"), toml);
}

async function writeKubeletConfig(
  dir: string,
  cp: ControlPlane,
  socket: string,
  net: NodeNetwork,
): Promise<string[]> {
  const kdir = join(dir, "kubelet");
  mkdirSync(join(kdir, "pki"), { recursive: true });
  const kubeconfig = join(kdir, "kubeconfig");
  await cp.writeKubeconfig(kubeconfig, `system:node:${NODE_NAME}`, ["system:nodes"]);
  const serving = await issueServingCert(cp.ca, [NODE_NAME], [net.nodeIp]);
  writeFileSync(join(kdir, "pki", "kubelet.crt"), serving.certPem);
  writeFileSync(join(kdir, "pki", "kubelet.key"), serving.keyPem, { mode: 0o600 });
  writeFileSync(join(kdir, "resolv.conf"), "");
  const config = {
    apiVersion: "kubelet.config.k8s.io/v1beta1",
    kind: "KubeletConfiguration",
    address: net.nodeIp,
    port: 10250,
    readOnlyPort: 0,
    healthzPort: 0,
    tlsCertFile: join(kdir, "pki", "kubelet.crt"),
    tlsPrivateKeyFile: join(kdir, "pki", "kubelet.key"),
    authentication: {
      anonymous: { enabled: false },
      webhook: { enabled: true },
      x509: { clientCAFile: join(cp.dir, "pki", "ca.crt") },
    },
    authorization: { mode: "Webhook" },
    cgroupDriver: "cgroupfs",
    // Pods go under a root of this node's own, so nodes side by side never share a cgroup.
    cgroupRoot: cgroupRootOf(net),
    failCgroupV1: false,
    failSwapOn: false,
    containerRuntimeEndpoint: `unix://${socket}`,
    localStorageCapacityIsolation: false,
    evictionHard: { "memory.available": "100Mi", "nodefs.available": "1%", "imagefs.available": "1%" },
    // The images are imported, never pulled: they must never be collected.
    imageGCHighThresholdPercent: 100,
    imageGCLowThresholdPercent: 99,
    // No DNS server runs here, and pods must not reach the machine's.
    resolvConf: join(kdir, "resolv.conf"),
    clusterDomain: "cluster.local",
    podLogsDir: join(kdir, "pod-logs"),
    volumePluginDir: join(kdir, "volume-plugins"),
    serializeImagePulls: false,
    syncFrequency: "10s",
    featureGates: Object.fromEntries(FEATURE_GATES.split(",").map((g) => [g.split("=")[0], true])),
    nodeStatusUpdateFrequency: "5s",
    maxPods: 60,
  };
  writeFileSync(join(kdir, "config.yaml"), stringify(config));
  return [
    `--config=${join(kdir, "config.yaml")}`,
    `--kubeconfig=${kubeconfig}`,
    `--root-dir=${join(kdir, "root")}`,
    `--hostname-override=${NODE_NAME}`,
    `--node-ip=${net.nodeIp}`,
    "--v=1",
  ];
}

async function writeKubeProxyConfig(dir: string, cp: ControlPlane, net: NodeNetwork): Promise<string> {
  const kubeconfig = join(dir, "kube-proxy.kubeconfig");
  await cp.writeKubeconfig(kubeconfig, "system:kube-proxy");
  const path = join(dir, "kube-proxy.yaml");
  writeFileSync(
    path,
    stringify({
      apiVersion: "kubeproxy.config.k8s.io/v1alpha1",
      kind: "KubeProxyConfiguration",
      clientConnection: { kubeconfig },
      mode: "iptables",
      clusterCIDR: net.podCidr,
      hostnameOverride: NODE_NAME,
      bindAddress: net.nodeIp,
      healthzBindAddress: "",
      metricsBindAddress: "127.0.0.1:10249",
      // Zero: leave the kernel's conntrack settings alone (they are not the node's own).
      conntrack: { maxPerCore: 0, min: 0, tcpEstablishedTimeout: "0s", tcpCloseWaitTimeout: "0s" },
    }),
  );
  return path;
}

/** RBAC for the components that have no bootstrap role: the API server towards kubelets, kube-router. */
async function bindNodeComponents(kc: k8s.KubeConfig): Promise<void> {
  const rbac = kc.makeApiClient(k8s.RbacAuthorizationV1Api);
  await rbac.createClusterRoleBinding({
    body: {
      metadata: { name: "signet-node:kube-apiserver-kubelet-client" },
      roleRef: {
        apiGroup: "rbac.authorization.k8s.io",
        kind: "ClusterRole",
        name: "system:kubelet-api-admin",
      },
      subjects: [{ apiGroup: "rbac.authorization.k8s.io", kind: "User", name: KUBELET_CLIENT_USER }],
    },
  });
  // kube-router's firewall reads pods, namespaces, nodes and NetworkPolicies; it writes nothing.
  await rbac.createClusterRole({
    body: {
      metadata: { name: "signet-node:kube-router" },
      rules: [
        {
          apiGroups: ["", "networking.k8s.io", "discovery.k8s.io"],
          resources: [
            "pods",
            "namespaces",
            "nodes",
            "services",
            "endpoints",
            "endpointslices",
            "networkpolicies",
          ],
          verbs: ["get", "list", "watch"],
        },
      ],
    },
  });
  await rbac.createClusterRoleBinding({
    body: {
      metadata: { name: "signet-node:kube-router" },
      roleRef: {
        apiGroup: "rbac.authorization.k8s.io",
        kind: "ClusterRole",
        name: "signet-node:kube-router",
      },
      subjects: [{ apiGroup: "rbac.authorization.k8s.io", kind: "User", name: "signet:kube-router" }],
    },
  });
}

async function waitNodeReady(
  kc: k8s.KubeConfig,
  timeoutMs: number,
  dir: string,
  processes: Supervised[],
): Promise<void> {
  const core = kc.makeApiClient(k8s.CoreV1Api);
  await waitFor(
    async () => {
      const node = await core.readNode({ name: NODE_NAME }).catch(() => undefined);
      return node?.status?.conditions?.some((c) => c.type === "Ready" && c.status === "True") ?? false;
    },
    timeoutMs,
    `node ${NODE_NAME} Ready`,
    dir,
    processes,
  );
}

function serviceRulesInstalled(initPid: number, net: NodeNetwork): boolean {
  const out = spawnSync("nsenter", ["-t", String(initPid), "-n", "iptables-save", "-t", "nat"], {
    encoding: "utf8",
  });
  return out.stdout.includes(net.kubernetesServiceIp);
}

async function waitFor(
  check: () => boolean | Promise<boolean>,
  timeoutMs: number,
  what: string,
  dir: string,
  processes: Supervised[],
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  let died: string | undefined;
  for (const p of processes) void p.exited.then(() => (died ??= p.name));
  while (Date.now() < deadline) {
    if (died) {
      // The log's end goes into the message: the directory may be gone by the time someone reads it.
      const log = join(dir, `${died}.log`);
      const tail = (() => {
        try {
          return readFileSync(log, "utf8").trimEnd().split("\n").slice(-15).join("\n");
        } catch {
          return "(no log)";
        }
      })();
      throw new Error(`${died} exited while waiting for ${what}; the end of ${log}:\n${tail}`);
    }
    if (await check()) return;
    await sleep(250);
  }
  throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}; logs in ${dir}`);
}

/** The cgroup hierarchies mounted here: each v1 controller (cgroup v1 or hybrid), or the unified one. */
function cgroupHierarchies(): string[] {
  const base = "/sys/fs/cgroup";
  if (!existsSync(join(base, "cpu"))) return [base];
  return readdirSync(base, { withFileTypes: true })
    .filter((e) => e.isDirectory())
    .map((e) => join(base, e.name));
}

/** The kubelet's cgroup root (cgroupRoot), one per node slot, created in every hierarchy. */
const cgroupRootOf = (net: NodeNetwork) => `/signet-node${net.slot}`;

function createKubeletCgroups(root: string): void {
  for (const hierarchy of cgroupHierarchies()) mkdirSync(join(hierarchy, root), { recursive: true });
}

/**
 * What a node killed with SIGKILL leaves: the empty cgroup tree of its slot, which its next start
 * removes. Removes it now and returns the processes still in it (none, once the node is gone).
 */
export function removeNodeCgroups(slot: number): number[] {
  const root = cgroupRootOf(nodeNetwork(slot));
  const left: number[] = [];
  const collect = (path: string) => {
    for (const entry of readdirSync(path, { withFileTypes: true })) {
      if (entry.isDirectory()) collect(join(path, entry.name));
    }
    const procs = readFileSync(join(path, "cgroup.procs"), "utf8").trim();
    if (procs) left.push(...procs.split("\n").map(Number));
  };
  for (const hierarchy of cgroupHierarchies()) {
    if (existsSync(join(hierarchy, root))) collect(join(hierarchy, root));
  }
  removeKubeletCgroups(root);
  return [...new Set(left)];
}

/** The kubelet's pod cgroups (cgroupfs driver) outlive their processes: remove the empty tree. */
function removeKubeletCgroups(root: string): void {
  for (const hierarchy of cgroupHierarchies()) {
    const tree = join(hierarchy, root);
    if (existsSync(tree)) removeTree(tree);
  }
}

function removeTree(path: string): void {
  try {
    for (const entry of readdirSync(path, { withFileTypes: true })) {
      if (entry.isDirectory()) removeTree(join(path, entry.name));
    }
    rmdirSync(path);
  } catch {
    // a cgroup still in use, or not a cgroup directory: leave it
  }
}

function killQuietly(pid: number): void {
  try {
    process.kill(pid, "SIGKILL");
  } catch {
    // already gone
  }
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
