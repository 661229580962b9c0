import { X509Certificate } from "node:crypto";
import { connect } from "node:tls";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { issueServingCert } from "../../testing/certs.ts";
import type { JsonPatchOperation, PodCertificateSupport } from "./decide.ts";
import { type Fixture, loopbackCertificates, optedInPod, review, startFixture } from "./testing/fixture.ts";

const UID = "705ab4f5-6393-11e8-b7cc-42010a800002";

function payments(overrides: { suspend?: boolean } = {}) {
  return {
    spec: { serviceAccounts: ["payments"], ...overrides },
    status: { conditions: [{ type: "Ready", status: "True" }] },
  };
}

interface ReviewReply {
  apiVersion: string;
  kind: string;
  response: {
    uid: string;
    allowed: boolean;
    patchType?: string;
    patch?: string;
    status?: { code: number; message: string };
    warnings?: string[];
  };
}

function parse(body: string): ReviewReply {
  return JSON.parse(body) as ReviewReply;
}

function decodePatch(patch: string | undefined): JsonPatchOperation[] {
  return JSON.parse(Buffer.from(patch ?? "", "base64").toString("utf8")) as JsonPatchOperation[];
}

/** The serial number of the certificate a fresh TLS connection is served. */
function servedSerial(port: number, caPem: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const socket = connect({ host: "127.0.0.1", port, ca: caPem, servername: "localhost" }, () => {
      resolve(socket.getPeerX509Certificate()?.serialNumber ?? "");
      socket.end();
    });
    socket.on("error", reject);
  });
}

describe("the webhook server", () => {
  let f: Fixture;
  beforeAll(async () => {
    f = await startFixture();
    f.identities.set("shop/payments-api", payments());
    f.identities.set("shop/paused", payments({ suspend: true }));
  });
  afterAll(() => f.close());

  it("should answer an authorized pod with a base64 JSONPatch and echo the request's uid", async () => {
    const reply = await f.send("/mutate-pods", { body: JSON.stringify(review(optedInPod())) });
    expect(reply.status).toBe(200);
    const { apiVersion, kind, response } = parse(reply.body);
    expect({
      apiVersion,
      kind,
      uid: response.uid,
      allowed: response.allowed,
      patchType: response.patchType,
    }).toEqual({
      apiVersion: "admission.k8s.io/v1",
      kind: "AdmissionReview",
      uid: UID,
      allowed: true,
      patchType: "JSONPatch",
    });
    expect(decodePatch(response.patch)).toContainEqual({
      op: "add",
      path: "/metadata/labels/signet.dev~1identity",
      value: "payments-api",
    });
  });

  it("should allow a pod that does not opt in without any patch", async () => {
    const pod = { metadata: { name: "plain" }, spec: { containers: [{ name: "app" }] } };
    const { response } = parse((await f.send("/mutate-pods", { body: JSON.stringify(review(pod)) })).body);
    expect(response).toEqual({ uid: UID, allowed: true });
  });

  const denials = [
    {
      name: "should deny a pod whose identity does not exist",
      pod: optedInPod("ledger"),
      message: 'MachineIdentity "shop/ledger" does not exist',
    },
    {
      name: "should deny a pod whose identity is suspended",
      pod: optedInPod("paused"),
      message: 'MachineIdentity "shop/paused" is suspended',
    },
    {
      name: "should deny a pod whose ServiceAccount the identity does not list",
      pod: optedInPod("payments-api", "default"),
      message: 'does not list ServiceAccount "default" in spec.serviceAccounts',
    },
    {
      name: "should deny a pod that names an identity in another namespace",
      pod: optedInPod("finance/ledger"),
      message: "looks like a reference to another namespace",
    },
  ];
  it.each(denials)("$name, with status 403 and the reason", async ({ pod, message }) => {
    const { response } = parse((await f.send("/mutate-pods", { body: JSON.stringify(review(pod)) })).body);
    expect(response).toMatchObject({ uid: UID, allowed: false, status: { code: 403 } });
    expect(response.status?.message).toContain(message);
    expect(response.patch).toBeUndefined();
  });

  it("should look identities up only in the request's namespace", async () => {
    const { response } = parse(
      (await f.send("/mutate-pods", { body: JSON.stringify(review(optedInPod(), { namespace: "finance" })) }))
        .body,
    );
    expect(response.status?.message).toContain('MachineIdentity "finance/payments-api" does not exist');
  });

  it("should refuse a review for something other than a Pod", async () => {
    const body = review({}, { kind: { group: "apps", version: "v1", kind: "Deployment" } });
    const { response } = parse((await f.send("/mutate-pods", { body: JSON.stringify(body) })).body);
    expect(response).toMatchObject({ allowed: false, status: { code: 400 } });
    expect(response.status?.message).toContain("core/v1 Pods only, not apps/v1 Deployment");
  });

  it("should refuse a CREATE whose object is not a Pod, naming the field", async () => {
    const { response } = parse(
      (
        await f.send("/mutate-pods", {
          body: JSON.stringify(review({ metadata: {}, spec: { containers: "app" } })),
        })
      ).body,
    );
    expect(response).toMatchObject({ allowed: false, status: { code: 400 } });
    expect(response.status?.message).toMatch(/^invalid Pod in request\.object: spec\.containers: /);
  });

  it("should allow an update or delete without reading the object", async () => {
    const { response } = parse(
      (await f.send("/mutate-pods", { body: JSON.stringify(review(null, { operation: "DELETE" })) })).body,
    );
    expect(response).toEqual({ uid: UID, allowed: true });
  });

  it("should deny rather than guess while the identity cache has not synced, and report not ready", async () => {
    f.synced.value = false;
    try {
      const { response } = parse(
        (await f.send("/mutate-pods", { body: JSON.stringify(review(optedInPod())) })).body,
      );
      expect(response).toMatchObject({ allowed: false, status: { code: 503 } });
      expect((await f.send("/readyz", { method: "GET" })).status).toBe(503);
      expect((await f.send("/healthz", { method: "GET" })).status).toBe(200);
    } finally {
      f.synced.value = true;
    }
    expect((await f.send("/readyz", { method: "GET" })).status).toBe(200);
  });

  const badRequests = [
    { name: "should answer 404 for an unknown path", path: "/validate", init: {}, status: 404 },
    {
      name: "should answer 405 for a GET of the admission path",
      path: "/mutate-pods",
      init: { method: "GET" },
      status: 405,
    },
    {
      name: "should answer 415 for a body that is not JSON by its content type",
      path: "/mutate-pods",
      init: { body: "{}", headers: { "content-type": "text/plain" } },
      status: 415,
    },
    {
      name: "should answer 400 for malformed JSON",
      path: "/mutate-pods",
      init: { body: '{"apiVersion":' },
      status: 400,
    },
    {
      name: "should answer 400 for the wrong apiVersion",
      path: "/mutate-pods",
      init: { body: JSON.stringify({ ...review({}), apiVersion: "admission.k8s.io/v1beta1" }) },
      status: 400,
    },
    {
      name: "should answer 400 for a review without a uid",
      path: "/mutate-pods",
      init: { body: JSON.stringify(review({}, { uid: undefined })) },
      status: 400,
    },
    {
      name: "should answer 413 for a body over the limit",
      path: "/mutate-pods",
      init: { body: Buffer.alloc(3 * 1024 * 1024 + 1, 0x20) },
      status: 413,
    },
  ];
  it.each(badRequests)("$name", async ({ path, init, status }) => {
    const reply = await f.send(path, init);
    expect(reply.status).toBe(status);
    expect(JSON.parse(reply.body)).toHaveProperty("error");
  });

  it("should name the failed field of an invalid review", async () => {
    const reply = await f.send("/mutate-pods", { body: JSON.stringify(review({}, { uid: "" })) });
    expect(JSON.parse(reply.body)).toEqual({
      error: expect.stringMatching(/^invalid AdmissionReview: request\.uid: /),
    });
  });

  it("should count requests by operation and result, and denials by reason", async () => {
    const read = async () => {
      const metrics = await f.registry.getMetricsAsJSON();
      const values = (name: string) => metrics.find((m) => m.name === name)?.values ?? [];
      const request = (result: string, operation = "CREATE") =>
        values("signet_admission_requests_total").find(
          (v) => JSON.stringify(v.labels) === JSON.stringify({ webhook: "mutate-pods", operation, result }),
        )?.value ?? 0;
      const denial = (reason: string) =>
        values("signet_admission_denials_total")
          .filter((v) => v.labels.reason === reason)
          .reduce((sum, v) => sum + v.value, 0);
      return {
        allowed: request("allowed"),
        denied: request("denied"),
        invalid: request("invalid", "unknown"),
        IdentityNotFound: denial("IdentityNotFound"),
        IdentitySuspended: denial("IdentitySuspended"),
        ServiceAccountNotListed: denial("ServiceAccountNotListed"),
      };
    };
    const before = await read();
    const send = (pod: unknown) => f.send("/mutate-pods", { body: JSON.stringify(review(pod)) });
    await send(optedInPod());
    await send(optedInPod());
    await send(optedInPod("ledger"));
    await send(optedInPod("ledger"));
    await send(optedInPod("paused"));
    await send(optedInPod("payments-api", "default"));
    for (const body of ["", "{", "[]", "null", '{"kind":"AdmissionReview"}']) {
      await f.send("/mutate-pods", { body });
    }
    const after = await read();
    expect({
      allowed: after.allowed - before.allowed,
      denied: after.denied - before.denied,
      invalid: after.invalid - before.invalid,
      IdentityNotFound: after.IdentityNotFound - before.IdentityNotFound,
      IdentitySuspended: after.IdentitySuspended - before.IdentitySuspended,
      ServiceAccountNotListed: after.ServiceAccountNotListed - before.ServiceAccountNotListed,
    }).toEqual({
      allowed: 2,
      denied: 4,
      invalid: 5,
      IdentityNotFound: 2,
      IdentitySuspended: 1,
      ServiceAccountNotListed: 1,
    });
  });

  it("should time every answered review by webhook path and operation", async () => {
    const counts = async () => {
      const metric = (await f.registry.getMetricsAsJSON()).find(
        (m) => m.name === "signet_admission_duration_seconds",
      );
      const count = (webhook: string) =>
        metric?.values.find(
          (v) =>
            (v as { metricName?: string }).metricName === "signet_admission_duration_seconds_count" &&
            v.labels.webhook === webhook &&
            v.labels.operation === "CREATE",
        )?.value ?? 0;
      return { mutate: count("mutate-pods"), validate: count("validate-pods") };
    };
    const before = await counts();
    await f.send("/mutate-pods", { body: JSON.stringify(review(optedInPod())) });
    await f.send("/mutate-pods", { body: JSON.stringify(review(optedInPod("ledger"))) });
    await f.send("/validate-pods", { body: JSON.stringify(review(optedInPod())) });
    const after = await counts();
    expect({ mutate: after.mutate - before.mutate, validate: after.validate - before.validate }).toEqual({
      mutate: 2,
      validate: 1,
    });
  });

  it("should never write the serving key or a pod's env values to its log", async () => {
    const pod = optedInPod("ledger");
    (pod.spec as { containers: unknown[] }).containers = [
      { name: "app", env: [{ name: "DB_PASSWORD", value: "hunter2-do-not-log" }] },
    ];
    await f.send("/mutate-pods", { body: JSON.stringify(review(pod)) });
    const text = f.logs.join("");
    expect(text).toContain("admission denied");
    expect(text).not.toContain("hunter2-do-not-log");
    expect(text).not.toContain("PRIVATE KEY");
    const keyBody = f.serving.keyPem.split("\n")[1] ?? "";
    expect(keyBody.length).toBeGreaterThan(20);
    expect(text).not.toContain(keyBody);
  });

  it("should refuse a client that offers nothing newer than TLS 1.1", async () => {
    const error = await new Promise<NodeJS.ErrnoException>((resolve) => {
      const socket = connect({
        host: "127.0.0.1",
        port: f.server.port,
        ca: f.ca.certPem,
        servername: "localhost",
        minVersion: "TLSv1",
        maxVersion: "TLSv1.1",
        ciphers: "DEFAULT@SECLEVEL=0",
      });
      socket.on("secureConnect", () =>
        resolve(Object.assign(new Error("handshake succeeded"), { code: "NONE" })),
      );
      socket.on("error", resolve);
    });
    expect(error.code).toBe("ERR_SSL_TLSV1_ALERT_PROTOCOL_VERSION");
  });
});

describe("the webhook server and delivery PodCertificate", () => {
  const kubelet = {
    spec: { serviceAccounts: ["payments"], delivery: "PodCertificate" as const, ttl: "24h" },
    status: { conditions: [{ type: "Ready", status: "True" }] },
  };
  const send = async (f: Fixture) =>
    parse((await f.send("/mutate-pods", { body: JSON.stringify(review(optedInPod())) })).body).response;

  it("should inject the podCertificate volume while the cluster serves pod certificates, and deny once it does not", async () => {
    let support: PodCertificateSupport = { supported: true, trustBundle: "ClusterTrustBundle" };
    const f = await startFixture({ podCertificates: () => support });
    f.identities.set("shop/payments-api", kubelet);
    try {
      const allowed = await send(f);
      expect(allowed.allowed).toBe(true);
      expect(decodePatch(allowed.patch)).toContainEqual({
        op: "add",
        path: "/spec/volumes",
        value: [expect.objectContaining({ name: "signet-identity", projected: expect.anything() })],
      });
      support = { supported: false, missing: "the API server serves no PodCertificateRequests" };
      const denied = await send(f);
      expect(denied).toMatchObject({ allowed: false, status: { code: 403 } });
      expect(denied.status?.message).toContain(
        'MachineIdentity "shop/payments-api" has spec.delivery PodCertificate, but the API server serves no PodCertificateRequests',
      );
    } finally {
      await f.close();
    }
  });

  it("should deny when it was started without a way to know whether the cluster serves pod certificates", async () => {
    const f = await startFixture();
    f.identities.set("shop/payments-api", kubelet);
    try {
      const denied = await send(f);
      expect(denied).toMatchObject({ allowed: false, status: { code: 403 } });
      expect(denied.status?.message).toContain(
        "has not learned whether the API server serves PodCertificateRequests",
      );
    } finally {
      await f.close();
    }
  });
});

describe("the webhook server when the identity lookup fails", () => {
  it("should refuse the pod with a 500 in the review and keep serving", async () => {
    const f = await startFixture({
      lookupIdentity: () => {
        throw new Error("cache exploded");
      },
    });
    try {
      const reply = await f.send("/mutate-pods", { body: JSON.stringify(review(optedInPod())) });
      expect(reply.status).toBe(200);
      expect(parse(reply.body).response).toEqual({
        uid: UID,
        allowed: false,
        status: { code: 500, reason: "InternalError", message: "internal error in Signet's webhook" },
      });
      expect((await f.send("/healthz", { method: "GET" })).status).toBe(200);
    } finally {
      await f.close();
    }
  });
});

describe("the webhook server's serving certificate", () => {
  it("should serve a rotated certificate on new connections and keep the old one on a bad pair", async () => {
    const f = await startFixture();
    try {
      const first = new X509Certificate(f.serving.certPem).serialNumber;
      expect(await servedSerial(f.server.port, f.ca.certPem)).toBe(first);

      const next = await issueServingCert(f.ca, ["localhost"], ["127.0.0.1"]);
      f.server.setServingCertificate(next.certPem, next.keyPem);
      const second = new X509Certificate(next.certPem).serialNumber;
      expect(await servedSerial(f.server.port, f.ca.certPem)).toBe(second);

      expect(() => f.server.setServingCertificate(next.certPem, f.serving.keyPem)).toThrow(
        /serving key does not belong to certificate/,
      );
      expect(() => f.server.setServingCertificate("not a certificate", next.keyPem)).toThrow(
        /not a PEM X.509/,
      );
      expect(await servedSerial(f.server.port, f.ca.certPem)).toBe(second);
    } finally {
      await f.close();
    }
  });

  it("should start without a certificate and become ready once one is set", async () => {
    const { ca, serving } = await loopbackCertificates();
    const f = await startFixture({ servingCertificate: undefined });
    try {
      await expect(servedSerial(f.server.port, ca.certPem)).rejects.toThrow();
      f.server.setServingCertificate(serving.certPem, serving.keyPem);
      expect(await servedSerial(f.server.port, ca.certPem)).toBe(
        new X509Certificate(serving.certPem).serialNumber,
      );
    } finally {
      await f.close();
    }
  });
});

describe("the webhook server and slow clients", () => {
  it("should answer 408 and close a connection whose headers never finish", async () => {
    const f = await startFixture({ headersTimeoutMs: 200, requestTimeoutMs: 400 });
    try {
      const received = await new Promise<string>((resolve, reject) => {
        let data = "";
        const socket = connect(
          { host: "127.0.0.1", port: f.server.port, ca: f.ca.certPem, servername: "localhost" },
          () => socket.write("POST /mutate-pods HTTP/1.1\r\nHost: localhost\r\n"),
        );
        socket.on("data", (chunk: Buffer) => {
          data += chunk.toString("utf8");
        });
        socket.on("close", () => resolve(data));
        socket.on("error", reject);
      });
      expect(received).toMatch(/^HTTP\/1\.1 408 /);
      expect((await f.send("/healthz", { method: "GET" })).status).toBe(200);
    } finally {
      await f.close();
    }
  });
});

describe("the webhook server's admission paths", () => {
  let f: Fixture;
  beforeAll(async () => {
    f = await startFixture({
      handlers: {
        "/validate-example": (request) =>
          request.operation === "DELETE"
            ? { allowed: false, reason: "ExampleRefused", message: "no deletes here" }
            : { allowed: true, warnings: ["seen"] },
      },
    });
    f.identities.set("shop/payments-api", payments());
  });
  afterAll(() => f.close());

  it("should deny a pod that mounts an identity Secret at /validate-pods, naming Secret and field", async () => {
    const pod = {
      metadata: { name: "thief" },
      spec: {
        containers: [{ name: "app" }],
        volumes: [{ name: "x", secret: { secretName: "payments-api-identity" } }],
      },
    };
    const { response } = parse((await f.send("/validate-pods", { body: JSON.stringify(review(pod)) })).body);
    expect(response).toMatchObject({ uid: UID, allowed: false, status: { code: 403 } });
    expect(response.status?.message).toContain(
      'references Secret "payments-api-identity" at spec.volumes[0].secret.secretName',
    );
  });

  it("should deny at /validate-pods a pod whose podCertificate source the API server dropped", async () => {
    f.identities.set("shop/kubelet-delivered", {
      spec: { serviceAccounts: ["payments"], delivery: "PodCertificate" },
    });
    const pod = {
      metadata: {
        name: "web",
        labels: { "signet.dev/inject": "true", "signet.dev/identity": "kubelet-delivered" },
      },
      spec: {
        serviceAccountName: "payments",
        containers: [{ name: "app" }],
        volumes: [
          {
            name: "signet-identity",
            projected: {
              sources: [
                {},
                { clusterTrustBundle: { signerName: "signet.dev/svid", labelSelector: {}, path: "ca.crt" } },
              ],
            },
          },
        ],
      },
    };
    const { response } = parse((await f.send("/validate-pods", { body: JSON.stringify(review(pod)) })).body);
    expect(response).toMatchObject({ uid: UID, allowed: false, status: { code: 403 } });
    expect(response.status?.message).toContain("the API server removed the podCertificate volume source");
    const denials = (await f.registry.getMetricsAsJSON()).find(
      (m) => m.name === "signet_admission_denials_total",
    );
    expect(denials?.values.map((v) => v.labels)).toContainEqual({
      webhook: "validate-pods",
      reason: "PodCertificateDropped",
    });
  });

  it("should deny a Deployment whose template mounts an identity Secret at /validate-workloads", async () => {
    const deployment = {
      metadata: { name: "web" },
      spec: {
        template: {
          spec: {
            containers: [{ name: "app" }],
            volumes: [{ name: "x", secret: { secretName: "payments-api-identity" } }],
          },
        },
      },
    };
    const body = review(deployment, { kind: { group: "apps", version: "v1", kind: "Deployment" } });
    const { response } = parse((await f.send("/validate-workloads", { body: JSON.stringify(body) })).body);
    expect(response.status?.message).toContain('Deployment "shop/web" (its pod template) references Secret');
  });

  it("should refuse a Pod sent to /validate-workloads, naming the kinds it admits", async () => {
    const { response } = parse(
      (await f.send("/validate-workloads", { body: JSON.stringify(review({})) })).body,
    );
    expect(response).toMatchObject({ allowed: false, status: { code: 400 } });
    expect(response.status?.message).toContain("not core/v1 Pod");
  });

  it("should serve an extra handler with the review's uid, its warnings and its denial reason", async () => {
    const allowed = parse((await f.send("/validate-example", { body: JSON.stringify(review({})) })).body);
    expect(allowed.response).toEqual({ uid: UID, allowed: true, warnings: ["seen"] });
    const denied = parse(
      (await f.send("/validate-example", { body: JSON.stringify(review(null, { operation: "DELETE" })) }))
        .body,
    );
    expect(denied.response).toEqual({
      uid: UID,
      allowed: false,
      status: { code: 403, reason: "Forbidden", message: "no deletes here" },
    });
    const denials = (await f.registry.getMetricsAsJSON()).find(
      (m) => m.name === "signet_admission_denials_total",
    );
    expect(denials?.values.map((v) => v.labels)).toContainEqual({
      webhook: "validate-example",
      reason: "ExampleRefused",
    });
  });

  it("should refuse to start with an extra handler on a path it already serves", async () => {
    await expect(startFixture({ handlers: { "/mutate-pods": () => ({ allowed: true }) } })).rejects.toThrow(
      "admission path /mutate-pods is already served",
    );
  });

  it("should not serve the validating paths without a way to list identities", async () => {
    const plain = await startFixture({ listIdentities: undefined });
    try {
      expect((await plain.send("/validate-pods", { body: JSON.stringify(review({})) })).status).toBe(404);
    } finally {
      await plain.close();
    }
  });
});
