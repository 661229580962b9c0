import { X509Certificate } from "node:crypto";
import { describe, expect, it } from "vitest";
import { DAY, HOUR, NOW } from "../../../testing/pki.ts";
import { createRootCa } from "./ca.ts";
import { extendedKeyUsages, keyUsage, parseCertificate, subjectAltNames } from "./certificate.ts";
import { canonicalIpAddresses, ipAddressesOf, mintServingCertificate } from "./serving.ts";
import * as x509 from "./x509.ts";

const servingRoot = () => createRootCa({ commonName: "Signet serving CA", validity: 30 * DAY, now: NOW });
const names = ["signet-webhook.signet-system.svc", "signet-webhook.signet-system.svc.cluster.local"];

describe("mintServingCertificate", () => {
  it("should make a server certificate for the Service names and IPs, without a SPIFFE ID", async () => {
    const { ca } = await servingRoot();
    const minted = await mintServingCertificate({
      ca,
      dnsNames: [...names].reverse(),
      ipAddresses: ["127.0.0.1"],
      ttlMs: 7 * DAY,
      now: NOW,
    });
    const parsed = parseCertificate(minted.chainPem);
    expect(parsed.node.verify(ca.certificate.publicKey)).toBe(true);
    expect(parsed.node.checkHost(names[0] as string)).toBe(names[0]);
    expect(parsed.node.checkIP("127.0.0.1")).toBe("127.0.0.1");
    const sans = subjectAltNames(parsed);
    expect(sans.uris).toEqual([]);
    expect(sans.dnsNames).toEqual(names);
    expect(ipAddressesOf(parsed.node.subjectAltName)).toEqual(["127.0.0.1"]);
    expect(extendedKeyUsages(parsed)).toEqual(["1.3.6.1.5.5.7.3.1"]);
    expect(keyUsage(parsed)).toEqual({ critical: true, flags: x509.KeyUsageFlags.digitalSignature });
    expect(parsed.node.ca).toBe(false);
    expect(minted.notAfter).toEqual(new Date(NOW.getTime() + 7 * DAY));
    expect(new X509Certificate(minted.chainPem).serialNumber.toLowerCase()).toContain(minted.serialNumber);
    expect(minted.keyPem.startsWith("-----BEGIN PRIVATE KEY-----")).toBe(true);
  });

  it("should never outlive its CA", async () => {
    const { ca } = await createRootCa({ commonName: "Short", validity: 2 * HOUR, now: NOW });
    const minted = await mintServingCertificate({ ca, dnsNames: names, ttlMs: 7 * DAY, now: NOW });
    expect(minted.notAfter.getTime()).toBeLessThanOrEqual(ca.notAfter.getTime());
  });

  it.each([
    { name: "no name at all", input: { dnsNames: [] }, error: /at least one DNS name or IP address/ },
    { name: "an invalid DNS name", input: { dnsNames: ["Not_A.Host"] }, error: /"Not_A.Host" is invalid/ },
    {
      name: "an IP address that is not one",
      input: { dnsNames: names, ipAddresses: ["127.0.0.256"] },
      error: /"127.0.0.256" is not an IP address/,
    },
  ])("should refuse $name", async ({ input, error }) => {
    const { ca } = await servingRoot();
    await expect(mintServingCertificate({ ca, ttlMs: DAY, now: NOW, ...input })).rejects.toThrow(error);
  });
});

describe("canonicalIpAddresses", () => {
  it.each([
    { name: "should spell IPv6 loopback one way", input: ["0:0:0:0:0:0:0:1", "::1"], want: ["::1"] },
    { name: "should lower-case IPv6", input: ["FE80:0::1:2"], want: ["fe80::1:2"] },
    {
      name: "should sort and de-duplicate",
      input: ["10.0.0.2", "10.0.0.1", "10.0.0.2"],
      want: ["10.0.0.1", "10.0.0.2"],
    },
  ])("$name", ({ input, want }) => {
    expect(canonicalIpAddresses(input)).toEqual(want);
  });
});
