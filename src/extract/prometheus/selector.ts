/**
 * Just enough PromQL lexing for the source's needs: parse a plain vector selector into label
 * matchers (remote read takes matchers, not PromQL), and find the selectors inside an arbitrary
 * expression (to count series with /api/v1/series and to look up metric types).
 */

export type MatchType = '=' | '!=' | '=~' | '!~';
export interface LabelMatcher {
  type: MatchType;
  name: string;
  value: string;
}
export interface Selector {
  /** Metric name, when given outside the braces or as __name__="x". */
  name: string | undefined;
  matchers: LabelMatcher[];
  /** Canonical text, usable as `match[]`. */
  text: string;
}

const IDENT_START = /[A-Za-z_:]/;
const IDENT = /[A-Za-z0-9_:]/;
const LABEL_START = /[A-Za-z_]/;
const LABEL = /[A-Za-z0-9_]/;

const AGGREGATIONS = new Set([
  'sum', 'min', 'max', 'avg', 'group', 'stddev', 'stdvar', 'count', 'count_values', 'bottomk', 'topk', 'quantile',
  'limitk', 'limit_ratio',
]);
const KEYWORDS = new Set(['by', 'without', 'on', 'ignoring', 'group_left', 'group_right', 'bool', 'offset', 'and', 'or', 'unless', 'inf', 'nan', 'start', 'end', 'atan2']);
const LABEL_LIST_KEYWORDS = new Set(['by', 'without', 'on', 'ignoring', 'group_left', 'group_right']);

function readString(s: string, i: number): [string, number] {
  const q = s[i]!;
  let j = i + 1;
  if (q === '`') {
    const end = s.indexOf('`', j);
    if (end < 0) throw new Error(`unterminated string at ${i} in ${JSON.stringify(s)}`);
    return [s.slice(j, end), end + 1];
  }
  let raw = '';
  while (j < s.length && s[j] !== q) {
    if (s[j] === '\\') {
      raw += s[j]! + (s[j + 1] ?? '');
      j += 2;
      continue;
    }
    raw += s[j];
    j++;
  }
  if (j >= s.length) throw new Error(`unterminated string at ${i} in ${JSON.stringify(s)}`);
  // PromQL strings use Go escapes; JSON covers the ones that occur in practice.
  const body = q === "'" ? raw.replace(/\\'/g, "'").replace(/"/g, '\\"') : raw;
  return [JSON.parse('"' + body + '"') as string, j + 1];
}

function skipWs(s: string, i: number): number {
  while (i < s.length) {
    const c = s[i]!;
    if (c === ' ' || c === '\t' || c === '\n' || c === '\r') i++;
    else if (c === '#') {
      const nl = s.indexOf('\n', i);
      i = nl < 0 ? s.length : nl + 1;
    } else break;
  }
  return i;
}

/** Parse `{a="b", c=~"d"}` starting at the '{'. Returns matchers and the index after '}'. */
function readMatchers(s: string, i: number): [LabelMatcher[], number] {
  const out: LabelMatcher[] = [];
  i = skipWs(s, i + 1);
  while (i < s.length && s[i] !== '}') {
    const ls = i;
    if (s[i] === '"') {
      // quoted label name (UTF-8 names) or a bare quoted metric name
      const [nm, j] = readString(s, i);
      i = skipWs(s, j);
      if (s[i] === ',' || s[i] === '}') {
        out.push({ type: '=', name: '__name__', value: nm });
        if (s[i] === ',') i = skipWs(s, i + 1);
        continue;
      }
      i = parseOp(nm, i);
    } else {
      if (!LABEL_START.test(s[i]!)) throw new Error(`expected a label name at ${i} in ${JSON.stringify(s)}`);
      while (i < s.length && LABEL.test(s[i]!)) i++;
      i = parseOp(s.slice(ls, i), skipWs(s, i));
    }
  }
  if (s[i] !== '}') throw new Error(`unterminated selector in ${JSON.stringify(s)}`);
  return [out, i + 1];

  function parseOp(name: string, k: number): number {
    let type: MatchType;
    if (s.startsWith('=~', k)) type = '=~';
    else if (s.startsWith('!~', k)) type = '!~';
    else if (s.startsWith('!=', k)) type = '!=';
    else if (s[k] === '=') type = '=';
    else throw new Error(`expected =, !=, =~ or !~ after label "${name}" in ${JSON.stringify(s)}`);
    k = skipWs(s, k + type.length);
    const q = s[k];
    if (q !== '"' && q !== "'" && q !== '`') throw new Error(`expected a quoted value for label "${name}" in ${JSON.stringify(s)}`);
    const [value, j] = readString(s, k);
    out.push({ type, name, value });
    k = skipWs(s, j);
    if (s[k] === ',') k = skipWs(s, k + 1);
    return k;
  }
}

function selectorText(name: string | undefined, matchers: readonly LabelMatcher[]): string {
  const parts = matchers.map((m) => `${m.name}${m.type}${JSON.stringify(m.value)}`);
  return (name ?? '') + '{' + parts.join(',') + '}';
}

function makeSelector(name: string | undefined, matchers: LabelMatcher[]): Selector {
  let n = name;
  if (n === undefined) {
    const eq = matchers.find((m) => m.name === '__name__' && m.type === '=');
    if (eq) n = eq.value;
  }
  const all = name !== undefined ? [{ type: '=' as const, name: '__name__', value: name }, ...matchers] : matchers;
  return { name: n, matchers: all, text: selectorText(name, matchers) };
}

/** The selector with one more matcher (series slices, slices.ts). */
export function withMatcher(sel: Selector, m: LabelMatcher): Selector {
  const matchers = [...sel.matchers, m];
  const rest = sel.matchers.filter((x) => !(x.name === '__name__' && x.type === '=' && x.value === sel.name));
  const hasName = sel.name !== undefined && rest.length < sel.matchers.length;
  return { name: sel.name, matchers, text: selectorText(hasName ? sel.name : undefined, [...rest, m]) };
}

/**
 * Parse an expression that must be exactly one vector selector (`name`, `name{...}`, `{...}`).
 * Throws otherwise: raw extraction modes read stored samples by matchers, not by PromQL.
 */
export function parseSelector(expr: string): Selector {
  const s = expr.trim();
  let i = 0;
  let name: string | undefined;
  if (IDENT_START.test(s[0] ?? '')) {
    while (i < s.length && IDENT.test(s[i]!)) i++;
    name = s.slice(0, i);
  }
  i = skipWs(s, i);
  let matchers: LabelMatcher[] = [];
  if (s[i] === '{') [matchers, i] = readMatchers(s, i);
  i = skipWs(s, i);
  if (i !== s.length || (name === undefined && matchers.length === 0)) {
    throw new Error(`"${expr}" is not a plain vector selector like metric{label="value"}`);
  }
  if (name !== undefined && (AGGREGATIONS.has(name) || KEYWORDS.has(name)) && matchers.length === 0) {
    throw new Error(`"${expr}" is not a plain vector selector like metric{label="value"}`);
  }
  const sel = makeSelector(name, matchers);
  if (!sel.matchers.some((m) => m.type === '=' ? m.value !== '' : m.type === '=~' ? !new RegExp(`^(?:${m.value})$`).test('') : false)) {
    throw new Error(`selector "${expr}" must have at least one matcher that does not match the empty string (Prometheus rule)`);
  }
  return sel;
}

/**
 * Find the vector selectors inside a PromQL expression (heuristic lexer, not a full parser):
 * used to count series before planning and to look up metric types. Over-counting is safe (smaller
 * chunks), so label lists of by/without/on/ignoring are skipped and functions are ignored.
 */
export function extractSelectors(expr: string): Selector[] {
  const s = expr;
  const out: Selector[] = [];
  const seen = new Set<string>();
  const add = (sel: Selector) => {
    if (!seen.has(sel.text)) {
      seen.add(sel.text);
      out.push(sel);
    }
  };
  let i = 0;
  while (i < s.length) {
    const c = s[i]!;
    if (c === '"' || c === "'" || c === '`') {
      i = readString(s, i)[1];
    } else if (c === '#') {
      i = skipWs(s, i);
    } else if (c === '[') {
      // range or subquery duration: skip to ']'
      const end = s.indexOf(']', i);
      i = end < 0 ? s.length : end + 1;
    } else if (c === '{') {
      const [m, j] = readMatchers(s, i);
      add(makeSelector(undefined, m));
      i = j;
    } else if (/[0-9.]/.test(c)) {
      // number or duration literal (5m, 1e3, 0x1f)
      while (i < s.length && /[0-9A-Za-z_.]/.test(s[i]!)) i++;
    } else if (IDENT_START.test(c)) {
      const st = i;
      while (i < s.length && IDENT.test(s[i]!)) i++;
      const id = s.slice(st, i);
      const j = skipWs(s, i);
      const next = s[j];
      if (LABEL_LIST_KEYWORDS.has(id) && next === '(') {
        const end = s.indexOf(')', j);
        i = end < 0 ? s.length : end + 1;
      } else if (next === '(' || AGGREGATIONS.has(id) && (next === undefined || /[bw(]/.test(next)) || KEYWORDS.has(id.toLowerCase())) {
        // function call, aggregation or keyword
      } else if (next === '{') {
        const [m, k] = readMatchers(s, j);
        add(makeSelector(id, m));
        i = k;
      } else {
        add(makeSelector(id, []));
      }
    } else {
      i++;
    }
  }
  return out;
}

/** Metric names referenced by an expression's selectors (for /api/v1/metadata). */
export function metricNamesOf(expr: string): string[] {
  const names = new Set<string>();
  for (const sel of extractSelectors(expr)) if (sel.name) names.add(sel.name);
  return [...names];
}
