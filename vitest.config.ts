import { defineConfig } from "vitest/config";

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
            "e2e/harness/**/*.test.ts",
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
          environment: "node",
          globalSetup: ["e2e/support/global-setup.ts"],
          testTimeout: 120_000,
          hookTimeout: 180_000,
          // One control plane serves every file; two cores are enough for two files at a time.
          maxWorkers: 2,
        },
      },
    ],
  },
});
