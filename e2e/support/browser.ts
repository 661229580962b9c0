import { existsSync } from "node:fs";
import { pathToFileURL } from "node:url";
import { type Browser, chromium, type Page } from "playwright-core";

/** Debian's chromium, which scripts/setup.sh installs; SIGNET_CHROMIUM names another build. */
export const CHROMIUM = process.env.SIGNET_CHROMIUM ?? "/usr/bin/chromium";

export interface OfflinePage {
  page: Page;
  url: string;
  /** Every request the page made, its own file first: anything else means it is not self-contained. */
  requests: string[];
  /** Console errors and warnings (a blocked load shows here) and uncaught page errors. */
  problems: string[];
  close(): Promise<void>;
}

/** Headless Chromium, sandboxed unless it runs as root, where Chromium refuses to start with its sandbox. */
export async function launchChromium(): Promise<Browser> {
  if (!existsSync(CHROMIUM)) {
    throw new Error(`no Chromium at ${CHROMIUM}: npm run setup installs Debian's package chromium`);
  }
  // chromiumSandbox: false makes Playwright pass --no-sandbox, which Chromium needs as root (CI runs as root).
  return chromium.launch({
    executablePath: CHROMIUM,
    chromiumSandbox: process.getuid?.() !== 0,
    args: ["--disable-gpu", "--disable-dev-shm-usage"],
  });
}

/**
 * Opens a local HTML file with the network off: the browser context is offline and every request
 * other than the file itself is aborted, and all of them are recorded.
 */
export async function openOffline(
  file: string,
  viewport: { width: number; height: number } = { width: 1400, height: 900 },
): Promise<OfflinePage> {
  const browser = await launchChromium();
  try {
    const context = await browser.newContext({ offline: true, viewport });
    const url = pathToFileURL(file).href;
    await context.route("**/*", (route) =>
      route.request().url() === url ? route.continue() : route.abort(),
    );
    const page = await context.newPage();
    const requests: string[] = [];
    const problems: string[] = [];
    page.on("request", (request) => {
      requests.push(request.url());
    });
    page.on("console", (message) => {
      if (message.type() === "error" || message.type() === "warning") problems.push(message.text());
    });
    page.on("pageerror", (err) => {
      problems.push(err.message);
    });
    await page.goto(url, { waitUntil: "load" });
    return { page, url, requests, problems, close: () => browser.close() };
  } catch (err) {
    await browser.close();
    throw err;
  }
}
