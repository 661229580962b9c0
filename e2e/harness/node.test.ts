import { describe, expect, it } from "vitest";
import { type MachineProbe, missingNodePrerequisites, thisMachine } from "./node.ts";

const machine = (has: { root?: boolean; commands?: string[]; paths?: string[] }): MachineProbe => ({
  isRoot: () => has.root ?? false,
  onPath: (command) => has.commands?.includes(command) ?? false,
  exists: (path) => has.paths?.includes(path) ?? false,
});

const EVERYTHING = {
  root: true,
  commands: [
    "containerd",
    "ctr",
    "runc",
    "iptables",
    "ipset",
    "conntrack",
    "ip",
    "unshare",
    "nsenter",
    "buildah",
  ],
  paths: [
    "/usr/lib/cni/bridge",
    "/usr/lib/cni/host-local",
    "/usr/lib/cni/loopback",
    "/bin/busybox",
    "/proc/sys/net/bridge",
    "/dev/kmsg",
  ],
};

describe("missingNodePrerequisites", () => {
  it("should find nothing missing on a machine that has everything", () => {
    expect(missingNodePrerequisites(machine(EVERYTHING))).toEqual([]);
  });

  it("should name every missing piece, with the package or step that provides it, on a bare machine", () => {
    const missing = missingNodePrerequisites(machine({}));
    expect(missing).toHaveLength(1 + EVERYTHING.commands.length + EVERYTHING.paths.length);
    expect(missing).toContain("root (the node creates namespaces, mounts and network devices)");
    expect(missing).toContain("the ctr command (apt-get install containerd)");
    expect(missing).toContain("the nsenter command (apt-get install util-linux)");
    expect(missing).toContain(
      "the CNI host-local plugin in /usr/lib/cni (apt-get install containernetworking-plugins)",
    );
    expect(missing).toContain("the kernel's br_netfilter (modprobe br_netfilter)");
  });

  it.each(EVERYTHING.commands)("should name the %s command alone when only it is missing", (command) => {
    const missing = missingNodePrerequisites(
      machine({ ...EVERYTHING, commands: EVERYTHING.commands.filter((c) => c !== command) }),
    );
    expect(missing).toHaveLength(1);
    expect(missing[0]).toMatch(new RegExp(`^the ${command} command \\(apt-get install [a-z0-9-]+\\)$`));
  });

  it.each(EVERYTHING.paths)("should name %s alone when only it is missing", (path) => {
    const missing = missingNodePrerequisites(
      machine({ ...EVERYTHING, paths: EVERYTHING.paths.filter((p) => p !== path) }),
    );
    expect(missing).toHaveLength(1);
    expect(missing[0]).toMatch(
      /\(apt-get install [a-z-]+\)$|\(modprobe br_netfilter\)$|\(the kubelet's OOM watcher reads it\)$/,
    );
  });

  it("should probe commands on the real machine without a shell injection", () => {
    expect(thisMachine.onPath("sh")).toBe(true);
    expect(thisMachine.onPath("no-such-command-signet; true")).toBe(false);
  });
});
