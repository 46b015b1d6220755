/**
 * Planning requests (series lookup, label names, metadata) against a real Prometheus through the
 * fault-injecting proxy: retried like data chunks (503, reset, a body cut short), a body cut short
 * on every attempt called truncated (not "not JSON"), a body that is not JSON failing at once, and
 * previews of bad bodies that never cut a UTF-8 character in half.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { Registry } from 'prom-client';
import { SourceError } from '../src/errors.js';
import { preview, PromErrorCode } from '../src/extract/prometheus/errors.js';
import { startFaultProxy, type FaultProxy } from './harness/faultproxy.js';
import { startPrometheus, T0, T_END, type PromServer } from './harness/prometheus.js';
import { makeSource, openOpts } from './harness/extract.js';

const PLANNING = ['/api/v1/series', '/api/v1/labels', '/api/v1/metadata', '/api/v1/label/'];

let prom: PromServer;
let proxy: FaultProxy;
before(async () => {
  prom = await startPrometheus();
  proxy = await startFaultProxy(prom.url, { faultable: (p) => PLANNING.some((x) => p.startsWith(x)) });
});
after(async () => {
  await proxy?.close();
  await prom?.dispose();
});

const cfg = (url: string, attempts = 4) => ({
  url,
  mode: 'backfill' as const,
  extraction: 'remote-read' as const,
  start: new Date(T0).toISOString(),
  end: new Date(T_END).toISOString(),
  step: '15s',
  retry: { attempts, baseMs: 5, maxMs: 20 },
  queries: [{ name: 'gauge', expr: 'test_gauge' }, { name: 'reqs', expr: 'test_requests_total' }],
});

function reset(): void {
  proxy.log.length = 0;
  proxy.rule = null;
}

const seriesCalls = () => proxy.log.filter((r) => r.path.startsWith('/api/v1/series'));

async function plannedSeries(url: string, registry = new Registry()): Promise<Record<string, number>> {
  const src = makeSource(cfg(url), { metrics: registry });
  try {
    await src.open(openOpts());
    return Object.fromEntries(src.countPlan()!.map((q) => [q.name, q.series]));
  } finally {
    await src.close();
  }
}

async function errorsByReason(registry: Registry): Promise<Record<string, number>> {
  const m = await registry.getSingleMetric('promflux_extract_errors_total')!.get();
  return Object.fromEntries(m.values.map((v) => [String(v.labels.reason), v.value]));
}

describe('planning requests are retried like data chunks', () => {
  it('a series lookup answered 503, then cut short, then whole plans the same series counts as a clean one', async () => {
    reset();
    const clean = await plannedSeries(prom.url);
    assert.deepEqual(clean, { gauge: 3, reqs: 2 });
    proxy.script({ kind: 'status', status: 503, body: 'busy' }, { kind: 'truncate', keep: -7 });
    const registry = new Registry();
    const got = await plannedSeries(proxy.url, registry);
    assert.deepEqual(got, clean);
    // two series lookups (one per query): the faulted one took three attempts
    assert.equal(seriesCalls().length, 4);
    assert.deepEqual(seriesCalls().map((r) => r.fault).sort(), ['pass', 'pass', 'status', 'truncate']);
    const reasons = await errorsByReason(registry);
    assert.equal(reasons.truncated, 1);
    assert.equal(reasons.http_5xx, 1);
  });

  it('label names and metadata survive a reset connection and a truncated body', async () => {
    reset();
    const direct = makeSource(cfg(prom.url));
    const wantLabels = await direct.api.labels([], T0, T_END);
    const wantMeta = await direct.api.metadata();
    await direct.close();
    assert.ok(wantLabels.includes('instance') && wantLabels.includes('job'), wantLabels.join(','));

    const src = makeSource(cfg(proxy.url));
    proxy.script({ kind: 'reset' }, { kind: 'truncate', keep: 10 });
    assert.deepEqual(await src.api.labels([], T0, T_END), wantLabels);
    assert.equal(proxy.log.filter((r) => r.path.startsWith('/api/v1/labels')).length, 3);
    proxy.script({ kind: 'truncate', keep: 1 });
    assert.deepEqual(await src.api.metadata(), wantMeta);
    assert.equal(proxy.log.filter((r) => r.path.startsWith('/api/v1/metadata')).length, 2);
    await src.close();
  });

  it('a series lookup cut short on every attempt fails as truncated, naming the attempts, not as "not JSON"', async () => {
    reset();
    proxy.rule = () => ({ kind: 'truncate', keep: -3 });
    const src = makeSource(cfg(proxy.url, 3));
    try {
      await assert.rejects(src.open(openOpts()), (err: unknown) => {
        assert.ok(err instanceof SourceError, String(err));
        assert.equal(err.code, PromErrorCode.badResponse);
        assert.match(err.message, /series lookup test_(gauge|requests_total)/);
        assert.match(err.message, /truncated JSON body \(ended after \d+ bytes/);
        assert.match(err.message, /after 3 attempts/);
        assert.match(err.message, /cut the response short/);
        assert.doesNotMatch(err.message, /not JSON|login page/);
        return true;
      });
    } finally {
      await src.close();
      proxy.rule = null;
    }
    // each of the two queries' lookups tried 3 times (the second may be cancelled by the first failure)
    assert.ok(seriesCalls().length >= 3, `${seriesCalls().length} series calls`);
  });

  it('a body that is not JSON fails at once, and its preview keeps multi-byte characters whole', async () => {
    reset();
    // 2-, 3- and 4-byte characters, so the 120-byte preview cut lands inside one for some offset
    const text = 'Zugriff verweigert — Anmeldung nötig 🔒 ' + 'ünïcödé €€ 🔒 '.repeat(20);
    proxy.script({ kind: 'status', status: 200, contentType: 'text/plain; charset=utf-8', body: text });
    const src = makeSource(cfg(proxy.url));
    try {
      await assert.rejects(src.open(openOpts()), (err: unknown) => {
        assert.ok(err instanceof SourceError);
        assert.equal(err.code, PromErrorCode.badResponse);
        assert.match(err.message, /returned a body that is not JSON \(text\/plain; charset=utf-8, starts "/);
        const shown = /starts "(.*?)…?"\)/.exec(err.message)![1]!;
        assert.ok(!shown.includes('\uFFFD'), `no replacement character in ${shown}`);
        assert.ok(text.startsWith(shown.replace(/…$/, '')), `preview ${JSON.stringify(shown)} is a prefix of the body`);
        return true;
      });
    } finally {
      await src.close();
    }
    assert.equal(seriesCalls().filter((r) => r.fault === 'status').length, 1, 'not retried');
  });
});

describe('preview of a bad body', () => {
  it('is a whole-character prefix of the body for any text and any cut, with controls made visible', () => {
    const clean = (s: string) => s.replace(/[\t\n\r]/g, ' ').replace(/[\u0000-\u001f\u007f-\u009f]/g, '·');
    fc.assert(
      fc.property(fc.string({ unit: 'binary', maxLength: 60 }).filter((s) => !s.includes('\uFFFD')), fc.integer({ min: 0, max: 250 }), (s, max) => {
        const bytes = new Uint8Array(Buffer.from(s, 'utf8'));
        const p = preview(bytes, max);
        const cut = bytes.length > max;
        assert.equal(p.endsWith('…'), cut);
        const body = cut ? p.slice(0, -1) : p;
        assert.ok(!body.includes('\uFFFD'), JSON.stringify(p));
        assert.ok(clean(s).startsWith(body), `${JSON.stringify(body)} prefix of ${JSON.stringify(s)}`);
        // the body bytes shown: within the limit, and at most 3 short of it (the cut character)
        const shownBytes = Buffer.byteLength(s.slice(0, body.length), 'utf8');
        assert.ok(shownBytes <= max, 'within the byte limit');
        if (cut) assert.ok(shownBytes >= max - 3, 'nothing cut but the character at the limit');
      }),
    );
  });

  it('shows an invalid byte as U+FFFD and a SharedArrayBuffer body without copying it first', () => {
    const sab = new Uint8Array(new SharedArrayBuffer(6));
    sab.set([0x61, 0xff, 0x62, 0xe2, 0x82, 0xac]); // a, invalid, b, €
    assert.equal(preview(sab), 'a\uFFFDb€');
    assert.equal(preview(sab, 5), 'a\uFFFDb…');
  });
});
