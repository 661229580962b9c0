import type { IncomingMessage, ServerResponse } from "node:http";
import { createServer, type Server } from "node:https";
import type { AddressInfo } from "node:net";
import { exportJWK, generateKeyPair, type JWK, type JWTPayload, SignJWT } from "jose";
import { createTestCa, issueServingCert, type TestCa } from "./certs.ts";

type PrivateKey = Awaited<ReturnType<typeof generateKeyPair>>["privateKey"];

/** A signing key of a test issuer: its private half and the public JWK it publishes. */
export interface IssuerSigningKey {
  kid: string;
  alg: string;
  privateKey: PrivateKey;
  jwk: JWK;
}

export async function issuerSigningKey(kid: string, alg = "ES256"): Promise<IssuerSigningKey> {
  const pair = await generateKeyPair(alg, { extractable: true });
  return {
    kid,
    alg,
    privateKey: pair.privateKey,
    jwk: { ...(await exportJWK(pair.publicKey)), kid, alg, use: "sig" },
  };
}

/** What a path answers instead of the issuer's own document: a status, a body, a delay, a redirect. */
export interface Override {
  status?: number;
  body?: string;
  delayMs?: number;
  location?: string;
}

/**
 * An OIDC issuer on loopback, as a CI system runs one: HTTPS with a CA of its own (so that a
 * verifier must be given its caBundle), a discovery document at /.well-known/openid-configuration
 * and the JWKS at /jwks, every request counted. It signs tokens with its keys.
 */
export class TestOidcIssuer {
  #server: Server | undefined;
  ca!: TestCa;
  hits: string[] = [];
  /** The published keys; `sign` may use any key, published or not. */
  keys: IssuerSigningKey[] = [];
  readonly answers = new Map<string, Override>();
  /** The discovery document for the issuer at `base`. */
  discovery: (base: string) => Record<string, unknown> = defaultDiscovery;

  static async start(): Promise<TestOidcIssuer> {
    const issuer = new TestOidcIssuer();
    issuer.ca = await createTestCa("test OIDC issuer CA");
    issuer.keys = [await issuerSigningKey("k1")];
    const serving = await issueServingCert(issuer.ca, ["localhost"], ["127.0.0.1"]);
    const server = createServer({ cert: serving.certPem, key: serving.keyPem }, (req, res) =>
      issuer.#handle(req, res),
    );
    await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
    issuer.#server = server;
    return issuer;
  }

  /** The issuer URL, as its tokens' iss says: https://127.0.0.1:<port>. */
  get url(): string {
    const address = this.#server?.address() as AddressInfo | undefined;
    if (!address) throw new Error("the test issuer is not listening");
    return `https://127.0.0.1:${address.port}`;
  }

  /** A JWT signed with `key` (the first published one by default), iss this issuer unless `claims` says otherwise. */
  sign(claims: JWTPayload, key: IssuerSigningKey | undefined = this.keys[0]): Promise<string> {
    if (!key) throw new Error("the test issuer has no key");
    const payload = Object.fromEntries(
      Object.entries({ iss: this.url, ...claims }).filter(([, v]) => v !== undefined),
    );
    return new SignJWT(payload)
      .setProtectedHeader({ alg: key.alg, kid: key.kid, typ: "JWT" })
      .sign(key.privateKey);
  }

  reset(): void {
    this.hits = [];
    this.answers.clear();
    this.discovery = defaultDiscovery;
  }

  stop(): Promise<void> {
    const server = this.#server;
    if (!server) return Promise.resolve();
    server.closeAllConnections();
    return new Promise((resolve) => server.close(() => resolve()));
  }

  #handle(req: IncomingMessage, res: ServerResponse): void {
    const path = req.url ?? "";
    this.hits.push(path);
    const override = this.answers.get(path);
    const send = () => {
      if (override?.location) {
        res.writeHead(override.status ?? 302, { location: override.location }).end();
        return;
      }
      const own =
        path === "/jwks"
          ? { keys: this.keys.map((k) => k.jwk) }
          : path === "/.well-known/openid-configuration"
            ? this.discovery(this.url)
            : undefined;
      res.writeHead(override?.status ?? (own ? 200 : 404), { "content-type": "application/json" });
      res.end(override?.body ?? JSON.stringify(own ?? { error: "not found" }));
    };
    if (override?.delayMs) setTimeout(send, override.delayMs);
    else send();
  }
}

function defaultDiscovery(base: string): Record<string, unknown> {
  return {
    issuer: base,
    jwks_uri: `${base}/jwks`,
    response_types_supported: ["id_token"],
    subject_types_supported: ["public"],
    id_token_signing_alg_values_supported: ["ES256", "RS256"],
  };
}
