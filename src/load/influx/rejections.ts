/**
 * Reading a 400/422 write response: which lines were rejected, and why. Servers differ:
 *  - InfluxDB 1.x: {"error":"partial write: unable to parse '<line>': <why>\nunable to parse '<line>': <why> dropped=0"}
 *    (the other lines WERE written), or "partial write: points beyond retention policy dropped=N",
 *    "partial write: field type conflict: … dropped=N", "partial write: max-values-per-tag limit exceeded …".
 *  - InfluxDB 2.x: {"code":"invalid","message":"…same texts…"} (400 or 422).
 *  - InfluxDB 3.x: {"error":"partial write of line protocol occurred","data":[{"original_line":"…","line_number":3,"error_message":"…"}]}.
 *  - Cloud Serverless: "…errors encountered on line(s):\nerror parsing line 3 (1-based): …".
 * When lines can be identified we dead-letter exactly those and resend the rest (rewriting a point
 * InfluxDB already stored is an idempotent overwrite). Otherwise the caller bisects.
 */

export type RejectReason =
  | 'invalid_line'
  | 'outside_retention'
  | 'field_type_conflict'
  | 'limit_exceeded'
  | 'line_too_large'
  | 'rejected';

export interface Rejection {
  /** Reason for lines not individually identified. */
  reason: RejectReason;
  /** One-line server message. */
  message: string;
  /** Rejected line texts named by the server, with their own reason and message. */
  lines: Array<{ text: string; reason: RejectReason; message: string }>;
  /** 1-based line numbers within the request named by the server. */
  lineNumbers: Array<{ n: number; reason: RejectReason; message: string }>;
  /** `dropped=N` when the server says how many points it dropped (beyond the named lines). */
  dropped: number | null;
}

export function reasonOf(message: string): RejectReason {
  const m = message.toLowerCase();
  if (m.includes('beyond retention') || m.includes('outside retention') || m.includes('retention period')) return 'outside_retention';
  if (m.includes('type conflict') || m.includes('schema conflict') || m.includes('already exists as type')) return 'field_type_conflict';
  if (m.includes('limit exceeded') || m.includes('max-values-per-tag') || m.includes('max-series') || m.includes('cardinality'))
    return 'limit_exceeded';
  if (m.includes('unable to parse') || m.includes('parse') || m.includes('invalid') || m.includes('missing')) return 'invalid_line';
  return 'rejected';
}

const oneLine = (s: string): string => s.replace(/[\r\n]+/g, ' | ').slice(0, 2000);

/** Extract the server's message from a JSON or plain-text body. */
function messageOf(body: string): { message: string; json: Record<string, unknown> | null } {
  const t = body.trim();
  if (t.startsWith('{')) {
    try {
      const json = JSON.parse(t) as Record<string, unknown>;
      const msg = [json.error, json.message, json.err].find((x) => typeof x === 'string') as string | undefined;
      return { message: msg ?? t, json };
    } catch {
      // fall through: not JSON after all
    }
  }
  return { message: t, json: null };
}

export function parseRejection(status: number, body: string): Rejection {
  const { message, json } = messageOf(body);
  const out: Rejection = {
    reason: reasonOf(message),
    message: oneLine(message || `HTTP ${status}`),
    lines: [],
    lineNumbers: [],
    dropped: null,
  };
  const dropped = /dropped=(\d+)/.exec(message);
  if (dropped) out.dropped = Number(dropped[1]);

  // 1.x / 2.x: "unable to parse '<line>': <why>" entries, one per '\n'-separated segment.
  const body1 = message.replace(/^partial write:\s*/, '').replace(/\s*dropped=\d+\s*$/, '');
  for (const seg of body1.split('\n')) {
    const pfx = seg.indexOf("unable to parse '");
    if (pfx < 0) continue;
    const rest = seg.slice(pfx + "unable to parse '".length);
    // the line may itself contain "': "; keep every candidate cut, the caller matches against real lines
    let cut = rest.lastIndexOf("': ");
    while (cut >= 0) {
      const why = rest.slice(cut + 3);
      out.lines.push({ text: rest.slice(0, cut), reason: 'invalid_line', message: oneLine(`unable to parse: ${why}`) });
      cut = cut > 0 ? rest.lastIndexOf("': ", cut - 1) : -1;
    }
  }

  // 3.x: data: [{original_line, line_number, error_message}]
  const data = json?.data;
  if (Array.isArray(data)) {
    for (const d of data as Array<Record<string, unknown>>) {
      const msg = typeof d.error_message === 'string' ? d.error_message : message;
      if (typeof d.original_line === 'string') out.lines.push({ text: d.original_line, reason: reasonOf(msg), message: oneLine(msg) });
      else if (typeof d.line_number === 'number') out.lineNumbers.push({ n: d.line_number, reason: reasonOf(msg), message: oneLine(msg) });
    }
  }

  // Cloud Serverless: "error parsing line 3 (1-based): …"
  for (const m of message.matchAll(/line (\d+) \(1-based\):?\s*([^\n]*)/g)) {
    out.lineNumbers.push({ n: Number(m[1]), reason: reasonOf(m[2] || message), message: oneLine(m[2] || message) });
  }
  return out;
}
