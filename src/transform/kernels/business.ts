/**
 * Cross-series business rules for `validate`, evaluated between runs of the same batch that share
 * labels, joined on equal timestamps:
 *  - pair rules: `lhs <op> rhs` (e.g. error count <= request count);
 *  - ordered rules: series of one metric that differ only in an order label (e.g. `quantile`,
 *    `le`) must be non-decreasing in that label at every timestamp (p50 <= p95 <= p99).
 * Pairing is per series per batch (string work per run, never per sample); the join is a merge
 * walk over the two runs' typed arrays.
 */
import { FLAG_DROPPED, RUN_STRIDE } from '../../batch/layout.js';
import type { KernelContext } from '../kernel.js';
import { actionTarget, applyAction, type ActionTarget } from './actions.js';
import { asRecord, checkKnown, optAction, optRegex, optString, optStringList, TransformOptionError } from './options.js';
import { labelSignature, metricName, parseSeriesKey } from './series-info.js';

export interface PairRule extends ActionTarget {
  readonly type: 'pair';
  readonly lhs: RegExp;
  readonly rhs: RegExp;
  readonly op: '<=' | '<' | '>=' | '>';
  readonly on?: string[];
  readonly ignoring?: string[];
}

export interface OrderedRule extends ActionTarget {
  readonly type: 'ordered';
  readonly metric: RegExp;
  /** Label holding the numeric order key (`quantile`, `le`). */
  readonly by: string;
}

export type BusinessRule = PairRule | OrderedRule;

export function businessRules(v: unknown, kernel: string): BusinessRule[] {
  if (v === undefined) return [];
  if (!Array.isArray(v)) throw new TransformOptionError(kernel, 'business', 'must be a list of rules');
  return v.map((raw, idx): BusinessRule => {
    const key = `business[${idx}]`;
    const r = asRecord(raw, kernel, key);
    const action = optAction(r['action'], kernel, `${key}.action`, 'flag', ['drop', 'flag', 'clip', 'off']);
    if (r['ordered'] !== undefined) {
      checkKnown(r, `${kernel}.${key}`, ['name', 'ordered', 'by', 'action']);
      const name = r['name'] === undefined ? 'business' : String(r['name']);
      return {
        ...actionTarget(name, action, 'business'),
        type: 'ordered',
        metric: optRegex(r['ordered'], kernel, `${key}.ordered`),
        by: optString(r, 'by', `${kernel}.${key}`, 'quantile'),
      };
    }
    checkKnown(r, `${kernel}.${key}`, ['name', 'lhs', 'rhs', 'op', 'on', 'ignoring', 'action']);
    if (r['lhs'] === undefined || r['rhs'] === undefined) {
      throw new TransformOptionError(kernel, key, 'needs either `lhs` and `rhs` (pair rule) or `ordered` (ordered rule)');
    }
    const on = optStringList(r['on'], kernel, `${key}.on`);
    const ignoring = optStringList(r['ignoring'], kernel, `${key}.ignoring`);
    if (on && ignoring) throw new TransformOptionError(kernel, key, 'cannot have both `on` and `ignoring`');
    const name = r['name'] === undefined ? 'business' : String(r['name']);
    return {
      ...actionTarget(name, action, 'business'),
      type: 'pair',
      lhs: optRegex(r['lhs'], kernel, `${key}.lhs`),
      rhs: optRegex(r['rhs'], kernel, `${key}.rhs`),
      op: optString(r, 'op', `${kernel}.${key}`, '<=', ['<=', '<', '>=', '>']),
      ...(on ? { on } : {}),
      ...(ignoring ? { ignoring } : {}),
    };
  });
}

/**
 * Check rows of run `a` (the constrained side) against run `b` at equal timestamps.
 * `fails(av, bv)` decides; on failure the action applies to the row of `a`, clip sets it to bv.
 */
function joinCheck(ctx: KernelContext, a: number, b: number, rule: ActionTarget, op: string): void {
  const { runs, ts, value, flags } = ctx;
  let i = runs[a * RUN_STRIDE + 1]!;
  const iEnd = i + runs[a * RUN_STRIDE + 3]!;
  let j = runs[b * RUN_STRIDE + 1]!;
  const jEnd = j + runs[b * RUN_STRIDE + 3]!;
  while (i < iEnd && j < jEnd) {
    const ti = ts[i]!;
    const tj = ts[j]!;
    if (ti < tj) { i++; continue; }
    if (tj < ti) { j++; continue; }
    if (((flags[i]! | flags[j]!) & FLAG_DROPPED) === 0) {
      const av = value[i]!;
      const bv = value[j]!;
      // NaN on either side: nothing to compare (the nan rule owns NaN).
      const bad = op === '<=' ? av > bv : op === '<' ? av >= bv : op === '>=' ? av < bv : av <= bv;
      if (bad) {
        if (rule.action === 'clip') value[i] = bv;
        applyAction(ctx, i, rule);
      }
    }
    i++;
    j++;
  }
}

export function runBusinessRules(ctx: KernelContext, rules: readonly BusinessRule[]): void {
  const n = ctx.runCount;
  // Parse each run's labels once per batch, and only if some rule needs them.
  const labels: (Record<string, string> | undefined)[] = new Array(n);
  const names: string[] = new Array(n);
  for (let r = 0; r < n; r++) names[r] = metricName(ctx.seriesKeys[ctx.runs[r * RUN_STRIDE]!]!);
  const labelsOf = (r: number): Record<string, string> =>
    (labels[r] ??= parseSeriesKey(ctx.seriesKeys[ctx.runs[r * RUN_STRIDE]!]!).labels);

  for (const rule of rules) {
    if (rule.action === 'off') continue;
    if (rule.type === 'pair') {
      const rhsBySig = new Map<string, number>();
      for (let r = 0; r < n; r++) {
        if (rule.rhs.test(names[r]!)) {
          const sig = labelSignature(labelsOf(r), rule.on, rule.ignoring);
          if (!rhsBySig.has(sig)) rhsBySig.set(sig, r);
        }
      }
      if (rhsBySig.size === 0) continue;
      for (let r = 0; r < n; r++) {
        if (!rule.lhs.test(names[r]!)) continue;
        const b = rhsBySig.get(labelSignature(labelsOf(r), rule.on, rule.ignoring));
        if (b !== undefined && b !== r) joinCheck(ctx, r, b, rule, rule.op);
      }
    } else {
      // Group by metric name + every label but the order label, then sort each group by it.
      const groups = new Map<string, { r: number; k: number }[]>();
      for (let r = 0; r < n; r++) {
        if (!rule.metric.test(names[r]!)) continue;
        const ls = labelsOf(r);
        const raw = ls[rule.by];
        if (raw === undefined) continue;
        const k = raw === '+Inf' ? Infinity : raw === '-Inf' ? -Infinity : Number(raw);
        if (Number.isNaN(k)) continue;
        const sig = names[r] + '\u0000' + labelSignature(ls, undefined, [rule.by]);
        let g = groups.get(sig);
        if (!g) groups.set(sig, (g = []));
        g.push({ r, k });
      }
      for (const g of groups.values()) {
        if (g.length < 2) continue;
        g.sort((x, y) => x.k - y.k);
        // Adjacent pairs in order; clipping cascades upward (p95 raised to p50 before p99 is checked).
        for (let m = 1; m < g.length; m++) joinCheck(ctx, g[m]!.r, g[m - 1]!.r, rule, '>=');
      }
    }
  }
}
