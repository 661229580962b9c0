import { execFileSync, spawnSync } from "node:child_process";
import { generateKeyPairSync } from "node:crypto";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { HOUR } from "../../../testing/pki.ts";
import { referenceSvidDer } from "../../../testing/pki-reference.ts";
import { type CertificateAuthority, createRootCa } from "./ca.ts";
import { parseCertificate, subjectAltNames } from "./certificate.ts";
import { toPem } from "./der.ts";
import { mintSvid, svidValidity } from "./mint.ts";
import * as x509 from "./x509.ts";

// OpenSSL checks validity against the real clock, so these certificates are minted on it.

/** A leaf signed by `ca` for any URI, even one mintSvid refuses: what a rogue issuer would make. */
async function leafFor(ca: CertificateAuthority, uri: string): Promise<string> {
  const { publicKey } = generateKeyPairSync("ec", { namedCurve: "P-256" });
  const der = await referenceSvidDer({
    ca,
    spiffeId: uri,
    dnsNames: ["payments.shop.svc"],
    keyAlgorithm: { algorithm: "ECDSA", size: 256 },
    serialNumber: "7f".repeat(16),
    ...svidValidity({ ca, ttlMs: HOUR, now: new Date() }),
    publicKeySpki: publicKey.export({ type: "spki", format: "der" }),
  });
  return toPem("CERTIFICATE", der);
}

describe("a workload root constrained to its trust domain", () => {
  let root: Awaited<ReturnType<typeof createRootCa>>;
  let dir: string;

  beforeAll(async () => {
    root = await createRootCa({
      commonName: "Constrained Root",
      trustDomain: "cluster.local",
      constrainToTrustDomain: true,
      validity: 2 * HOUR,
      now: new Date(),
    });
    dir = mkdtempSync(join(tmpdir(), "signet-nc-"));
    writeFileSync(join(dir, "root.pem"), root.certPem);
  });
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  const opensslVerify = (leafPem: string): { ok: boolean; output: string } => {
    const file = join(dir, `leaf-${Math.random().toString(36).slice(2)}.pem`);
    writeFileSync(file, leafPem);
    const result = spawnSync("openssl", ["verify", "-CAfile", join(dir, "root.pem"), file], {
      encoding: "utf8",
    });
    return { ok: result.status === 0, output: `${result.stdout}${result.stderr}` };
  };

  it("should carry a critical NameConstraints extension permitting only the trust domain's URI host", () => {
    const parsed = parseCertificate(root.certPem);
    const extension = parsed.peculiar.getExtension("2.5.29.30");
    expect(extension?.critical).toBe(true);
    // SEQUENCE { [0] { SEQUENCE { [6] "cluster.local" } } }
    expect(Buffer.from(extension?.value ?? new ArrayBuffer(0)).toString("hex")).toBe(
      `3013a011300f860d${Buffer.from("cluster.local").toString("hex")}`,
    );
    expect(subjectAltNames(parsed).uris).toEqual(["spiffe://cluster.local"]);
  });

  it("should read in OpenSSL as a permitted URI subtree", () => {
    const text = execFileSync("openssl", ["x509", "-noout", "-text"], {
      input: root.certPem,
      encoding: "utf8",
    });
    expect(text).toMatch(/X509v3 Name Constraints: critical\s+Permitted:\s+URI:cluster\.local\s/);
  });

  it("should let OpenSSL verify an SVID of the trust domain", async () => {
    const svid = await mintSvid({
      ca: root.ca,
      spiffeId: "spiffe://cluster.local/ns/shop/id/payments-api",
      dnsNames: ["payments.shop.svc", "kubernetes.default.svc"],
      ttlMs: HOUR,
      now: new Date(),
    });
    expect(opensslVerify(svid.certPem)).toMatchObject({ ok: true });
  });

  it.each([
    { name: "another trust domain", uri: "spiffe://evil.example/ns/shop/id/payments-api" },
    { name: "a subdomain of the trust domain", uri: "spiffe://shop.cluster.local/ns/shop/id/payments-api" },
  ])("should make OpenSSL reject a leaf whose URI names $name", async ({ uri }) => {
    const result = opensslVerify(await leafFor(root.ca, uri));
    expect(result.ok).toBe(false);
    expect(result.output).toMatch(/permitted subtree violation/);
  });

  it("should not constrain a root unless asked, nor without a trust domain", async () => {
    const plain = await createRootCa({
      commonName: "Plain Root",
      trustDomain: "cluster.local",
      validity: HOUR,
      now: new Date(),
    });
    expect(parseCertificate(plain.certPem).peculiar.getExtension("2.5.29.30")).toBeNull();
    await expect(
      createRootCa({
        commonName: "No Domain",
        constrainToTrustDomain: true,
        validity: HOUR,
        now: new Date(),
      }),
    ).rejects.toThrow(/need the trust domain/);
  });

  it("should make a root without a trust domain carry no URI SAN and no SPIFFE trust domain", async () => {
    const serving = await createRootCa({ commonName: "Serving Root", validity: HOUR, now: new Date() });
    const parsed = parseCertificate(serving.certPem);
    expect(parsed.peculiar.getExtension(x509.SubjectAlternativeNameExtension)).toBeNull();
    expect(serving.ca.trustDomain).toBeUndefined();
  });
});
