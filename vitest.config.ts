import { defineConfig } from "vitest/config";

/** e2e files that install Signet's cluster-scoped admission objects as a release would. */
const CLUSTER_WIDE = ["e2e/packaging/install.e2e.test.ts"];

export default defineConfig({
  test: {
    projects: [
      {
        test: {
          name: "unit",
          // Unit tests run first: a broken pure function fails fast, before any control plane starts.
          sequence: { groupOrder: 0 },
          include: [
            "operator/**/*.test.ts",
            "webhooks/**/*.test.ts",
            "testing/**/*.test.ts",
            "e2e/harness/**/*.test.ts",
            "e2e/support/**/!(*.e2e).test.ts",
            "e2e/node/**/!(*.node).test.ts", // *.node.test.ts need a real node
            "scripts/**/*.test.ts",
          ],
          environment: "node",
        },
      },
      {
        test: {
          name: "e2e",
          sequence: { groupOrder: 1 },
          include: ["e2e/**/*.e2e.test.ts"],
          exclude: CLUSTER_WIDE,
          environment: "node",
          globalSetup: ["e2e/support/global-setup.ts"],
          testTimeout: 120_000,
          hookTimeout: 180_000,
          // One control plane serves every file; two cores are enough for two files at a time.
          maxWorkers: 2,
        },
      },
      {
        test: {
          name: "e2e-cluster-wide",
          // After the rest, on a control plane of its own: these files install Signet cluster-wide
          // (admission policies that refuse the identity label in every namespace the release does
          // not serve), which would refuse pods of files running beside them.
          sequence: { groupOrder: 2 },
          include: CLUSTER_WIDE,
          environment: "node",
          globalSetup: ["e2e/support/global-setup.ts"],
          testTimeout: 120_000,
          hookTimeout: 180_000,
          maxWorkers: 1,
        },
      },
      {
        test: {
          name: "e2e-node",
          // Last, on a real node of its own (kubelet, containerd, kube-proxy, kube-router): the chart
          // runs as a Deployment and workloads run with their identities. One file at a time, as
          // each installs the chart cluster-wide.
          sequence: { groupOrder: 3 },
          include: ["e2e/node/**/*.node.test.ts"],
          environment: "node",
          globalSetup: ["e2e/node/global-setup.ts"],
          testTimeout: 120_000,
          hookTimeout: 300_000,
          maxWorkers: 1,
          fileParallelism: false,
        },
      },
    ],
  },
});
