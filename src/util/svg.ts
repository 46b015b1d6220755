/**
 * Small hand-written SVG line charts for benchmarks/RESULTS.md and `promflux loadtest --svg` (a chart library would be a dependency for a few
 * pictures). Linear or log10 x axis, one or two y axes, dashed series, labelled markers.
 */

export interface ChartSeries {
  name: string;
  points: ReadonlyArray<readonly [number, number]>;
  color: string;
  /** Plot against the right-hand axis. */
  right?: boolean;
  dashed?: boolean;
}

export interface ChartMarker {
  x: number;
  y: number;
  label: string;
  color: string;
  right?: boolean;
}

export interface LineChart {
  title: string;
  xLabel: string;
  yLabel: string;
  y2Label?: string;
  xLog?: boolean;
  series: ChartSeries[];
  markers?: ChartMarker[];
  /** Horizontal reference lines (e.g. a memory budget). */
  hLines?: { y: number; label: string; color: string; right?: boolean }[];
  width?: number;
  height?: number;
  formatY?: (v: number) => string;
  formatY2?: (v: number) => string;
  formatX?: (v: number) => string;
  /** x tick positions (default: every distinct x of the data, for benchmark sweeps of a few settings). */
  xTicks?: number[];
  /** Draw a dot at every point (default true; off for dense time series). */
  dots?: boolean;
}

const esc = (s: string): string => s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;');

/** "Nice" tick values covering [lo, hi]. */
export function niceTicks(lo: number, hi: number, count = 5): number[] {
  if (!(hi > lo)) hi = lo + 1;
  const raw = (hi - lo) / count;
  const mag = 10 ** Math.floor(Math.log10(raw));
  const step = [1, 2, 2.5, 5, 10].map((m) => m * mag).find((s) => s >= raw) ?? 10 * mag;
  const out: number[] = [];
  // the last tick is the first one at or above hi, so every point fits under the top
  for (let v = Math.ceil(lo / step) * step; ; v += step) {
    out.push(Math.round(v / step) * step);
    if (v >= hi - step * 1e-9) break;
  }
  return out;
}

export function shortNumber(v: number): string {
  const a = Math.abs(v);
  if (a >= 1e9) return +(v / 1e9).toPrecision(3) + 'G';
  if (a >= 1e6) return +(v / 1e6).toPrecision(3) + 'M';
  if (a >= 1e3) return +(v / 1e3).toPrecision(3) + 'k';
  return String(+v.toPrecision(3));
}

export function lineChart(c: LineChart): string {
  const W = c.width ?? 720;
  const H = c.height ?? 400;
  const m = { l: 78, r: c.y2Label ? 78 : 24, t: 40, b: 84 };
  const pw = W - m.l - m.r;
  const ph = H - m.t - m.b;
  const fx = c.formatX ?? shortNumber;
  const fy = c.formatY ?? shortNumber;
  const fy2 = c.formatY2 ?? shortNumber;

  const xs = c.series.flatMap((s) => s.points.map((p) => p[0])).concat((c.markers ?? []).map((k) => k.x));
  const tx = (x: number): number => (c.xLog ? Math.log10(Math.max(x, 1e-12)) : x);
  let x0 = Math.min(...xs.map(tx));
  let x1 = Math.max(...xs.map(tx));
  if (!(x1 > x0)) {
    x0 -= 0.5;
    x1 += 0.5;
  }
  const pad = (x1 - x0) * 0.05;
  x0 -= pad;
  x1 += pad;
  const sx = (x: number): number => m.l + ((tx(x) - x0) / (x1 - x0)) * pw;

  const axis = (right: boolean): { ticks: number[]; sy: (y: number) => number } => {
    const ys = c.series.filter((s) => !!s.right === right).flatMap((s) => s.points.map((p) => p[1]));
    ys.push(...(c.markers ?? []).filter((k) => !!k.right === right).map((k) => k.y));
    ys.push(...(c.hLines ?? []).filter((h) => !!h.right === right).map((h) => h.y));
    const finite = ys.filter(Number.isFinite);
    const hi = finite.length ? Math.max(...finite) : 1;
    const ticks = niceTicks(0, hi * 1.08 || 1);
    const top = ticks[ticks.length - 1]!;
    return { ticks, sy: (y: number) => m.t + ph - (y / top) * ph };
  };
  const left = axis(false);
  const right = c.y2Label ? axis(true) : left;

  const o: string[] = [];
  o.push(`<svg xmlns="http://www.w3.org/2000/svg" width="${W}" height="${H}" viewBox="0 0 ${W} ${H}" font-family="sans-serif" font-size="12">`);
  o.push(`<rect width="${W}" height="${H}" fill="white"/>`);
  o.push(`<text x="${W / 2}" y="22" text-anchor="middle" font-size="15" font-weight="bold">${esc(c.title)}</text>`);
  // grid + left axis
  for (const t of left.ticks) {
    const y = left.sy(t).toFixed(1);
    o.push(`<line x1="${m.l}" y1="${y}" x2="${m.l + pw}" y2="${y}" stroke="#e5e5e5"/>`);
    o.push(`<text x="${m.l - 6}" y="${y}" text-anchor="end" dominant-baseline="middle">${esc(fy(t))}</text>`);
  }
  if (c.y2Label) {
    for (const t of right.ticks) {
      const y = right.sy(t).toFixed(1);
      o.push(`<text x="${m.l + pw + 6}" y="${y}" dominant-baseline="middle" fill="#555">${esc(fy2(t))}</text>`);
    }
  }
  // x ticks: the distinct x values of the data (benchmarks sweep a few discrete settings)
  const xt = c.xTicks ?? [...new Set(xs)].sort((a, b) => a - b);
  for (const x of xt) {
    const px = sx(x).toFixed(1);
    o.push(`<line x1="${px}" y1="${m.t + ph}" x2="${px}" y2="${m.t + ph + 5}" stroke="#333"/>`);
    o.push(`<text x="${px}" y="${m.t + ph + 18}" text-anchor="middle">${esc(fx(x))}</text>`);
  }
  o.push(`<rect x="${m.l}" y="${m.t}" width="${pw}" height="${ph}" fill="none" stroke="#333"/>`);
  o.push(`<text x="${m.l + pw / 2}" y="${m.t + ph + 38}" text-anchor="middle">${esc(c.xLabel)}</text>`);
  o.push(`<text transform="translate(16 ${m.t + ph / 2}) rotate(-90)" text-anchor="middle">${esc(c.yLabel)}</text>`);
  if (c.y2Label) o.push(`<text transform="translate(${W - 12} ${m.t + ph / 2}) rotate(90)" text-anchor="middle">${esc(c.y2Label)}</text>`);

  for (const h of c.hLines ?? []) {
    const y = (h.right ? right : left).sy(h.y).toFixed(1);
    o.push(`<line x1="${m.l}" y1="${y}" x2="${m.l + pw}" y2="${y}" stroke="${h.color}" stroke-dasharray="2 3"/>`);
    o.push(`<text x="${m.l + 4}" y="${(+y - 4).toFixed(1)}" fill="${h.color}">${esc(h.label)}</text>`);
  }
  for (const s of c.series) {
    const sy = (s.right ? right : left).sy;
    const pts = s.points.filter((p) => Number.isFinite(p[1])).map((p) => `${sx(p[0]).toFixed(1)},${sy(p[1]).toFixed(1)}`);
    if (pts.length === 0) continue;
    o.push(`<polyline points="${pts.join(' ')}" fill="none" stroke="${s.color}" stroke-width="2"${s.dashed ? ' stroke-dasharray="6 4"' : ''}/>`);
    if (c.dots === false) continue;
    for (const p of pts) {
      const [px, py] = p.split(',');
      o.push(`<circle cx="${px}" cy="${py}" r="3.5" fill="${s.color}"/>`);
    }
  }
  for (const k of c.markers ?? []) {
    const px = sx(k.x);
    const py = (k.right ? right : left).sy(k.y);
    o.push(`<path d="M${px.toFixed(1)} ${(py - 8).toFixed(1)} l7 8 l-7 8 l-7 -8 z" fill="${k.color}" stroke="#000" stroke-width="0.8"/>`);
    o.push(`<text x="${(px + 10).toFixed(1)}" y="${(py - 8).toFixed(1)}" fill="${k.color}" font-weight="bold">${esc(k.label)}</text>`);
  }
  // legend under the x label, wrapped onto as many rows as it needs
  const legend = [...c.series.map((s) => ({ name: s.name + (s.right && c.y2Label ? ' (right axis)' : ''), color: s.color, dashed: s.dashed }))];
  for (const k of c.markers ?? []) legend.push({ name: k.label, color: k.color, dashed: false });
  const rows: (typeof legend)[] = [[]];
  let used = 0;
  for (const e of legend) {
    const w = 40 + e.name.length * 6.6;
    if (used > 0 && m.l + used + w > W - 8) {
      rows.push([]);
      used = 0;
    }
    rows[rows.length - 1]!.push(e);
    used += w;
  }
  rows.forEach((row, r) => {
    let lx = m.l;
    const ly = H - 16 - (rows.length - 1 - r) * 16;
    for (const e of row) {
      o.push(`<line x1="${lx}" y1="${ly}" x2="${lx + 22}" y2="${ly}" stroke="${e.color}" stroke-width="3"${e.dashed ? ' stroke-dasharray="6 4"' : ''}/>`);
      o.push(`<text x="${lx + 27}" y="${ly}" dominant-baseline="middle">${esc(e.name)}</text>`);
      lx += 40 + e.name.length * 6.6;
    }
  });
  o.push('</svg>');
  return o.join('\n') + '\n';
}
