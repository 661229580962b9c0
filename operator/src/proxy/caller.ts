import { DNS1123_LABEL_PATTERN } from "../api/fields.ts";
import type { IdentityRef } from "../policy/http.ts";

const LABEL = new RegExp(DNS1123_LABEL_PATTERN);
const IDENTITY_PATH = /^\/ns\/([^/]+)\/id\/([^/]+)$/;

/** The trust domain of a SPIFFE ID, or undefined when it is none. */
export function trustDomainOf(spiffeId: string): string | undefined {
  const match = /^spiffe:\/\/([^/]+)\//.exec(spiffeId);
  return match?.[1];
}

/**
 * The MachineIdentity a SPIFFE ID of Signet's default form names: spiffe://<td>/ns/<namespace>/id/<name>,
 * in `trustDomain`. Any other form (another trust domain, a custom path) names no identity that
 * AccessPolicies can speak of.
 */
export function identityOfSpiffeId(spiffeId: string, trustDomain: string): IdentityRef | undefined {
  const prefix = `spiffe://${trustDomain}`;
  if (!spiffeId.startsWith(`${prefix}/`)) return undefined;
  const match = IDENTITY_PATH.exec(spiffeId.slice(prefix.length));
  if (match === null) return undefined;
  const [, namespace, identity] = match as unknown as [string, string, string];
  if (!LABEL.test(namespace) || !LABEL.test(identity) || namespace.length > 63 || identity.length > 63) {
    return undefined;
  }
  return { namespace, identity };
}
