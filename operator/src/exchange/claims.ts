import type { ExchangeRule } from "../api/index.ts";

/**
 * A claim's value as the text a rule's pattern is compared with: strings as they are, finite
 * numbers and booleans as JSON writes them. Anything else (an array, an object, null, a claim the
 * token lacks) has no text and so never matches, whatever the pattern: a rule on `groups: "*"`
 * must not be satisfied by a list that happens to serialize to something.
 */
export function claimText(value: unknown): string | undefined {
  if (typeof value === "string") return value;
  if (typeof value === "number") return Number.isFinite(value) ? String(value) : undefined;
  if (typeof value === "boolean") return value ? "true" : "false";
  return undefined;
}

/**
 * Whether `text` matches `pattern`, where "*" matches any run of characters (none included) and
 * every other character only itself. No regular expression is built from the pattern, so a "."
 * or "(" in it is literal and no pattern can be made to backtrack: the literal pieces between the
 * stars are found left to right, which is exact for this one wildcard.
 */
export function globMatches(pattern: string, text: string): boolean {
  const pieces = pattern.split("*");
  if (pieces.length === 1) return pattern === text;
  const first = pieces[0] ?? "";
  const last = pieces[pieces.length - 1] ?? "";
  if (text.length < first.length + last.length) return false;
  if (!text.startsWith(first) || !text.endsWith(last)) return false;
  let at = first.length;
  const end = text.length - last.length;
  for (const piece of pieces.slice(1, -1)) {
    if (piece === "") continue;
    const found = text.indexOf(piece, at);
    if (found < 0 || found + piece.length > end) return false;
    at = found + piece.length;
  }
  return true;
}

/** Why one claim of a rule does not hold for a token. */
export interface ClaimMismatch {
  claim: string;
  pattern: string;
  /** The claim's value as the token has it (undefined: the token lacks it). */
  actual: unknown;
}

/** The first claim of `rule` (in its order) that the token's claims do not satisfy, if any. */
export function firstMismatch(
  rule: Pick<ExchangeRule, "claims">,
  claims: Readonly<Record<string, unknown>>,
): ClaimMismatch | undefined {
  for (const [claim, pattern] of Object.entries(rule.claims)) {
    const actual = Object.hasOwn(claims, claim) ? claims[claim] : undefined;
    const text = claimText(actual);
    if (text === undefined || !globMatches(pattern, text)) return { claim, pattern, actual };
  }
  return undefined;
}

export type RuleSelection<R> =
  | { matched: true; index: number; rule: R }
  | { matched: false; mismatches: { index: number; rule: R; mismatch: ClaimMismatch }[] };

/**
 * The first rule whose claims all match the token's: the order is the admin's, so a narrow rule
 * listed before a broad one wins. With none, the first mismatch of every rule, for the refusal.
 */
export function selectRule<R extends Pick<ExchangeRule, "claims">>(
  rules: readonly R[],
  claims: Readonly<Record<string, unknown>>,
): RuleSelection<R> {
  const mismatches: { index: number; rule: R; mismatch: ClaimMismatch }[] = [];
  for (const [index, rule] of rules.entries()) {
    const mismatch = firstMismatch(rule, claims);
    if (!mismatch) return { matched: true, index, rule };
    mismatches.push({ index, rule, mismatch });
  }
  return { matched: false, mismatches };
}

/** What a mismatch says to a person: the claim, the pattern and what the token has instead. */
export function describeMismatch(m: ClaimMismatch): string {
  const has =
    m.actual === undefined
      ? "the token has no such claim"
      : claimText(m.actual) === undefined
        ? `the token's ${m.claim} is ${Array.isArray(m.actual) ? "a list" : m.actual === null ? "null" : "an object"}, which never matches`
        : `the token has ${JSON.stringify(shorten(claimText(m.actual) ?? ""))}`;
  return `${m.claim} must match ${JSON.stringify(m.pattern)} but ${has}`;
}

/**
 * Whether the token's aud (a string or a list of strings, RFC 7519 section 4.1.3) holds one of
 * `accepted`. Any other shape, an empty list, or a list with a non-string in it is not accepted:
 * such a token is malformed, and none of its audiences can be trusted to mean what they say.
 */
export function audienceAccepted(aud: unknown, accepted: readonly string[]): boolean {
  const audiences = typeof aud === "string" ? [aud] : aud;
  if (!Array.isArray(audiences) || audiences.length === 0) return false;
  if (!audiences.every((a) => typeof a === "string")) return false;
  return audiences.some((a) => accepted.includes(a));
}

/** Text quoted from a token, cut so that an attacker's claim cannot fill a log line or an answer. */
export function shorten(text: string, max = 128): string {
  return text.length > max ? `${text.slice(0, max)}…` : text;
}
