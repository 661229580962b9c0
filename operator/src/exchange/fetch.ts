import { request } from "node:https";

export interface FetchJsonOptions {
  /** PEM roots to verify the server with instead of the system's. */
  ca?: string | undefined;
  /** For the whole request, connection to last byte. */
  timeoutMs: number;
  maxBytes: number;
}

export type FetchJson = (url: string, options: FetchJsonOptions) => Promise<unknown>;

/**
 * GET of a JSON document over https only, within a deadline and a size: an issuer that is slow,
 * huge or redirects (a redirect is not followed: the admin named this URL, not another) is an
 * error naming the URL, never a hung or swollen request.
 */
export const fetchJson: FetchJson = (url, options) =>
  new Promise((resolve, reject) => {
    let target: URL;
    try {
      target = new URL(url);
    } catch {
      reject(new Error(`${url} is not a URL`));
      return;
    }
    if (target.protocol !== "https:") {
      reject(new Error(`${url} is not an https URL`));
      return;
    }
    const fail = (message: string) => reject(new Error(`GET ${url}: ${message}`));
    const req = request(
      target,
      {
        method: "GET",
        headers: { accept: "application/json" },
        agent: false,
        ...(options.ca ? { ca: options.ca } : {}),
      },
      (res) => {
        if (res.statusCode !== 200) {
          res.resume();
          fail(
            res.statusCode && res.statusCode >= 300 && res.statusCode < 400
              ? `answered ${res.statusCode} (a redirect, which is not followed)`
              : `answered ${res.statusCode}`,
          );
          req.destroy();
          return;
        }
        const declared = Number(res.headers["content-length"]);
        if (declared > options.maxBytes) {
          fail(`the answer of ${declared} bytes exceeds ${options.maxBytes}`);
          req.destroy();
          return;
        }
        const chunks: Buffer[] = [];
        let size = 0;
        res.on("data", (chunk: Buffer) => {
          size += chunk.length;
          if (size > options.maxBytes) {
            fail(`the answer exceeds ${options.maxBytes} bytes`);
            req.destroy();
            return;
          }
          chunks.push(chunk);
        });
        res.on("end", () => {
          clearTimeout(deadline);
          try {
            resolve(JSON.parse(Buffer.concat(chunks).toString("utf8")));
          } catch {
            fail("the answer is not JSON");
          }
        });
        res.on("error", (err) => fail(err.message));
      },
    );
    const deadline = setTimeout(() => {
      fail(`no complete answer within ${options.timeoutMs} ms`);
      req.destroy();
    }, options.timeoutMs);
    deadline.unref();
    req.on("error", (err) => {
      clearTimeout(deadline);
      fail(err.message);
    });
    req.on("close", () => clearTimeout(deadline));
    req.end();
  });
