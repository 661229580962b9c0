import { connect } from "node:tls";
import fc from "fast-check";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type Fixture, optedInPod, review, startFixture } from "./testing/fixture.ts";

/**
 * Hostile and broken input against the real HTTPS server on loopback: every body that is not an
 * AdmissionReview v1 gets a 4xx, every valid review gets 200 with its uid, and the server keeps
 * answering throughout.
 */
describe("the webhook server under arbitrary input", () => {
  let f: Fixture;
  beforeAll(async () => {
    f = await startFixture();
    f.identities.set("shop/payments-api", { spec: { serviceAccounts: ["payments"] } });
  });
  afterAll(() => f.close());

  const validBody = JSON.stringify(review(optedInPod()));

  async function expectClientError(
    body: string | Buffer,
    headers: Record<string, string> = {},
  ): Promise<number> {
    const reply = await f.send("/mutate-pods", { body, headers });
    expect(reply.status).toBeGreaterThanOrEqual(400);
    expect(reply.status).toBeLessThan(500);
    expect(JSON.parse(reply.body)).toEqual({ error: expect.any(String) });
    return reply.status;
  }

  it("should answer 400 to arbitrary text", async () => {
    await fc.assert(
      fc.asyncProperty(fc.string({ unit: "binary", maxLength: 300 }), async (text) => {
        expect(await expectClientError(text)).toBe(400);
      }),
      { numRuns: 800 },
    );
  });

  it("should answer 400 to arbitrary JSON that is not an AdmissionReview", async () => {
    await fc.assert(
      fc.asyncProperty(fc.json({ maxDepth: 4 }), async (json) => {
        expect(await expectClientError(json)).toBe(400);
      }),
      { numRuns: 600 },
    );
  });

  it("should answer 400 to every truncation of a valid review", async () => {
    await fc.assert(
      fc.asyncProperty(fc.integer({ min: 0, max: validBody.length - 1 }), async (cut) => {
        expect(await expectClientError(validBody.slice(0, cut))).toBe(400);
      }),
      { numRuns: 600 },
    );
  });

  it("should answer 400 to a review with the wrong kind or apiVersion, or without a uid", async () => {
    const base = review(optedInPod());
    const broken = fc.oneof(
      fc
        .string()
        .filter((v) => v !== "admission.k8s.io/v1")
        .map((apiVersion) => ({ ...base, apiVersion })),
      fc
        .string()
        .filter((k) => k !== "AdmissionReview")
        .map((kind) => ({ ...base, kind })),
      fc
        .constantFrom<Record<string, unknown>>(
          { uid: undefined },
          { uid: "" },
          { uid: 42 },
          { operation: "PATCH" },
          { kind: undefined },
          { kind: "Pod" },
        )
        .map((change) => ({ ...base, request: { ...(base.request as object), ...change } })),
    );
    await fc.assert(
      fc.asyncProperty(broken, async (body) => {
        expect(await expectClientError(JSON.stringify(body))).toBe(400);
      }),
      { numRuns: 600 },
    );
  });

  it("should answer 415 to any other content type", async () => {
    const contentType = fc.string({ minLength: 1, maxLength: 40 }).filter((t) => {
      const media = t.split(";")[0]?.trim().toLowerCase();
      return media !== "application/json" && /^[\x21-\x7e][\x20-\x7e]*$/.test(t);
    });
    await fc.assert(
      fc.asyncProperty(contentType, async (type) => {
        expect(await expectClientError(validBody, { "content-type": type })).toBe(415);
      }),
      { numRuns: 300 },
    );
  });

  it("should answer 413 to bodies over the limit, declared or streamed", async () => {
    await fc.assert(
      fc.asyncProperty(fc.integer({ min: 1, max: 64 * 1024 }), fc.boolean(), async (excess, chunked) => {
        const body = Buffer.alloc(3 * 1024 * 1024 + excess, 0x7b);
        const reply = await f.send("/mutate-pods", { body, chunked });
        expect(reply.status).toBe(413);
      }),
      { numRuns: 20 },
    );
  });

  it("should answer 200 with the request's uid to every valid review", async () => {
    const pod = fc.record({
      identity: fc.constantFrom("payments-api", "ledger", "x/y", "Bad_Name"),
      serviceAccount: fc.constantFrom("payments", "default"),
      optIn: fc.boolean(),
    });
    await fc.assert(
      fc.asyncProperty(fc.uuid(), pod, async (uid, { identity, serviceAccount, optIn }) => {
        const object = optedInPod(identity, serviceAccount) as {
          metadata: { labels: Record<string, string> };
        };
        if (!optIn) object.metadata.labels = {};
        const reply = await f.send("/mutate-pods", { body: JSON.stringify(review(object, { uid })) });
        expect(reply.status).toBe(200);
        const { response } = JSON.parse(reply.body) as { response: { uid: string; allowed: boolean } };
        expect(response.uid).toBe(uid);
        expect(response.allowed).toBe(
          !optIn || (identity === "payments-api" && serviceAccount === "payments"),
        );
      }),
      { numRuns: 600 },
    );
  });

  /** A client that sends headers and part of the body it announced, then closes the connection. */
  const abortMidBody = () =>
    new Promise<void>((resolve, reject) => {
      const socket = connect(
        { host: "127.0.0.1", port: f.server.port, ca: f.ca.certPem, servername: "localhost" },
        () => {
          socket.end(
            "POST /mutate-pods HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/json\r\n" +
              `Content-Length: ${validBody.length}\r\n\r\n${validBody.slice(0, 100)}`,
          );
        },
      );
      socket.on("close", () => resolve());
      socket.on("error", reject);
      socket.resume();
    });

  const expectServing = async () => {
    expect(await f.send("/healthz", { method: "GET" })).toEqual({ status: 200, body: "ok\n" });
    const reply = await f.send("/mutate-pods", { body: validBody });
    expect(reply.status).toBe(200);
    expect(JSON.parse(reply.body)).toMatchObject({ response: { allowed: true } });
  };

  it("should survive a client that closes its connection in the middle of a body", async () => {
    await abortMidBody();
    await expectServing();
  });

  it("should keep answering /healthz and valid reviews while broken requests arrive at the same time", async () => {
    const broken = [
      ...Array.from({ length: 8 }, () => abortMidBody()),
      ...Array.from({ length: 8 }, (_, i) => expectClientError(validBody.slice(0, i * 50))),
      expectClientError(validBody, { "content-type": "text/plain" }),
      f.send("/mutate-pods", { body: Buffer.alloc(3 * 1024 * 1024 + 1, 0x7b) }).then((r) => {
        expect(r.status).toBe(413);
      }),
    ];
    await Promise.all([...broken, expectServing()]);
    await expectServing();
  });
});
