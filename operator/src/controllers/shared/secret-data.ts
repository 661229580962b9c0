/** Text to the base64 form the API stores in Secret data and caBundle fields. */
export function toBase64(text: string): string {
  return Buffer.from(text, "utf8").toString("base64");
}

/** A Secret's data, as the API returns it (base64), as text. */
export function decodeSecretData(data: Record<string, string> | undefined): Record<string, string> {
  return Object.fromEntries(
    Object.entries(data ?? {}).map(([k, v]) => [k, Buffer.from(v, "base64").toString("utf8")]),
  );
}

/** Text values to a Secret's data field. */
export function encodeSecretData(data: Record<string, string>): Record<string, string> {
  return Object.fromEntries(Object.entries(data).map(([k, v]) => [k, toBase64(v)]));
}
