import { readdirSync, readFileSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { describe, expect, it } from "vitest";
import { KINDS } from "../operator/src/api/index.ts";
import { renderReference, renderReferencePage } from "./generate-docs.ts";

const referenceDir = fileURLToPath(new URL("../docs/reference/", import.meta.url));

describe("the reference docs generator", () => {
  it("should give identical output on every run", () => {
    expect(renderReference()).toEqual(renderReference());
  });

  it("should match the committed docs/reference exactly (run npm run docs after changing the schemas)", () => {
    const pages = renderReference();
    expect(
      readdirSync(referenceDir)
        .filter((f) => f.endsWith(".md"))
        .sort(),
    ).toEqual(pages.map((p) => p.fileName).sort());
    for (const { fileName, markdown } of pages) {
      expect(readFileSync(`${referenceDir}${fileName}`, "utf8"), fileName).toBe(markdown);
    }
  });

  it.each(KINDS.map((k) => [k]))(
    "should document every spec and status field of %s with its description",
    (kind) => {
      const page = renderReferencePage(kind);
      const fieldRows = page.split("\n").filter((l) => l.startsWith("| `"));
      expect(fieldRows.length).toBeGreaterThan(5);
      for (const row of fieldRows) {
        const description = row.split(" | ")[4] ?? "";
        expect(description.trim().length, row).toBeGreaterThan(10);
      }
    },
  );

  it("should carry defaults, enums and cross-field rules from the schemas", () => {
    const page = renderReferencePage("MachineIdentity");
    expect(page).toContain("| `spec.ttl` | string | no | `1h` |");
    expect(page).toContain("one of `ECDSA`, `Ed25519`, `RSA`");
    expect(page).toContain("- `spec.renewBefore`: renewBefore must be shorter than ttl");
    expect(renderReferencePage("AccessPolicy")).toContain("| `spec.allowFrom[].namespace` | string | no |");
  });
});
