/**
 * `group`: cross-series peer deviation (docs/TRANSFORMS.md#group). Series of one metric are grouped
 * by the values of the `by` labels (e.g. the same `job` across instances); at every timestamp the
 * group's mean (and spread) over the members with a valid value there is computed, and each member
 * gets `group_dev` = x − mean, `group_z` = (x − mean) / std (sample std over the members) and
 * `group_size` (members present). Members are joined on equal timestamps by a k-way merge walk
 * over the runs' typed arrays (per timestamp O(members), no objects per sample); members are summed
 * in series-key order, so the result does not depend on the order of runs in a batch.
 * Only series in the same batch are seen (see the docs for the batching rule).
 */
import { FLAG_DROPPED, RUN_STRIDE } from '../../batch/layout.js';
import type { Kernel, KernelContext, KernelFactory } from '../kernel.js';
import { checkKnown, optInt, optRegex, optStringList, TransformOptionError } from './options.js';
import { metricName, parseSeriesKey } from './series-info.js';

const K = 'group';
const STATS = ['deviation', 'zscore', 'size'] as const;
type GroupStat = (typeof STATS)[number];

export interface GroupOptions {
  metric: RegExp | undefined;
  by: string[];
  stats: GroupStat[];
  minMembers: number;
  prefix: string;
}

export function parseGroupOptions(o: Record<string, unknown>): GroupOptions {
  checkKnown(o, K, ['metric', 'by', 'stats', 'minMembers', 'prefix']);
  const by = optStringList(o['by'], K, 'by');
  if (!by || by.length === 0) throw new TransformOptionError(K, 'by', 'is required: the labels that define a group, e.g. [job]');
  const rawS = o['stats'] ?? ['deviation'];
  if (!Array.isArray(rawS) || rawS.length === 0 || rawS.some((s) => !STATS.includes(s as GroupStat))) {
    throw new TransformOptionError(K, 'stats', `must be a list of ${STATS.map((s) => `"${s}"`).join(', ')}, got ${JSON.stringify(rawS)}`);
  }
  return {
    metric: o['metric'] === undefined ? undefined : optRegex(o['metric'], K, 'metric'),
    by,
    stats: [...new Set(rawS as GroupStat[])],
    minMembers: optInt(o, 'minMembers', K, 2, 1),
    prefix: o['prefix'] === undefined ? '' : String(o['prefix']),
  };
}

const OUT: Record<GroupStat, string> = { deviation: 'group_dev', zscore: 'group_z', size: 'group_size' };

export class GroupKernel implements Kernel {
  readonly name = K;
  readonly outputs: readonly string[];
  readonly haloSamples = 0;
  readonly haloMs = 0;
  /** A group's peers may come from several queries naming the same metric (no `metric`: not known). */
  readonly crossSeries: readonly (readonly RegExp[])[];

  constructor(readonly opts: GroupOptions) {
    this.outputs = opts.stats.map((s) => opts.prefix + OUT[s]);
    this.crossSeries = opts.metric ? [[opts.metric]] : [];
  }

  run(ctx: KernelContext): void {
    const len = ctx.length;
    if (len === 0) return;
    const { runs, ts, flags, value } = ctx;
    // group key = metric name + the `by` label values (per series, not per sample)
    const groups = new Map<string, { key: string; run: number }[]>();
    for (let r = 0; r < ctx.runCount; r++) {
      const key = ctx.seriesKeys[runs[r * RUN_STRIDE]!]!;
      const name = metricName(key);
      if (this.opts.metric && !this.opts.metric.test(name)) continue;
      const labels = parseSeriesKey(key).labels;
      if (this.opts.by.some((l) => labels[l] === undefined)) continue;
      const g = JSON.stringify([name, ...this.opts.by.map((l) => labels[l]!)]);
      let list = groups.get(g);
      if (!list) groups.set(g, (list = []));
      list.push({ key, run: r });
    }
    const p = this.opts.prefix;
    const dev = this.opts.stats.includes('deviation') ? ctx.feature(p + OUT.deviation) : undefined;
    const z = this.opts.stats.includes('zscore') ? ctx.feature(p + OUT.zscore) : undefined;
    const size = this.opts.stats.includes('size') ? ctx.feature(p + OUT.size) : undefined;
    const pos = ctx.scratchI32(ctx.runCount, 0);
    const end = ctx.scratchI32(ctx.runCount, 1);
    const at = ctx.scratchI32(ctx.runCount, 2); // rows of the members at the current timestamp
    for (const members of groups.values()) {
      members.sort((a, b) => (a.key < b.key ? -1 : a.key > b.key ? 1 : 0));
      const m = members.length;
      for (let k = 0; k < m; k++) {
        const o = members[k]!.run * RUN_STRIDE;
        pos[k] = runs[o + 1]!;
        end[k] = runs[o + 1]! + runs[o + 3]!;
      }
      for (;;) {
        let t = Infinity;
        for (let k = 0; k < m; k++) if (pos[k]! < end[k]! && ts[pos[k]!]! < t) t = ts[pos[k]!]!;
        if (t === Infinity) break;
        let n = 0;
        let s = 0;
        for (let k = 0; k < m; k++) {
          const i = pos[k]!;
          at[k] = -1;
          if (i < end[k]! && ts[i] === t) {
            at[k] = i;
            pos[k] = i + 1;
            const v = value[i]!;
            if (!(flags[i]! & FLAG_DROPPED) && v === v) {
              n++;
              s += v;
            }
          }
        }
        const mean = s / n;
        let sd = NaN;
        if (z && n >= 2) {
          let q = 0;
          for (let k = 0; k < m; k++) {
            const i = at[k]!;
            if (i < 0) continue;
            const v = value[i]!;
            if (!(flags[i]! & FLAG_DROPPED) && v === v) q += (v - mean) * (v - mean);
          }
          sd = Math.sqrt(q / (n - 1));
        }
        const ok = n >= this.opts.minMembers;
        for (let k = 0; k < m; k++) {
          const i = at[k]!;
          if (i < 0) continue;
          if (size) size[i] = n;
          if (!ok) continue;
          const v = value[i]!;
          if (flags[i]! & FLAG_DROPPED || v !== v) continue;
          if (dev) dev[i] = v - mean;
          if (z) z[i] = sd > 0 ? (v - mean) / sd : NaN;
        }
      }
    }
  }
}

export const groupKernel: KernelFactory = (options) => new GroupKernel(parseGroupOptions(options));
