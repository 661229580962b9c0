import { Writable } from "node:stream";
import { describe, expect, it } from "vitest";
import { createLogger } from "./logger.ts";

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
