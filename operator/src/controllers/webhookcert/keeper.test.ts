import { beforeAll, describe, expect, it } from "vitest";
import {
  type CertificateAuthority,
  createRootCa,
  mintServingCertificate,
  mintSvid,
  trustBundle,
} from "../../pki/index.ts";
import { servingCertificateState } from "./keeper.ts";

const DAY = 86_400_000;
const issued = new Date("2026-11-21T12:00:00Z");
const dnsNames = ["signet-webhook.signet-system.svc", "signet-webhook.signet-system.svc.cluster.local"];

describe("servingCertificateState", () => {
  let ca: CertificateAuthority;
  let otherCa: CertificateAuthority;
  let workloadCa: CertificateAuthority;
  let data: Record<string, string>;

  const mint = async (issuer: CertificateAuthority, names: string[], ipAddresses: string[] = []) => {
    const cert = await mintServingCertificate({
      ca: issuer,
      dnsNames: names,
      ipAddresses,
      ttlMs: 7 * DAY,
      now: issued,
    });
    return { "tls.crt": cert.chainPem, "tls.key": cert.keyPem, "ca.crt": trustBundle([issuer]) };
  };

  beforeAll(async () => {
    const now = new Date("2026-11-01T00:00:00Z");
    ca = (await createRootCa({ commonName: "a", validity: 365 * DAY, now })).ca;
    otherCa = (await createRootCa({ commonName: "b", validity: 365 * DAY, now })).ca;
    workloadCa = (
      await createRootCa({ commonName: "w", trustDomain: "cluster.local", validity: 365 * DAY, now })
    ).ca;
    data = await mint(ca, dnsNames);
  });

  const want = (now: Date, overrides: { bundlePem?: string; issuer?: CertificateAuthority } = {}) => ({
    dnsNames,
    ipAddresses: [],
    issuer: ca,
    bundlePem: trustBundle([ca]),
    now,
    ...overrides,
  });

  it("should keep a fresh certificate and renew it at two thirds of its life", () => {
    const state = servingCertificateState(data, want(new Date(issued.getTime() + DAY)));
    expect(state.current).toBe(true);
    // Seven days plus the one-minute backdate, two thirds of it from notBefore.
    const notBefore = issued.getTime() - 60_000;
    expect(state.renewAt?.getTime()).toBe(notBefore + ((7 * DAY + 60_000) * 2) / 3);
  });

  it("should renew once two thirds of its life have passed", () => {
    expect(servingCertificateState(data, want(new Date(issued.getTime() + 5 * DAY))).current).toBe(false);
  });

  it("should issue when there is no Secret or it does not parse", () => {
    expect(servingCertificateState(undefined, want(issued))).toEqual({ current: false, renewAt: undefined });
    expect(servingCertificateState({ ...data, "tls.crt": "junk" }, want(issued)).current).toBe(false);
  });

  it("should reissue when the DNS names change", async () => {
    const narrower = await mint(ca, dnsNames.slice(0, 1));
    expect(servingCertificateState(narrower, want(issued)).current).toBe(false);
  });

  it("should reissue when an IP address is wanted that the certificate lacks, and keep it once it has it", async () => {
    const loopback = { ...want(issued), ipAddresses: ["127.0.0.1"] };
    expect(servingCertificateState(data, loopback).current).toBe(false);
    expect(servingCertificateState(await mint(ca, dnsNames, ["127.0.0.1"]), loopback).current).toBe(true);
  });

  it("should reissue when the trust bundle changes, as in a CA rotation", () => {
    expect(
      servingCertificateState(data, want(issued, { bundlePem: trustBundle([ca, otherCa]) })).current,
    ).toBe(false);
  });

  it("should reissue when issuance moved to the next root, though the bundle already trusted both", async () => {
    const bundlePem = trustBundle([ca, otherCa]);
    const beforeSwitch = { ...(await mint(ca, dnsNames)), "ca.crt": bundlePem };
    expect(servingCertificateState(beforeSwitch, want(issued, { bundlePem })).current).toBe(true);
    expect(servingCertificateState(beforeSwitch, want(issued, { bundlePem, issuer: otherCa })).current).toBe(
      false,
    );
  });

  it("should reissue a certificate that does not chain to its own ca.crt", async () => {
    const foreign = await mint(otherCa, dnsNames);
    expect(servingCertificateState({ ...foreign, "ca.crt": trustBundle([ca]) }, want(issued)).current).toBe(
      false,
    );
  });

  it("should replace a certificate from the workload CA, as a Secret from before the serving CA holds", async () => {
    const svid = await mintSvid({
      ca: workloadCa,
      spiffeId: "spiffe://cluster.local/ns/signet-system/sa/signet-webhook",
      dnsNames,
      ttlMs: 7 * DAY,
      now: issued,
    });
    const old = { "tls.crt": svid.chainPem, "tls.key": svid.keyPem, "ca.crt": trustBundle([workloadCa]) };
    expect(servingCertificateState(old, want(issued)).current).toBe(false);
  });
});
