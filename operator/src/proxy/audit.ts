/**
 * One line per request, written whatever the outcome. It names who asked for what and what the
 * proxy decided; it never carries the proof, a token or any other header.
 */
export interface AuditLine {
  time: string;
  /** The caller's SPIFFE ID, once a proof has authenticated it; null before. */
  caller: string | null;
  /**
   * The SPIFFE ID of the client certificate the TLS handshake verified: who holds the connection,
   * on every line, so a refusal before any proof authenticated a caller (a replay, a proof made for
   * another connection) still says whose connection it came in on. Null without one.
   */
  peer: string | null;
  /** The proxy's own SPIFFE ID. */
  target: string;
  method: string;
  /** The path without its query (a query may carry secrets the caller did not mean for logs). */
  path: string;
  outcome: "accepted" | "refused";
  reason: string;
  /** The AccessPolicy that allowed the request, or the one whose http rules refused it. */
  policy: string | null;
  /** The status code sent to the caller. */
  status: number;
}

export type AuditSink = (line: AuditLine) => void;

/** JSON lines on stdout; logs go to stderr, so the stream holds nothing else. */
export const stdoutAudit: AuditSink = (line) => {
  process.stdout.write(`${JSON.stringify(line)}\n`);
};
