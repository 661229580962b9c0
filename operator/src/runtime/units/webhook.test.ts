import { describe, expect, it } from "vitest";
import { FakeClock } from "../../../../testing/fake-clock.ts";
import type { PodCertificateSupport } from "../../../../webhooks/src/decide.ts";
import { ApiError } from "../../kube/client.ts";
import { createLogger } from "../../telemetry/logger.ts";
import { discoverPodCertificateSupport, podCertificateSupportOf } from "./webhook.ts";

const log = createLogger({ level: "silent" });

/** An APIResourceList as the API server answers GET /apis/certificates.k8s.io/<version>. */
function resources(version: string, ...names: string[]) {
  return {
    kind: "APIResourceList",
    apiVersion: "v1",
    groupVersion: `certificates.k8s.io/${version}`,
    resources: names.map((name) => ({ name, namespaced: name.startsWith("pod"), kind: "X", verbs: ["get"] })),
  };
}

const BOTH = ["clustertrustbundles", "podcertificaterequests", "podcertificaterequests/status"];
const NO_PCR =
  "the API server serves no certificates.k8s.io PodCertificateRequests: enable the PodCertificateRequest " +
  "feature gate and the certificates.k8s.io/v1beta1 API";

const CTB = { supported: true, trustBundle: "ClusterTrustBundle" } as const;
const CONFIG_MAP = { supported: true, trustBundle: "ConfigMap" } as const;

describe("podCertificateSupportOf", () => {
  const cases: { name: string; lists: unknown[]; expected: PodCertificateSupport }[] = [
    {
      name: "should take ca.crt from ClusterTrustBundles when v1beta1 lists them and PodCertificateRequests",
      lists: [resources("v1beta1", ...BOTH), undefined],
      expected: CTB,
    },
    {
      name: "should take ClusterTrustBundles when v1 lists both (after GA)",
      lists: [undefined, resources("v1", ...BOTH, "certificatesigningrequests")],
      expected: CTB,
    },
    {
      name: "should take ClusterTrustBundles when each version lists one of them",
      lists: [resources("v1beta1", "clustertrustbundles"), resources("v1", "podcertificaterequests")],
      expected: CTB,
    },
    {
      name: "should take ca.crt from a ConfigMap when PodCertificateRequests are served and ClusterTrustBundles are not",
      lists: [resources("v1beta1", "podcertificaterequests"), undefined],
      expected: CONFIG_MAP,
    },
    {
      name: "should take a ConfigMap where PodCertificateRequests are GA and ClusterTrustBundles off (1.37)",
      lists: [undefined, resources("v1", "podcertificaterequests", "podcertificaterequests/status")],
      expected: CONFIG_MAP,
    },
    {
      name: "should not take the status subresource of ClusterTrustBundles for the resource",
      lists: [resources("v1beta1", "podcertificaterequests", "clustertrustbundles/status"), undefined],
      expected: CONFIG_MAP,
    },
    {
      name: "should say PodCertificateRequests are missing when the API server lists only ClusterTrustBundles",
      lists: [resources("v1beta1", "clustertrustbundles"), resources("v1", "certificatesigningrequests")],
      expected: { supported: false, missing: NO_PCR },
    },
    {
      name: "should not take the status subresource for the resource",
      lists: [resources("v1beta1", "clustertrustbundles", "podcertificaterequests/status"), undefined],
      expected: { supported: false, missing: NO_PCR },
    },
    {
      name: "should say PodCertificateRequests are missing when neither version is served",
      lists: [undefined, undefined],
      expected: { supported: false, missing: NO_PCR },
    },
    {
      name: "should take an answer that is not a resource list for one that serves nothing",
      lists: [{ kind: "Status" }, "<html>", null, { resources: [null, 7, { name: 1 }] }],
      expected: { supported: false, missing: NO_PCR },
    },
  ];
  it.each(cases)("$name", ({ lists, expected }) => {
    expect(podCertificateSupportOf(lists)).toEqual(expected);
  });
});

const notFound = (path: string) => new ApiError("GET", path, 404, { kind: "Status", code: 404 }, {});

describe("discoverPodCertificateSupport", () => {
  it("should read both versions at once, and again every minute on the clock it is given", async () => {
    const clock = new FakeClock();
    const asked: string[] = [];
    let served = false;
    const discovery = discoverPodCertificateSupport({
      get: async (path) => {
        asked.push(path);
        if (path.endsWith("/v1beta1") && served) return resources("v1beta1", ...BOTH);
        throw notFound(path);
      },
      log,
      timers: clock,
    });
    await discovery.first;
    expect(asked).toEqual(["/apis/certificates.k8s.io/v1beta1", "/apis/certificates.k8s.io/v1"]);
    expect(discovery.current()).toEqual({
      supported: false,
      missing: expect.stringContaining("PodCertificateRequests"),
    });

    served = true;
    await clock.advance(59_999);
    expect(discovery.current().supported).toBe(false);
    await clock.advance(1);
    expect(asked).toHaveLength(4);
    expect(discovery.current()).toEqual(CTB);

    await discovery.stop();
    expect(clock.pending()).toBe(0);
  });

  it("should refuse until discovery has answered, saying it could not be read", async () => {
    const clock = new FakeClock();
    let fail = true;
    const discovery = discoverPodCertificateSupport({
      get: async (path) => {
        if (fail) throw new Error("connect ECONNREFUSED 10.96.0.1:443");
        return resources(path.endsWith("/v1") ? "v1" : "v1beta1", ...BOTH);
      },
      log,
      timers: clock,
    });
    await discovery.first;
    expect(discovery.current()).toEqual({
      supported: false,
      missing: expect.stringContaining(
        "could not read the API server's discovery of certificates.k8s.io (connect ECONNREFUSED 10.96.0.1:443)",
      ),
    });
    fail = false;
    await clock.advance(60_000);
    expect(discovery.current()).toEqual(CTB);
    await discovery.stop();
  });

  it("should keep its last answer when a later reading fails", async () => {
    const clock = new FakeClock();
    let fail = false;
    const discovery = discoverPodCertificateSupport({
      get: async (path) => {
        if (fail) throw new Error("500 internal error");
        return path.endsWith("/v1beta1") ? resources("v1beta1", ...BOTH) : Promise.reject(notFound(path));
      },
      log,
      timers: clock,
    });
    await discovery.first;
    expect(discovery.current()).toEqual(CTB);
    fail = true;
    await clock.advance(60_000);
    expect(discovery.current()).toEqual(CTB);
    await discovery.stop();
  });

  it("should tell each answer as it takes it, the failure before any answer included", async () => {
    const clock = new FakeClock();
    const told: PodCertificateSupport[] = [];
    let reading = 0;
    const discovery = discoverPodCertificateSupport({
      get: async (path) => {
        if (reading < 2) throw new Error("connect ECONNREFUSED 10.96.0.1:443");
        if (path.endsWith("/v1")) throw notFound(path);
        return resources("v1beta1", ...(reading === 2 ? ["podcertificaterequests"] : BOTH));
      },
      log,
      timers: clock,
      onAnswer: (support) => told.push(support),
    });
    await discovery.first;
    reading = 1;
    await clock.advance(60_000);
    reading = 2;
    await clock.advance(60_000);
    reading = 3;
    await clock.advance(60_000);
    expect(told).toEqual([
      { supported: false, missing: expect.stringContaining("ECONNREFUSED") },
      { supported: false, missing: expect.stringContaining("ECONNREFUSED") },
      CONFIG_MAP,
      CTB,
    ]);
    await discovery.stop();
  });

  it("should stop a reading in flight and arm no further timer", async () => {
    const clock = new FakeClock();
    const discovery = discoverPodCertificateSupport({
      get: (_path, signal) =>
        new Promise((_resolve, reject) => signal.addEventListener("abort", () => reject(signal.reason))),
      log,
      timers: clock,
    });
    await discovery.stop();
    await discovery.first;
    expect(discovery.current().supported).toBe(false);
    expect(clock.pending()).toBe(0);
  });
});
