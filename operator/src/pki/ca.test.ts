import { describe, expect, it } from "vitest";
import {
  ALGORITHMS,
  DAY,
  HOUR,
  intermediateCa,
  issueCertificate,
  NOW,
  rootCa,
  TRUST_DOMAIN,
} from "../../../testing/pki.ts";
import { createRootCa, loadCa } from "./ca.ts";
import {
  basicConstraints,
  keyIdentifierOf,
  keyUsage,
  parseCertificate,
  subjectAltNames,
  subjectKeyIdentifier,
} from "./certificate.ts";
import * as x509 from "./x509.ts";

describe("createRootCa", () => {
  it.each(ALGORITHMS)("should make a self-signed $name root fit to issue SVIDs", async ({ spec }) => {
    const { certPem, keyPem, ca } = await rootCa(spec);
    const parsed = parseCertificate(certPem);
    expect(parsed.node.verify(parsed.node.publicKey)).toBe(true);
    expect(basicConstraints(parsed)).toEqual({ critical: true, ca: true, pathLength: 0 });
    expect(keyUsage(parsed)).toEqual({
      critical: true,
      flags: x509.KeyUsageFlags.keyCertSign | x509.KeyUsageFlags.cRLSign,
    });
    expect(subjectKeyIdentifier(parsed)).toEqual(
      keyIdentifierOf(parsed.node.publicKey.export({ type: "spki", format: "der" })),
    );
    expect(parsed.peculiar.getExtension("2.5.29.30")).toBeNull();
    expect(subjectAltNames(parsed).uris).toEqual([`spiffe://${TRUST_DOMAIN}`]);
    expect(keyPem.startsWith("-----BEGIN PRIVATE KEY-----")).toBe(true);
    expect(ca.isRoot).toBe(true);
    expect(ca.intermediatesPem).toBe("");
    expect(ca.rootPem).toBe(certPem);
    expect(ca.trustDomain).toBe(TRUST_DOMAIN);
    expect(ca.notBefore).toEqual(new Date(NOW.getTime() - DAY - HOUR));
    expect(ca.notAfter).toEqual(new Date(NOW.getTime() - DAY + 365 * DAY));
  });

  it("should not reveal the private key when the CA is printed or serialised", async () => {
    const { ca, keyPem } = await rootCa();
    const body = keyPem.split("\n")[1] as string;
    expect(JSON.stringify(ca)).not.toContain(body.slice(0, 20));
    expect(String(Object.entries(ca))).not.toContain(body.slice(0, 20));
  });

  it.each([
    {
      name: "an invalid trust domain",
      input: { trustDomain: "Cluster.Local" },
      error: /trust domain "Cluster.Local" is invalid/,
    },
    { name: "an empty common name", input: { commonName: " " }, error: /non-empty common name/ },
    { name: "a non-positive validity", input: { validity: 0 }, error: /validity must be a positive/ },
  ])("should refuse $name", async ({ input, error }) => {
    await expect(
      createRootCa({ commonName: "Root", trustDomain: TRUST_DOMAIN, validity: DAY, now: NOW, ...input }),
    ).rejects.toThrow(error);
  });
});

describe("loadCa", () => {
  it("should load a root and an intermediate chain", async () => {
    const root = await rootCa();
    expect(loadCa(root.certPem, root.keyPem, { now: NOW }).rootFingerprint).toBe(root.ca.rootFingerprint);
    const { ca, certPem } = await intermediateCa();
    expect(ca.isRoot).toBe(false);
    expect(ca.certPem).toBe(certPem);
  });

  it("should cap the CA's usable end at the earliest notAfter in its chain", async () => {
    const root = await rootCa(undefined, "Root With Intermediates", 1);
    const issued = await issueCertificate({
      issuer: root.ca,
      commonName: "Long Intermediate",
      notAfter: new Date(NOW.getTime() + 900 * DAY),
    });
    const ca = loadCa(issued.certPem + root.certPem, issued.keyPem, { now: NOW });
    expect(ca.notAfter).toEqual(root.ca.notAfter);
  });

  const cases: { name: string; build: () => Promise<{ chain: string; key: string }>; error: RegExp }[] = [
    {
      name: "a tls.crt without certificates",
      build: async () => ({ chain: "not a certificate", key: (await rootCa()).keyPem }),
      error: /holds no PEM CERTIFICATE block/,
    },
    {
      name: "a certificate that does not parse",
      build: async () => ({
        chain: "-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n",
        key: (await rootCa()).keyPem,
      }),
      error: /certificate #1 cannot be parsed/,
    },
    {
      name: "a key that is not a key",
      build: async () => ({
        chain: (await rootCa()).certPem,
        key: "-----BEGIN PRIVATE KEY-----\nSECRETSECRET\n-----END PRIVATE KEY-----\n",
      }),
      error: /tls.key is not a PEM private key/,
    },
    {
      name: "a key that belongs to another certificate",
      build: async () => ({
        chain: (await rootCa()).certPem,
        key: (await rootCa(undefined, "Other Root")).keyPem,
      }),
      error: /tls.key does not match the public key of certificate "CN=Signet Test Root"/,
    },
    {
      name: "a certificate that is not a CA",
      build: async () => {
        const root = await rootCa(undefined, "Root With Intermediates", 1);
        const leaf = await issueCertificate({ issuer: root.ca, commonName: "Not A CA", ca: false });
        return { chain: leaf.certPem + root.certPem, key: leaf.keyPem };
      },
      error: /"CN=Not A CA" is not a CA/,
    },
    {
      name: "a CA that may not sign certificates",
      build: async () => {
        const root = await rootCa(undefined, "Root With Intermediates", 1);
        const issued = await issueCertificate({
          issuer: root.ca,
          commonName: "CRL Signer",
          keyUsage: x509.KeyUsageFlags.cRLSign,
        });
        return { chain: issued.certPem + root.certPem, key: issued.keyPem };
      },
      error: /"CN=CRL Signer" may not sign certificates \(KeyUsage lacks keyCertSign\)/,
    },
    {
      name: "an expired CA",
      build: async () => {
        const root = await rootCa(undefined, "Root With Intermediates", 1);
        const issued = await issueCertificate({
          issuer: root.ca,
          commonName: "Expired Intermediate",
          notBefore: new Date(NOW.getTime() - 10 * DAY),
          notAfter: new Date(NOW.getTime() - DAY),
        });
        return { chain: issued.certPem + root.certPem, key: issued.keyPem };
      },
      error: /"CN=Expired Intermediate" expired at 2026-03-01T09:30:00.000Z/,
    },
    {
      name: "a chain in the wrong order",
      build: async () => {
        const { root, certPem, keyPem } = await intermediateCa();
        const other = await rootCa(undefined, "Unrelated Root");
        return { chain: certPem + other.certPem + root.certPem, key: keyPem };
      },
      error: /is not signed by the next certificate "CN=Unrelated Root"/,
    },
    {
      name: "a chain that stops before the root",
      build: async () => {
        const { certPem, keyPem } = await intermediateCa();
        return { chain: certPem, key: keyPem };
      },
      error: /which is not a self-signed root; append the issuing certificates up to the root/,
    },
    {
      name: "a chain the root's path length forbids",
      build: async () => {
        const root = await rootCa();
        const issued = await issueCertificate({ issuer: root.ca, commonName: "Forbidden Intermediate" });
        return { chain: issued.certPem + root.certPem, key: issued.keyPem };
      },
      error: /pathLenConstraint 0 of "CN=Signet Test Root" forbids this chain/,
    },
  ];
  it.each(cases)("should refuse $name with a message that names the problem", async ({ build, error }) => {
    const { chain, key } = await build();
    let message = "";
    try {
      loadCa(chain, key, { now: NOW });
    } catch (err) {
      message = (err as Error).message;
    }
    expect(message).toMatch(error);
    expect(message).not.toContain("PRIVATE KEY");
    expect(message).not.toContain("SECRET");
    for (const line of key.split("\n").filter((l) => l.length > 20))
      expect(message).not.toContain(line.slice(0, 16));
  });

  it("should refuse a CA that is not valid yet", async () => {
    const root = await rootCa();
    expect(() => loadCa(root.certPem, root.keyPem, { now: new Date(NOW.getTime() - 3 * DAY) })).toThrow(
      /is not valid before/,
    );
  });

  it("should keep the CA's subject as the exact DER the certificate carries", async () => {
    const { ca, certPem } = await rootCa();
    const subject = new x509.X509Certificate(certPem).subjectName.toArrayBuffer();
    expect(ca.subjectDer.toString("hex")).toBe(Buffer.from(subject).toString("hex"));
  });
});
