import { z } from "zod";
import { daysInMonth, MONTHS } from "../schedule/instant.ts";
import { DURATION_PATTERN, isDuration, parseDuration } from "./duration.ts";

// Every pattern here is written for both RE2 (the API server's OpenAPI `pattern` and CEL
// `matches`) and ECMAScript (zod), so the two validators accept exactly the same strings.

const LABEL = "[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?";

/** RFC 1123 label: what Kubernetes requires of namespace names and label values used as names. */
export const DNS1123_LABEL_PATTERN = `^${LABEL}$`;
/** RFC 1123 subdomain: what Kubernetes requires of most object names (ServiceAccounts, Secrets). */
export const DNS1123_SUBDOMAIN_PATTERN = `^${LABEL}([.]${LABEL})*$`;
/** A DNS name for a SAN: lowercase RFC 1123 labels, optionally a wildcard as the leftmost label only. */
export const DNS_NAME_PATTERN = `^([*][.])?${LABEL}([.]${LABEL})*$`;
/**
 * A SPIFFE ID per the SPIFFE-ID standard: lowercase trust domain of [a-z0-9._-], a non-root path of
 * segments of [A-Za-z0-9._-] that are neither "." nor "..", and nothing else (no port, userinfo,
 * query or fragment: their delimiters are outside both character sets).
 */
export const SPIFFE_ID_PATTERN =
  "^spiffe://[a-z0-9._-]{1,255}(/([A-Za-z0-9_-][A-Za-z0-9._-]*|[.][A-Za-z0-9_-][A-Za-z0-9._-]*|[.][.][A-Za-z0-9._-]+))+$";
/** 24-hour wall-clock time of day, 00:00 to 23:59. */
export const TIME_OF_DAY_PATTERN = "^([01][0-9]|2[0-3]):[0-5][0-9]$";
/** RFC 3339 date-time with a mandatory offset ("Z" or "+01:00"), as CEL `timestamp()` parses it. */
export const RFC3339_PATTERN =
  "^[0-9]{4}-(0[1-9]|1[0-2])-(0[1-9]|[12][0-9]|3[01])T([01][0-9]|2[0-3]):[0-5][0-9]:[0-5][0-9]([.][0-9]{1,9})?(Z|[+-]([01][0-9]|2[0-3]):[0-5][0-9])$";
/** An IANA time zone name such as "Europe/Berlin" or "UTC"; whether it exists is checked by the operator. */
export const TIME_ZONE_PATTERN = "^[A-Za-z][A-Za-z0-9_+-]*(/[A-Za-z0-9_+-]+)*$";
/** CamelCase reason, as metav1.Condition requires. */
export const REASON_PATTERN = "^[A-Za-z]([A-Za-z0-9_,:]*[A-Za-z0-9_])?$";

/** A CEL string literal holding `text`. */
export function celString(text: string): string {
  return `'${text.replaceAll("\\", "\\\\").replaceAll("'", "\\'")}'`;
}

/** CEL guard: the rules below only call duration() on strings the pattern already admits. */
export function celIsDuration(expr: string): string {
  return `${expr}.matches(${celString(DURATION_PATTERN)})`;
}

/**
 * A cross-field rule, once as CEL for the API server and once as a predicate for the operator;
 * both must accept the same values (the shared invalid-manifest table checks that they do).
 */
export interface Rule<T> {
  rule: string;
  /** Names the field and says what to do; shown verbatim by the API server and the operator. */
  message: string;
  /** Where the problem is reported, relative to the node carrying the rule, e.g. ".end". */
  fieldPath?: string;
  holds: (self: T) => boolean;
}

/** Attaches rules to a schema: zod refinements for the operator, x-kubernetes-validations for the CRD. */
export function withRules<S extends z.ZodType>(schema: S, rules: Rule<z.output<S>>[]): S {
  let refined = schema;
  for (const r of rules) {
    const path = r.fieldPath ? r.fieldPath.slice(1).split(".") : [];
    refined = refined.superRefine((value, ctx) => {
      // zod prefixes the parent path onto the issue's own array, so each issue needs a fresh one.
      if (!r.holds(value as z.output<S>))
        ctx.addIssue({ code: "custom", message: r.message, path: [...path] });
    }) as S;
  }
  return refined.meta({
    "x-kubernetes-validations": rules.map(({ rule, message, fieldPath }) =>
      fieldPath ? { rule, message, fieldPath } : { rule, message },
    ),
  }) as S;
}

/** A list whose items must be distinct (x-kubernetes-list-type: set), reporting the repeated index. */
export function setOf<T extends z.ZodType>(item: T, maxItems: number, what: string) {
  return z
    .array(item)
    .max(maxItems, `at most ${maxItems} ${what} are allowed`)
    .superRefine((list, ctx) => {
      const seen = new Set<string>();
      list.forEach((value, index) => {
        const key = JSON.stringify(value);
        if (seen.has(key)) ctx.addIssue({ code: "custom", message: `duplicate value ${key}`, path: [index] });
        seen.add(key);
      });
    })
    .meta({ "x-kubernetes-list-type": "set" });
}

/** A list keyed by some of its items' fields (x-kubernetes-list-type: map), e.g. ports by port and protocol. */
export function mapListOf<T extends z.ZodType>(item: T, keys: string[], maxItems: number, what: string) {
  return z
    .array(item)
    .max(maxItems, `at most ${maxItems} ${what} are allowed`)
    .superRefine((list, ctx) => {
      const seen = new Set<string>();
      list.forEach((value, index) => {
        const entry = value as Record<string, unknown>;
        const key = JSON.stringify(keys.map((k) => entry[k]));
        if (seen.has(key)) {
          ctx.addIssue({
            code: "custom",
            message: `duplicate entry for ${keys.join("/")} ${key}`,
            path: [index],
          });
        }
        seen.add(key);
      });
    })
    .meta({ "x-kubernetes-list-type": "map", "x-kubernetes-list-map-keys": keys });
}

export function dns1123Label(what: string) {
  return z
    .string()
    .max(63, `${what} must be at most 63 characters`)
    .regex(
      new RegExp(DNS1123_LABEL_PATTERN),
      `${what} must be a DNS-1123 label: lowercase letters, digits and '-', starting and ending with a letter or digit`,
    );
}

export function dns1123Subdomain(what: string) {
  return z
    .string()
    .max(253, `${what} must be at most 253 characters`)
    .regex(
      new RegExp(DNS1123_SUBDOMAIN_PATTERN),
      `${what} must be a DNS-1123 subdomain: lowercase letters, digits, '-' and '.', each part starting and ending with a letter or digit`,
    );
}

/** A duration string between `min` and `max`, bounded in CEL and in zod alike. */
export function durationField(what: string, min: string, max: string) {
  const [lo, hi] = [parseDuration(min), parseDuration(max)];
  return withRules(
    z
      .string()
      .max(32, `${what} must be at most 32 characters`)
      .regex(
        new RegExp(DURATION_PATTERN),
        `${what} must be a duration such as "90s", "20m" or "1h30m" (units h, m, s, ms)`,
      ),
    [
      {
        rule: `!${celIsDuration("self")} || (duration(self) >= duration('${min}') && duration(self) <= duration('${max}'))`,
        message: `${what} must be between ${min} and ${max}`,
        holds: (self) => !isDuration(self) || (parseDuration(self) >= lo && parseDuration(self) <= hi),
      },
    ],
  );
}

const RFC3339_RE = new RegExp(RFC3339_PATTERN);

/**
 * Why a date the RFC 3339 pattern admits is not on the calendar ("February 2027 has 28 days"), or
 * undefined. The pattern bounds every other field; the day of the month depends on month and year,
 * with leap years per the Gregorian rules (2000 and 2024 are, 1900, 2027 and 2100 are not).
 */
function missingDay(text: string): string | undefined {
  const [year, month, day] = text.slice(0, 10).split("-").map(Number) as [number, number, number];
  const length = daysInMonth(year, month);
  return day <= length ? undefined : `${MONTHS[month - 1]} ${text.slice(0, 4)} has ${length} days`;
}

/** The instant of a text that timestampField accepts, in ms since the epoch; undefined for any other. */
export function timestampMs(text: string): number | undefined {
  return RFC3339_RE.test(text) && missingDay(text) === undefined ? Date.parse(text) : undefined;
}

/**
 * An RFC 3339 instant with an explicit offset that is a real instant: hours 00-23, minutes and
 * seconds 00-59 (no leap second), and a day the month has, as the API server's date-time format
 * also requires.
 */
export function timestampField(what: string) {
  return z
    .string()
    .max(64, `${what} must be at most 64 characters`)
    .regex(RFC3339_RE, `${what} must be an RFC 3339 date-time such as "2026-11-21T22:00:00Z"`)
    .superRefine((text, ctx) => {
      // A text the pattern refused is reported once, by the pattern.
      const why = RFC3339_RE.test(text) ? missingDay(text) : undefined;
      if (why !== undefined)
        ctx.addIssue({ code: "custom", message: `${text} is not a real instant (${why})` });
    })
    .meta({ format: "date-time" });
}

export const ObjectReferenceSchema = z
  .object({
    name: dns1123Subdomain("name").describe("Name of the object, in the same namespace."),
  })
  .describe("A reference to an object in the same namespace.");

/** metav1.Condition, as Kubernetes API conventions define it. */
export const ConditionSchema = z
  .object({
    type: z
      .string()
      .max(316, "type must be at most 316 characters")
      .regex(new RegExp(REASON_PATTERN), "type must be CamelCase")
      .describe("Type of the condition in CamelCase, e.g. Ready."),
    status: z.enum(["True", "False", "Unknown"]).describe("Status of the condition: True, False or Unknown."),
    reason: z
      .string()
      .min(1, "reason must not be empty")
      .max(1024, "reason must be at most 1024 characters")
      .regex(new RegExp(REASON_PATTERN), "reason must be CamelCase")
      .describe("Machine-readable CamelCase reason for the last transition; also used for Events."),
    message: z
      .string()
      .max(32768, "message must be at most 32768 characters")
      .describe("Human-readable explanation of the last transition."),
    lastTransitionTime: timestampField("lastTransitionTime").describe(
      "When the condition last changed its status (RFC 3339).",
    ),
    observedGeneration: z
      .number()
      .int()
      .min(0)
      .optional()
      .describe("The metadata.generation the condition was computed from."),
  })
  .describe("One aspect of the object's current state.");

export function conditionsField(what: string) {
  return mapListOf(ConditionSchema, ["type"], 16, "conditions").describe(
    `Current state of the ${what}, one condition per type.`,
  );
}

export const ObservedGenerationSchema = z
  .number()
  .int()
  .min(0)
  .describe("The metadata.generation the status was last computed from.");

/** A problem the API server or the operator found, with the field it is about. */
export interface Problem {
  /** JSON path of the offending field in the object, e.g. "spec.windows[0].end". */
  field: string;
  message: string;
}

/** "spec.grants[0].end" from ["spec", "grants", 0, "end"]. */
export function fieldPathOf(path: readonly PropertyKey[]): string {
  let out = "";
  for (const segment of path) {
    if (typeof segment === "number") out += `[${segment}]`;
    else out += out ? `.${String(segment)}` : String(segment);
  }
  return out;
}

/** One line per problem: "spec.ttl: ttl must be between 10s and 8760h". */
export function formatProblems(problems: readonly Problem[]): string {
  return problems.map((p) => (p.field ? `${p.field}: ${p.message}` : p.message)).join("; ");
}

export type Condition = z.output<typeof ConditionSchema>;
