import { API_VERSION } from "../api/index.ts";
import { CLI_REPORTING_CONTROLLER } from "../api/names.ts";
import { microTime } from "../kube/resources.ts";
import type { TargetKind } from "./target.ts";

/** Who writes the Events of the access commands (events.k8s.io/v1 reportingController). */
export const REPORTING_CONTROLLER = CLI_REPORTING_CONTROLLER;
/** The field manager of their writes, so that managedFields say which fields the CLI set. */
export const FIELD_MANAGER = "signet-cli";

/** The Event reasons of the access commands, CamelCase as every Signet reason. */
export const AccessCommandReason = {
  Suspended: "Suspended",
  Resumed: "Resumed",
  GrantOpened: "GrantOpened",
  GrantRevoked: "GrantRevoked",
} as const;
export type AccessCommandReason = (typeof AccessCommandReason)[keyof typeof AccessCommandReason];

const ACTION: Readonly<Record<AccessCommandReason, string>> = {
  Suspended: "Suspend",
  Resumed: "Resume",
  GrantOpened: "Grant",
  GrantRevoked: "Revoke",
};

/** The API server's limit on an Event's note. */
export const NOTE_LIMIT = 1024;

export interface ChangedObject {
  kind: TargetKind;
  metadata: { name: string; namespace: string; uid?: string; resourceVersion?: string };
}

export interface ObjectReference {
  apiVersion: string;
  kind: string;
  name: string;
  namespace: string;
  uid?: string;
  resourceVersion?: string;
}

/** An events.k8s.io/v1 Event as it is sent. */
export interface AccessEvent {
  apiVersion: "events.k8s.io/v1";
  kind: "Event";
  metadata: { name: string; namespace: string };
  eventTime: string;
  type: "Normal";
  reason: AccessCommandReason;
  action: string;
  reportingController: string;
  reportingInstance: string;
  regarding: ObjectReference;
  related?: ObjectReference;
  note: string;
}

export function referenceTo(object: ChangedObject): ObjectReference {
  const { name, namespace, uid, resourceVersion } = object.metadata;
  return {
    apiVersion: API_VERSION,
    kind: object.kind,
    name,
    namespace,
    ...(uid === undefined ? {} : { uid }),
    ...(resourceVersion === undefined ? {} : { resourceVersion }),
  };
}

/** `note` cut to the API server's limit, in bytes, with an ellipsis when cut. */
export function boundedNote(note: string): string {
  if (Buffer.byteLength(note) <= NOTE_LIMIT) return note;
  let cut = note.slice(0, NOTE_LIMIT);
  while (Buffer.byteLength(`${cut}…`) > NOTE_LIMIT) cut = cut.slice(0, -1);
  return `${cut}…`;
}

/**
 * `<object name>.<suffix>`, as client-go's recorders name Events. A name is at most 253
 * characters, so a long object name is cut, and then ends in a letter or digit as each part of a
 * DNS subdomain must.
 */
export function eventName(objectName: string, suffix: string): string {
  const cut = objectName.length > 200 ? objectName.slice(0, 200).replace(/[^a-z0-9]+$/, "") : objectName;
  return `${cut}.${suffix}`;
}

/**
 * The Event that records a change made from the command line, on the changed object (`regarding`,
 * at the resourceVersion the change produced), and on the object the person named when that is
 * another (`related`: the policy whose schedule got the grant). `user` is the name the API server
 * gave the caller in a SelfSubjectReview, so the note says who was authenticated, not who the
 * person claims to be.
 */
export function accessEvent(input: {
  object: ChangedObject;
  related?: ChangedObject;
  reason: AccessCommandReason;
  /** What happened, e.g. "suspended" or "grant 2026-12-02T10:00:00Z to 2026-12-02T10:30:00Z opened". */
  what: string;
  user: string;
  /** The --reason given, if any. */
  why?: string;
  now: number;
  /** Makes the Event's name unique: lower-case letters and digits, e.g. 16 random hex digits. */
  suffix: string;
}): AccessEvent {
  const { object, related, reason, what, user, why, now, suffix } = input;
  return {
    apiVersion: "events.k8s.io/v1",
    kind: "Event",
    metadata: { name: eventName(object.metadata.name, suffix), namespace: object.metadata.namespace },
    eventTime: microTime(now),
    type: "Normal",
    reason,
    action: ACTION[reason],
    reportingController: REPORTING_CONTROLLER,
    reportingInstance: FIELD_MANAGER,
    regarding: referenceTo(object),
    ...(related === undefined ? {} : { related: referenceTo(related) }),
    note: boundedNote(`${what} by ${user}${why ? `: ${why}` : ""}`),
  };
}
