import { Writable } from "node:stream";
import { describe, expect, it } from "vitest";
import { createLogger, describeError, logRetry } from "./logger.ts";

const KEY =
  "-----BEGIN PRIVATE KEY-----\nMIGHAgEAMBMGByqGSM49AgEGCCqGSM49AwEHBG0wawIBAQQg\n-----END PRIVATE KEY-----\n";

function capture() {
  const lines: string[] = [];
  const destination = new Writable({
    write(chunk, _encoding, done) {
      lines.push(String(chunk));
      done();
    },
  });
  return { log: createLogger({ level: "debug", component: "test", destination }), lines };
}

describe("createLogger", () => {
  it("should write one JSON object a line with level, time and component", () => {
    const { log, lines } = capture();
    log.info({ identity: "shop/payments-api" }, "issued");
    const entry = JSON.parse(lines[0] ?? "{}");
    expect(entry).toMatchObject({
      level: "info",
      component: "test",
      identity: "shop/payments-api",
      msg: "issued",
    });
    expect(Date.parse(entry.time)).not.toBeNaN();
  });

  it.each([
    ["a keyPem field", { keyPem: KEY }],
    ["a private key nested in an object", { svid: { privateKey: KEY } }],
    ["a Secret's data", { secret: { data: { "tls.key": Buffer.from(KEY).toString("base64") } } }],
    ["a token", { token: "eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJ4In0.c2ln" }],
    ["stringData", { stringData: { "tls.key": KEY } }],
  ])("should redact %s", (_name, fields) => {
    const { log, lines } = capture();
    log.info(fields, "something happened");
    const line = lines.join("");
    expect(line).toContain("[redacted]");
    expect(line).not.toContain("BEGIN PRIVATE KEY");
    expect(line).not.toContain("MIGHAgEAMBMGByqGSM49");
    expect(line).not.toContain(Buffer.from(KEY).toString("base64").slice(0, 24));
    expect(line).not.toContain("eyJhbGciOiJSUzI1NiJ9");
  });
});

describe("describeError", () => {
  it("should give an API error's status and message without its headers", () => {
    const err = Object.assign(new Error('HTTP-Code: 409\nHeaders: {"audit-id":"x"}'), {
      code: 409,
      body: JSON.stringify({ kind: "Status", message: "the object has been modified" }),
    });
    expect(describeError(err)).toBe("HTTP 409: the object has been modified");
  });
  it("should fall back to the status alone, and to a plain error's message", () => {
    expect(describeError({ code: 502, body: "<html>bad gateway</html>" })).toBe("HTTP 502");
    expect(describeError(new Error("socket hang up"))).toBe("socket hang up");
  });
});

describe("logRetry", () => {
  it("should log a conflict at debug level and any other failure as a warning", () => {
    const { log, lines } = capture();
    logRetry(log, { identity: "shop/a" }, "reconcile failed", { code: 409, body: '{"message":"modified"}' });
    logRetry(log, { identity: "shop/b" }, "reconcile failed", new Error("timeout"));
    const [conflict, failure] = lines.map((l) => JSON.parse(l));
    expect(conflict).toMatchObject({
      level: "debug",
      identity: "shop/a",
      err: "HTTP 409: modified",
      msg: "reconcile failed; retrying",
    });
    expect(failure).toMatchObject({ level: "warn", identity: "shop/b", err: "timeout" });
  });
});
