import { describe, expect, it } from "vitest";
import { FakeClock, settle } from "../../../../testing/fake-clock.ts";
import type { PodCertificateSupport } from "../../../../webhooks/src/decide.ts";
import { createLogger } from "../../telemetry/logger.ts";
import type { TrustBundleMode } from "../config.ts";
import { PodCertificateCapability, pause, retryUntil } from "./context.ts";

const log = createLogger({ level: "silent" });

describe("pause", () => {
  it("should wait on the clock it is given, and only that long", async () => {
    const clock = new FakeClock();
    let done = false;
    void pause(1_000, new AbortController().signal, clock).then(() => {
      done = true;
    });
    await clock.advance(999);
    expect(done).toBe(false);
    await clock.advance(1);
    expect(done).toBe(true);
    expect(clock.pending()).toBe(0);
  });

  it("should reject with the abort reason and leave no timer behind", async () => {
    const clock = new FakeClock();
    const abort = new AbortController();
    const waiting = pause(60_000, abort.signal, clock);
    abort.abort(new Error("stopped"));
    await expect(waiting).rejects.toThrow("stopped");
    expect(clock.pending()).toBe(0);
  });

  it("should hold a delay past setTimeout's limit instead of firing it at once", async () => {
    const clock = new FakeClock();
    let done = false;
    void pause(30 * 86_400_000, new AbortController().signal, clock).then(() => {
      done = true;
    });
    await clock.advance(25 * 86_400_000);
    expect(done).toBe(false);
    await clock.advance(5 * 86_400_000);
    expect(done).toBe(true);
  });
});

describe("retryUntil", () => {
  it("should back off from 0.5 s, doubling up to 30 s, on the clock it is given", async () => {
    const clock = new FakeClock();
    let calls = 0;
    const result = retryUntil(
      async () => {
        calls++;
        if (calls < 9) throw new Error("not yet");
        return "ready";
      },
      new AbortController().signal,
      log,
      "thing",
      // The top of each jitter range: waits of 0.5, 1, 2, 4, 8, 16, 30, 30 s.
      { timers: clock, random: () => 1 },
    );
    const waits = [500, 1_000, 2_000, 4_000, 8_000, 16_000, 30_000, 30_000];
    for (const [i, wait] of waits.entries()) {
      await settle();
      expect(calls).toBe(i + 1);
      await clock.advance(wait - 1);
      expect(calls).toBe(i + 1);
      await clock.advance(1);
    }
    await expect(result).resolves.toBe("ready");
    expect(calls).toBe(9);
  });

  it("should give up when the signal aborts while it waits", async () => {
    const clock = new FakeClock();
    const abort = new AbortController();
    const result = retryUntil(
      async () => {
        throw new Error("never");
      },
      abort.signal,
      log,
      "thing",
      { timers: clock },
    );
    await settle();
    abort.abort(new Error("lost the lease"));
    await expect(result).rejects.toThrow("lost the lease");
    expect(clock.pending()).toBe(0);
  });
});

describe("PodCertificateCapability", () => {
  const CTB = { supported: true, trustBundle: "ClusterTrustBundle" } as const;
  const CONFIG_MAP = { supported: true, trustBundle: "ConfigMap" } as const;
  const NO_PCR = { supported: false, missing: "the API server serves no PodCertificateRequests" } as const;
  const cases: {
    name: string;
    mode?: TrustBundleMode;
    discovered: PodCertificateSupport;
    expected: PodCertificateSupport;
  }[] = [
    { name: "should follow discovery to ClusterTrustBundles by default", discovered: CTB, expected: CTB },
    {
      name: "should follow discovery to a ConfigMap by default",
      discovered: CONFIG_MAP,
      expected: CONFIG_MAP,
    },
    {
      name: "should deliver by ConfigMap when told to, where ClusterTrustBundles are served",
      mode: "ConfigMap",
      discovered: CTB,
      expected: CONFIG_MAP,
    },
    {
      name: "should deliver by ClusterTrustBundle when told to and they are served",
      mode: "ClusterTrustBundle",
      discovered: CTB,
      expected: CTB,
    },
    {
      name: "should refuse when told to take ClusterTrustBundles that the API server does not serve",
      mode: "ClusterTrustBundle",
      discovered: CONFIG_MAP,
      expected: {
        supported: false,
        missing:
          "the API server serves no certificates.k8s.io ClusterTrustBundles, which --trust-bundle=ClusterTrustBundle " +
          "requires: enable the ClusterTrustBundle feature gate and the certificates.k8s.io/v1beta1 API, or let " +
          "Signet deliver ca.crt by ConfigMap (--trust-bundle=auto)",
      },
    },
    {
      name: "should stay unsupported without PodCertificateRequests, whatever it is told",
      mode: "ConfigMap",
      discovered: NO_PCR,
      expected: NO_PCR,
    },
  ];
  it.each(cases)("$name", ({ mode, discovered, expected }) => {
    const capability = new PodCertificateCapability(mode);
    capability.set(discovered);
    expect(capability.current()).toEqual(expected);
  });

  it("should be unsupported until discovery has answered", () => {
    expect(new PodCertificateCapability("ConfigMap").current()).toEqual({
      supported: false,
      missing: expect.stringContaining("has not yet read the API server's discovery"),
    });
  });

  it("should tell its listeners only when what it says changes, and no more once they unsubscribe", () => {
    const capability = new PodCertificateCapability("ConfigMap");
    let told = 0;
    const off = capability.onChange(() => told++);
    capability.set(CTB);
    expect(told).toBe(1);
    // Discovery changed, the answer did not: ConfigMap either way.
    capability.set(CONFIG_MAP);
    capability.set(CTB);
    expect(told).toBe(1);
    capability.set(NO_PCR);
    expect(told).toBe(2);
    off();
    capability.set(CTB);
    expect(told).toBe(2);
  });
});
