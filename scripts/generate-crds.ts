// Writes crds/ from the zod schemas in operator/src/api; `npm run generate`.
import { mkdirSync, readdirSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { renderCrds } from "../operator/src/api/crd.ts";

const dir = fileURLToPath(new URL("../crds", import.meta.url));
mkdirSync(dir, { recursive: true });
const files = renderCrds();
// A kind that was renamed or dropped must not leave its old CRD behind.
for (const stale of readdirSync(dir).filter(
  (f) => f.endsWith(".yaml") && !files.some((c) => c.fileName === f),
)) {
  rmSync(join(dir, stale));
  console.log(`removed crds/${stale}`);
}
for (const { fileName, yaml } of files) {
  writeFileSync(join(dir, fileName), yaml);
  console.log(`wrote crds/${fileName}`);
}
