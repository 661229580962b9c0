const ENTITIES: Record<string, string> = {
  "&": "&amp;",
  "<": "&lt;",
  ">": "&gt;",
  '"': "&quot;",
  "'": "&#39;",
};

/**
 * Text made safe for HTML and SVG, in element content and in quoted attribute values alike. Every
 * name in the audit is user input (a certificate subject or a registry host can hold any
 * character), so nothing reaches the page without passing through here.
 */
export function escapeMarkup(value: string): string {
  return value.replace(/[&<>"']/g, (c) => ENTITIES[c] ?? c);
}

/** ` name="value"` for each defined attribute, in the order given, values escaped. */
export function attributes(attrs: Record<string, string | number | undefined>): string {
  return Object.entries(attrs)
    .filter((entry): entry is [string, string | number] => entry[1] !== undefined)
    .map(([name, value]) => ` ${name}="${escapeMarkup(String(value))}"`)
    .join("");
}

/** `<tag attrs>content</tag>`; `content` is markup already escaped by the caller. */
export function element(
  tag: string,
  attrs: Record<string, string | number | undefined>,
  content = "",
): string {
  return `<${tag}${attributes(attrs)}>${content}</${tag}>`;
}
