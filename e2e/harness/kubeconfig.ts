import { stringify } from "yaml";

const b64 = (s: string) => Buffer.from(s).toString("base64");

export interface KubeconfigInput {
  server: string;
  caPem: string;
  user: string;
  certPem?: string;
  keyPem?: string;
  token?: string;
}

/** A kubeconfig with one cluster, one user and one current context, as kubectl writes it. */
export function renderKubeconfig(input: KubeconfigInput): string {
  const user: Record<string, string> = {};
  if (input.certPem) user["client-certificate-data"] = b64(input.certPem);
  if (input.keyPem) user["client-key-data"] = b64(input.keyPem);
  if (input.token) user.token = input.token;
  return stringify({
    apiVersion: "v1",
    kind: "Config",
    clusters: [
      {
        name: "signet-local",
        cluster: { server: input.server, "certificate-authority-data": b64(input.caPem) },
      },
    ],
    users: [{ name: input.user, user }],
    contexts: [{ name: "signet-local", context: { cluster: "signet-local", user: input.user } }],
    "current-context": "signet-local",
  });
}
