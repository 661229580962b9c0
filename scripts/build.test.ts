import { execFileSync } from "node:child_process";
import {
  existsSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  statSync,
  symlinkSync,
  writeFileSync,
} from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { build, isTestOnly, pruneTests, rewriteImports } from "./build.ts";

const root = fileURLToPath(new URL("../", import.meta.url));

describe("rewriteImports", () => {
  it.each([
    ['import { a } from "./a.ts";', 'import { a } from "./a.js";'],
    ['import type { B } from "../b/c.ts";', 'import type { B } from "../b/c.js";'],
    ['export * from "./d.ts";', 'export * from "./d.js";'],
    ['const m = await import("../cli/audit.ts");', 'const m = await import("../cli/audit.js");'],
    ["import x from './single.ts';", "import x from './single.js';"],
  ])("should point %s at the built file", (source, built) => {
    expect(rewriteImports(source)).toBe(built);
  });

  it.each([
    'import { z } from "zod";',
    'import { readFileSync } from "node:fs";',
    'const name = "config.ts";',
    'log("moved from ./a.ts")',
  ])("should leave %s alone", (source) => {
    expect(rewriteImports(source)).toBe(source);
  });
});

describe("isTestOnly", () => {
  it.each([
    ["operator/src/kube/client.test.ts", true],
    ["operator/src/pki/test-support.ts", true],
    ["operator/src/discover/test-fixtures.ts", true],
    ["webhooks/src/testing/fixture.ts", true],
    ["operator/src/kube/fake-clock.ts", true],
    ["operator/src/kube/client.ts", false],
    ["operator/src/cli/main.ts", false],
  ])("should say %s is test-only: %s", (path, expected) => {
    expect(isTestOnly(path)).toBe(expected);
  });
});

describe("build", () => {
  let out: string;
  let files: string[];
  beforeAll(() => {
    out = mkdtempSync(join(tmpdir(), "signet-build-"));
    // The built files find the dependencies as the image's do: in node_modules above them.
    symlinkSync(join(root, "node_modules"), join(out, "node_modules"));
    build(join(out, "app"));
    const walk = (dir: string): string[] =>
      readdirSync(dir).flatMap((name) => {
        const path = join(dir, name);
        return statSync(path).isDirectory() ? walk(path) : [path];
      });
    files = walk(join(out, "app"));
  });
  afterAll(() => rmSync(out, { recursive: true, force: true }));

  it("should write JavaScript only, and no test or test support", () => {
    expect(files.length).toBeGreaterThan(50);
    const names = files.map((f) => f.slice(out.length + 5));
    expect(names.filter((n) => !n.endsWith(".js") && n !== "package.json")).toEqual([]);
    expect(names.filter((n) => isTestOnly(n.replace(/\.js$/, ".ts")))).toEqual([]);
  });

  it("should leave no import of a .ts file behind", () => {
    const left = files
      .filter((f) => f.endsWith(".js"))
      .flatMap(
        (f) => readFileSync(f, "utf8").match(/(?:from|import)\s*\(?\s*["']\.{1,2}\/[^"']+\.ts["']/g) ?? [],
      );
    expect(left).toEqual([]);
  });

  it("should run: the CLI answers help, and every command's modules load", () => {
    const node = process.execPath;
    const help = execFileSync(node, [join(out, "app/operator/src/cli/main.js"), "help"], {
      encoding: "utf8",
    });
    expect(help).toMatch(/^usage: signet <command>/);
    const imports = ["runtime/manager.js", "cli/audit.js", "cli/discover.js"]
      .map((m) => `await import(${JSON.stringify(join(out, "app/operator/src", m))});`)
      .join("");
    const loaded = execFileSync(
      node,
      ["--input-type=module", "-e", `${imports} process.stdout.write("loaded")`],
      {
        encoding: "utf8",
      },
    );
    expect(loaded).toBe("loaded");
  });
});

describe("pruneTests", () => {
  it("should remove the test folders and test files of dependencies and keep everything else", () => {
    const dir = mkdtempSync(join(tmpdir(), "signet-prune-"));
    const file = (path: string) => {
      mkdirSync(join(dir, path, ".."), { recursive: true });
      writeFileSync(join(dir, path), "x");
    };
    const gone = [
      "zod/src/v4/classic/tests/string.test.ts",
      "pino/test/basic.test.js",
      "a/lib/x.spec.mjs",
      "b/index.test-d.ts",
      "c/__tests__/y.js",
    ];
    const kept = [
      "zod/index.js",
      "zod/src/v4/core/api.ts",
      "pino/lib/tools.js",
      "contest/index.js",
      "a/lib/testutil.js",
    ];
    for (const path of [...gone, ...kept]) file(path);
    try {
      expect(pruneTests(dir)).toBe(5);
      expect(gone.filter((p) => existsSync(join(dir, p)))).toEqual([]);
      expect(kept.filter((p) => !existsSync(join(dir, p)))).toEqual([]);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
