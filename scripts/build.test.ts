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
import { dirname, join, relative, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { build, isTestOnly, pruneTests, rewriteImports } from "./build.ts";

const root = fileURLToPath(new URL("../", import.meta.url));

/** The .ts files under `dir`, relative to the repository. */
function tsFiles(dir: string): string[] {
  return readdirSync(join(root, dir)).flatMap((name) => {
    const path = join(dir, name);
    if (statSync(join(root, path)).isDirectory()) return tsFiles(path);
    return path.endsWith(".ts") ? [path] : [];
  });
}

/** What a file imports by relative path, as paths relative to the repository. */
function relativeImports(path: string): string[] {
  const text = readFileSync(join(root, path), "utf8");
  return [...text.matchAll(/(?:\bfrom|\bimport)\s*\(?\s*["'](\.{1,2}\/[^"']+)["']/g)].map((m) =>
    relative(root, resolve(root, dirname(path), m[1] ?? "")),
  );
}

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
    ["testing/pki.ts", true],
    ["operator/src/kube/client.ts", false],
    ["operator/src/cli/main.ts", false],
  ])("should say %s is test-only: %s", (path, expected) => {
    expect(isTestOnly(path)).toBe(expected);
  });
});

describe("import direction", () => {
  const underTest = (target: string) =>
    isTestOnly(target) || target.startsWith("e2e/") || target.startsWith("testing/");

  it("should keep test support and e2e out of what product code imports", () => {
    const product = [...tsFiles("operator"), ...tsFiles("webhooks")].filter((p) => !isTestOnly(p));
    expect(product.length).toBeGreaterThan(50);
    const imports = product.flatMap((p) => relativeImports(p).map((target) => `${p} -> ${target}`));
    expect(imports.filter((edge) => underTest(edge.split(" -> ")[1] ?? ""))).toEqual([]);
  });

  it("should let nothing under operator/ or webhooks/ import from e2e/; tests take support from testing/", () => {
    const all = [...tsFiles("operator"), ...tsFiles("webhooks")];
    const imports = all.flatMap((p) => relativeImports(p).map((target) => `${p} -> ${target}`));
    expect(imports.length).toBeGreaterThan(500);
    expect(imports.filter((edge) => edge.includes(" -> e2e/"))).toEqual([]);
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

  it("should give workloads the proof library: the package export signet/proof loads from the build with its entry points", () => {
    const pkg = JSON.parse(readFileSync(join(root, "package.json"), "utf8")) as {
      exports: Record<string, { default: string }>;
    };
    // The package's export, resolved against this build instead of the repository's dist/.
    const entry = join(out, "app", pkg.exports["./proof"]?.default.replace(/^\.\/dist\//, "") ?? "");
    const script = `const proof = await import(${JSON.stringify(entry)});
      const names = ["signProof", "createVerifier", "channelBindingOf", "ProofReason"].filter((n) => !(n in proof));
      process.stdout.write(names.length ? "missing " + names.join(",") : "ok " + proof.ProofReason.ProofReplayed);`;
    const result = execFileSync(process.execPath, ["--input-type=module", "-e", script], {
      encoding: "utf8",
    });
    expect(result).toBe("ok ProofReplayed");
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
