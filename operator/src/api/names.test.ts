import { readdirSync, readFileSync, statSync } from "node:fs";
import { join, relative } from "node:path";
import { fileURLToPath } from "node:url";
import { describe, expect, it } from "vitest";
import { isTestOnly } from "../../../scripts/build.ts";
import * as names from "./names.ts";
import { secretNameOf, spiffeIDOf } from "./names.ts";

const root = fileURLToPath(new URL("../../../", import.meta.url));
const HOME = "operator/src/api/names.ts";

/** The product sources: what the image ships from operator/src and webhooks/src. */
function productSources(): { path: string; text: string }[] {
  const walk = (dir: string): string[] =>
    readdirSync(dir).flatMap((name) => {
      const path = join(dir, name);
      return statSync(path).isDirectory() ? walk(path) : [path];
    });
  return ["operator/src", "webhooks/src"]
    .flatMap((dir) => walk(join(root, dir)))
    .map((file) => relative(root, file))
    .filter((path) => path.endsWith(".ts") && !isTestOnly(path))
    .map((path) => ({ path, text: readFileSync(join(root, path), "utf8") }));
}

/** The label and annotation keys and reserved names the module exports, objects included. */
function definedNames(): string[] {
  const strings = Object.values(names).flatMap((value) =>
    typeof value === "string" ? [value] : typeof value === "object" ? Object.values(value) : [],
  );
  return [...new Set(strings)].filter((s) => s.includes("/") || s.startsWith("signet-"));
}

function quoted(text: string): RegExp {
  return new RegExp(`["'\`]${text.replace(/[.*+?^${}()|[\]\\/]/g, "\\$&")}["'\`]`);
}

describe("secretNameOf", () => {
  it("should name the Secret <name>-identity unless secretName says otherwise", () => {
    expect(secretNameOf({ metadata: { name: "checkout" }, spec: {} })).toBe("checkout-identity");
    expect(secretNameOf({ metadata: { name: "checkout" }, spec: { secretName: "tls" } })).toBe("tls");
  });
});

describe("spiffeIDOf", () => {
  it("should derive the SPIFFE ID from trust domain, namespace and name unless spiffeID is set", () => {
    const identity = { metadata: { name: "payments-api", namespace: "shop" }, spec: {} };
    expect(spiffeIDOf(identity, "cluster.local")).toBe("spiffe://cluster.local/ns/shop/id/payments-api");
    expect(spiffeIDOf({ ...identity, spec: { spiffeID: "spiffe://x/y" } }, "cluster.local")).toBe(
      "spiffe://x/y",
    );
  });
});

describe("one home for Signet's names", () => {
  const sources = productSources().filter((s) => s.path !== HOME);

  it("should see the sources it checks", () => {
    expect(sources.length).toBeGreaterThan(50);
    expect(definedNames()).toEqual(
      expect.arrayContaining(["signet.dev/identity", "app.kubernetes.io/managed-by", "signet-serving-ca"]),
    );
  });

  it.each(definedNames())("should spell %s in names.ts only", (name) => {
    expect(sources.filter((s) => quoted(name).test(s.text)).map((s) => s.path)).toEqual([]);
  });

  it("should spell no other signet.dev/ label or annotation outside names.ts", () => {
    const literal = /["'`]signet\.dev\/[a-z]/;
    expect(sources.filter((s) => literal.test(s.text)).map((s) => s.path)).toEqual([]);
  });

  it("should derive an identity's Secret name and default SPIFFE ID in names.ts only", () => {
    const derivations = [/\}-identity`/, /`spiffe:\/\/\$\{[^}]*\}\/ns\//];
    const copies = sources.filter((s) => derivations.some((d) => d.test(s.text))).map((s) => s.path);
    expect(copies).toEqual([]);
  });

  it("should export each of its names from names.ts only", () => {
    const exported = new RegExp(
      `export (const|function) (${Object.keys(names).join("|")}|defaultSpiffeId|identitySecretNameOf|identitySecretName|identitySpiffeId|IDENTITY_POD_LABEL)\\b`,
    );
    expect(sources.filter((s) => exported.test(s.text)).map((s) => s.path)).toEqual([]);
  });
});
