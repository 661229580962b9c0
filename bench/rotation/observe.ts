import { createHash, X509Certificate } from "node:crypto";
import * as k8s from "@kubernetes/client-node";
import { splitPemCertificates } from "../../operator/src/pki/certificate.ts";

/**
 * Every identity Secret event as the benchmark's watch receives it, classified against the previous
 * content of the same Secret: a re-key (new key or serial), a bundle-only rewrite (ca.crt alone
 * changed), or neither. Each event is also a sample of the trust invariant: does the Secret's
 * ca.crt hold the certificate that issued its leaf?
 */

export type Change = "created" | "rekey" | "bundle-only" | "unchanged" | "deleted";

export interface SecretEvent {
  /** performance.now() when the event reached the benchmark. */
  at: number;
  /** Date.now() at the same moment. */
  wallMs: number;
  phase: string;
  name: string;
  change: Change;
  /** A new serial under the same key: a reissue that is no re-key. */
  serialWithoutKey: boolean;
  /** ca.crt holds a certificate that issued the leaf and whose key verifies its signature. */
  trustsIssuer: boolean;
  /** The API server's time of the latest write (managedFields), whole seconds. */
  writtenAt: string | undefined;
}

/** The current content of one identity Secret, as the labels of the known roots. */
export interface SecretState {
  serial: string;
  keyHash: string;
  bundleHash: string;
  /** Label of the root that issued the leaf, "?" when none of the known roots did. */
  issuer: string;
  /** Labels of the roots in ca.crt, in order, joined by "+"; "?" for an unknown certificate. */
  bundle: string;
}

export interface Observer {
  readonly events: SecretEvent[];
  readonly state: Map<string, SecretState>;
  /** Tags the events that arrive from now on. */
  setPhase(phase: string): void;
  /** Names a root so that issuers and bundles can be told apart. */
  addRoot(label: string, pem: string): void;
  stop(): void;
}

const sha256 = (s: string) => createHash("sha256").update(s).digest("hex");
const decode = (secret: k8s.V1Secret, key: string) =>
  Buffer.from(secret.data?.[key] ?? "", "base64").toString("utf8");

export async function observeSecrets(
  kc: k8s.KubeConfig,
  namespace: string,
  labelSelector: string,
): Promise<Observer> {
  const events: SecretEvent[] = [];
  const state = new Map<string, SecretState>();
  const roots = new Map<string, X509Certificate>();
  let phase = "";

  const labelOf = (cert: X509Certificate) =>
    [...roots].find(([, root]) => root.fingerprint256 === cert.fingerprint256)?.[0] ?? "?";

  const record = (secret: k8s.V1Secret) => {
    const at = performance.now();
    const wallMs = Date.now();
    const name = secret.metadata?.name ?? "";
    const leafPem = splitPemCertificates(decode(secret, "tls.crt"))[0];
    if (!leafPem) return;
    const leaf = new X509Certificate(leafPem);
    const bundlePem = decode(secret, "ca.crt");
    const trusted = splitPemCertificates(bundlePem).map((pem) => new X509Certificate(pem));
    const next: SecretState = {
      serial: leaf.serialNumber,
      keyHash: sha256(decode(secret, "tls.key")),
      bundleHash: sha256(bundlePem),
      issuer:
        [...roots].find(([, root]) => leaf.checkIssued(root) && leaf.verify(root.publicKey))?.[0] ?? "?",
      bundle: trusted.map(labelOf).join("+"),
    };
    const before = state.get(name);
    state.set(name, next);
    const keyChanged = before !== undefined && before.keyHash !== next.keyHash;
    const serialChanged = before !== undefined && before.serial !== next.serial;
    const change: Change = !before
      ? "created"
      : keyChanged || serialChanged
        ? "rekey"
        : before.bundleHash !== next.bundleHash
          ? "bundle-only"
          : "unchanged";
    events.push({
      at,
      wallMs,
      phase,
      name,
      change,
      serialWithoutKey: serialChanged && !keyChanged,
      trustsIssuer: trusted.some((root) => leaf.checkIssued(root) && leaf.verify(root.publicKey)),
      writtenAt: secret.metadata?.managedFields
        ?.map((f) => (f.time ? new Date(f.time).toISOString() : ""))
        .sort()
        .at(-1),
    });
  };

  const forget = (secret: k8s.V1Secret) => {
    const name = secret.metadata?.name ?? "";
    state.delete(name);
    events.push({
      at: performance.now(),
      wallMs: Date.now(),
      phase,
      name,
      change: "deleted",
      serialWithoutKey: false,
      trustsIssuer: false,
      writtenAt: undefined,
    });
  };

  // A list, then a watch from its resourceVersion, resumed where it ended when the server closes it
  // and listed afresh when that version has been compacted away (410).
  const core = kc.makeApiClient(k8s.CoreV1Api);
  const watch = new k8s.Watch(kc);
  let resourceVersion = "";
  let stopped = false;
  let relist = true;
  let current: AbortController | undefined;
  const list = async () => {
    const secrets = await core.listNamespacedSecret({ namespace, labelSelector });
    for (const secret of secrets.items) record(secret);
    resourceVersion = secrets.metadata?.resourceVersion ?? "";
    relist = false;
  };
  const open = async (): Promise<void> => {
    if (stopped) return;
    try {
      if (relist) await list();
      current = await watch.watch(
        `/api/v1/namespaces/${namespace}/secrets`,
        { labelSelector, resourceVersion, allowWatchBookmarks: true },
        (type, obj: k8s.V1Secret & { code?: number }) => {
          if (type === "ERROR") {
            if (obj.code === 410) relist = true;
            return;
          }
          resourceVersion = obj.metadata?.resourceVersion ?? resourceVersion;
          if (type === "ADDED" || type === "MODIFIED") record(obj);
          else if (type === "DELETED") forget(obj);
        },
        () => {
          if (!stopped) setTimeout(() => void open(), 200);
        },
      );
    } catch (err) {
      if ((err as { code?: number }).code === 410) relist = true;
      if (!stopped) setTimeout(() => void open(), 500);
    }
  };
  await list();
  await open();
  return {
    events,
    state,
    setPhase: (p) => {
      phase = p;
    },
    addRoot: (label, pem) => {
      roots.set(label, new X509Certificate(pem));
    },
    stop: () => {
      stopped = true;
      current?.abort();
    },
  };
}
