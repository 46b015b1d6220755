/**
 * Online feature serving (issue #15): the in-memory newest vector per series (src/access/latest.ts,
 * fed by the workers' per-batch summary src/encode/latest.ts), train/serve parity against a backfill
 * of the same data in a real influxd, and the auth/TLS of the metrics server the routes live on.
 */
import { test, describe, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import fc from 'fast-check';
import { Agent, fetch as undiciFetch } from 'undici';
import { Registry } from 'prom-client';
import { LatestStore, parseTargetKey } from '../src/access/latest.js';
import type { LatestRows } from '../src/encode/latest.js';
import { mapSeriesKey, seriesKeyText } from '../src/encode/lineprotocol.js';
import { seriesKey } from '../src/batch/layout.js';
import { createPipeline } from '../src/pipeline/run.js';
import { readInflux } from '../src/access/query.js';
import { startService } from '../src/cli/serve.js';
import { loadConfigFile } from '../src/config/load.js';
import { silentLogger } from '../src/observe/logger.js';
import { startMetricsServer } from '../src/observe/server.js';
import { startInfluxd, ensureDebianPackage, type Influxd } from './harness/influxdb.js';
import { startPrometheus, type PromServer } from './harness/prometheus.js';

const tmp = mkdtempSync(join(tmpdir(), 'promflux-serving-'));
after(() => rmSync(tmp, { recursive: true, force: true }));

function rowsOf(keys: string[], ts: number[], values: number[][], fields = ['value', 'mean_3']): LatestRows {
  const targets = keys.map((k) => {
    const m = mapSeriesKey(k.split('{')[0]!, JSON.parse(`{${(k.split('{')[1] ?? '}').slice(0, -1).replace(/(\w+)=/g, '"$1":')}}`) as Record<string, string>);
    return seriesKeyText(m as Exclude<typeof m, string>);
  });
  return { keys, targets, fields, ts: Float64Array.from(ts), values: Float64Array.from(values.flat()) };
}

describe('the latest-vector store', () => {
  test('keeps the newest vector per series whatever order the batches finish in', () => {
    const a = seriesKey('cpu', { instance: 'a' });
    const b = seriesKey('cpu', { instance: 'b' });
    const batches = [rowsOf([a, b], [1000, 1000], [[1, 2], [3, 4]]), rowsOf([a], [2000], [[5, NaN]]), rowsOf([b], [3000], [[7, 8]]), rowsOf([a, b], [1500, 2500], [[9, 9], [9, 9]])];
    const results = new Set<string>();
    fc.assert(
      fc.property(fc.shuffledSubarray(batches, { minLength: batches.length, maxLength: batches.length }), (order) => {
        const store = new LatestStore({ maxSeries: 10 });
        for (const r of order) store.add('p', r);
        const got = store.select({}).map((e) => [e.series, e.timestamp, [...e.values]]);
        results.add(JSON.stringify(got));
        assert.deepEqual(got, [
          [a, 2000, [5, NaN]],
          [b, 3000, [7, 8]],
        ]);
      }),
    );
    assert.equal(results.size, 1);
  });

  test('holds at most maxSeries vectors, evicting the least recently updated and counting it', async () => {
    const registry = new Registry();
    const store = new LatestStore({ maxSeries: 3, registry });
    const key = (i: number) => seriesKey('m', { i: String(i) });
    store.add('p', rowsOf([key(0), key(1), key(2)], [1, 1, 1], [[0, 0], [1, 1], [2, 2]]));
    store.add('p', rowsOf([key(0)], [2], [[0, 0]])); // 0 is now the most recently updated
    store.add('p', rowsOf([key(3), key(4)], [1, 1], [[3, 3], [4, 4]]));
    assert.equal(store.size, 3);
    assert.equal(store.evicted, 2);
    assert.deepEqual(store.select({}).map((e) => e.tags.i), ['0', '3', '4']);
    const text = await registry.metrics();
    assert.match(text, /promflux_features_latest_evicted_total 2/);
    assert.match(text, /promflux_features_latest_series 3/);
  });

  test('selects by Prometheus matcher, written tags, measurement and pipeline', () => {
    const store = new LatestStore({ maxSeries: 100 });
    const keys = [seriesKey('cpu', { instance: 'a', job: 'node' }), seriesKey('cpu', { instance: 'b', job: 'node' }), seriesKey('mem', { instance: 'a', job: 'node' })];
    store.add('p', rowsOf(keys, [1, 1, 1], [[1, 1], [2, 2], [3, 3]]));
    store.add('q', rowsOf([keys[0]!], [1], [[4, 4]]));
    const names = (q: Parameters<LatestStore['select']>[0]) => store.select(q).map((e) => `${e.pipeline}:${e.series}`);
    assert.deepEqual(names({ matchers: [{ type: '=', name: '__name__', value: 'cpu' }, { type: '=~', name: 'instance', value: 'a|c' }] }), ['p:cpu{instance="a",job="node"}', 'q:cpu{instance="a",job="node"}']);
    assert.deepEqual(names({ pipeline: 'p', tags: { instance: ['a'] } }), ['p:cpu{instance="a",job="node"}', 'p:mem{instance="a",job="node"}']);
    assert.deepEqual(names({ measurement: 'mem', matchers: [{ type: '!=', name: 'instance', value: 'b' }] }), ['p:mem{instance="a",job="node"}']);
    assert.deepEqual(names({ matchers: [{ type: '!~', name: 'instance', value: 'a' }] }), ['p:cpu{instance="b",job="node"}']);
  });

  test('parses every target key the encoder writes back to the original measurement and labels', () => {
    const str = fc.string({ unit: fc.constantFrom('a', ',', ' ', '=', '\\', '\n', 'é', '"', 'u', '{', '}', '#', 't'), minLength: 1, maxLength: 8 });
    fc.assert(
      fc.property(str, fc.dictionary(str, str, { maxKeys: 4 }), (measurement, tags) => {
        const mk = mapSeriesKey(measurement, tags);
        fc.pre(typeof mk !== 'string');
        const got = parseTargetKey(seriesKeyText(mk as Exclude<typeof mk, string>));
        assert.equal(got.measurement, measurement);
        const want = Object.fromEntries(Object.entries(tags).filter(([k, v]) => k && v));
        assert.deepEqual(got.tags, want);
      }),
      { numRuns: 2000 },
    );
  });
});

describe('the metrics server with metrics.auth', () => {
  test('basic auth: 401 with a Basic challenge without or with wrong credentials, 200 with them; probes stay open', async () => {
    const registry = new Registry();
    const server = await startMetricsServer(registry, '127.0.0.1:0', undefined, undefined, (req, res) => {
      if (!req.url?.startsWith('/v1/features')) return false;
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end('{"ok":true}');
      return true;
    }, { auth: { basic: { username: 'ml', password: 'p@ss:word' } } });
    try {
      server.setReady(true);
      const basic = (u: string, p: string) => ({ authorization: `Basic ${Buffer.from(`${u}:${p}`).toString('base64')}` });
      for (const path of ['/v1/features/latest', '/metrics']) {
        const none = await fetch(`${server.url}${path}`);
        assert.equal(none.status, 401, path);
        assert.match(none.headers.get('www-authenticate') ?? '', /^Basic realm=/);
        assert.equal((await fetch(`${server.url}${path}`, { headers: basic('ml', 'wrong') })).status, 401);
        assert.equal((await fetch(`${server.url}${path}`, { headers: { authorization: 'Bearer p@ss:word' } })).status, 401);
        assert.equal((await fetch(`${server.url}${path}`, { headers: basic('ml', 'p@ss:word') })).status, 200, path);
      }
      assert.equal((await fetch(`${server.url}/healthz`)).status, 200);
      assert.equal((await fetch(`${server.url}/readyz`)).status, 200);
    } finally {
      await server.close();
    }
  });
});

// ---------------------------------------------------------------------------------------------

function selfSignedCert(dir: string): { cert: string; key: string } {
  const openssl = ensureDebianPackage('openssl', 'openssl');
  const key = join(dir, 'key.pem');
  const cert = join(dir, 'cert.pem');
  execFileSync(openssl, ['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-keyout', key, '-out', cert, '-days', '2', '-subj', '/CN=127.0.0.1', '-addext', 'subjectAltName=IP:127.0.0.1'], { stdio: 'ignore' });
  return { cert, key };
}

interface Vector {
  pipeline: string;
  series: string;
  measurement: string;
  tags: Record<string, string>;
  timestamp: number;
  values: Record<string, number | null>;
}

describe('promflux serve: online feature vectors (real Prometheus, real influxd)', () => {
  let prom: PromServer;
  let influxd: Influxd;
  before(async () => {
    [prom, influxd] = await Promise.all([startPrometheus({ withData: false }), startInfluxd()]);
    await influxd.query('CREATE DATABASE online');
    await influxd.query('CREATE DATABASE backfill');
  });
  after(async () => {
    await Promise.all([prom?.dispose(), influxd?.stop()]);
  });

  // Two measurements × two instances of non-trivial doubles, evaluated by Prometheus on the step grid.
  const queries = `
      queries:
        - { name: cpu, expr: 'label_replace(sin(vector(time()) / 7) * 100, "instance", "a:9100", "", "") or label_replace(cos(vector(time()) / 3) / 3, "instance", "b:9100", "", "")' }
        - { name: mem, expr: 'label_replace(vector(time()) / 997, "instance", "a:9100", "", "") or label_replace(sqrt(vector(time())), "instance", "b:9100", "", "")' }`;
  const transform = `
    transform:
      - { kind: validate }
      - { kind: rolling, windows: [3, 5], stats: [mean, std] }`;

  test('serves from memory the newest vector of each series, equal bit for bit to what a backfill of the same data wrote for those timestamps; honours bearer auth and TLS', async (t) => {
    const dir = mkdtempSync(join(tmp, 'parity-'));
    const { cert, key } = selfSignedCert(dir);
    const start = new Date(Math.floor((Date.now() - 30_000) / 1000) * 1000).toISOString();
    const cfgPath = join(dir, 'serve.yaml');
    writeFileSync(
      cfgPath,
      `pipelines:
  - name: online
    source:
      kind: prometheus
      url: ${prom.url}
      mode: stream
      start: "${start}"
      step: 1s
      pollInterval: 300ms
      safetyLag: 1s
${queries}
${transform}
    sink: { kind: influx, url: ${influxd.url}, version: 1, db: online }
    engine: { workers: 2 }
metrics:
  auth: { bearer: s3cret-token }
  tls: { cert: ${cert}, key: ${key} }
serving: { maxSeries: 1000 }
`,
    );
    const svc = await startService({ config: cfgPath, metricsListen: '127.0.0.1:0' }, silentLogger);
    const ca = readFileSync(cert, 'utf8');
    const dispatcher = new Agent({ connect: { ca } });
    const get = (path: string, token: string | null = 's3cret-token') =>
      undiciFetch(`${svc.metricsUrl}${path}`, { dispatcher, headers: token ? { authorization: `Bearer ${token}` } : {} });
    let served: Vector[] = [];
    try {
      assert.match(svc.metricsUrl!, /^https:\/\/127\.0\.0\.1:\d+$/);
      // TLS: without the CA the self-signed certificate is refused
      await assert.rejects(fetch(`${svc.metricsUrl}/healthz`), 'a client that does not trust the certificate cannot connect');
      // auth: 401 without or with a wrong token, on the feature routes and /metrics; probes stay open
      for (const path of ['/v1/features/latest', '/v1/features?measurement=cpu&start=now-1h&end=now', '/metrics']) {
        const r = await get(path, null);
        assert.equal(r.status, 401, path);
        assert.match(r.headers.get('www-authenticate') ?? '', /^Bearer/);
        assert.match(((await r.json()) as { error: string }).error, /metrics\.auth/);
        assert.equal((await get(path, 'wrong')).status, 401, path);
      }
      assert.equal((await get('/healthz', null)).status, 200);

      // wait until the stream has caught up past start + 20 s for every series
      const want = Date.parse(start) + 20_000;
      const deadline = Date.now() + 60_000;
      for (;;) {
        const r = await get('/v1/features/latest');
        assert.equal(r.status, 200);
        const body = (await r.json()) as { series: Vector[]; held: number; evicted: number };
        served = body.series;
        if (served.length === 4 && served.every((v) => v.timestamp >= want)) {
          assert.equal(body.held, 4);
          assert.equal(body.evicted, 0);
          break;
        }
        if (Date.now() > deadline) throw new Error(`stream did not catch up: ${JSON.stringify(served.map((v) => [v.series, v.timestamp]))}`);
        await new Promise((r) => setTimeout(r, 300));
      }
      // by matcher, and by entity (the series of one instance merged into one vector)
      const byMatch = (await (await get(`/v1/features/latest?match=${encodeURIComponent('cpu{instance=~"a.*"}')}&fields=value,mean_5`)).json()) as { series: Vector[] };
      assert.deepEqual(byMatch.series.map((v) => [v.series, Object.keys(v.values)]), [['cpu{instance="a:9100"}', ['value', 'mean_5']]]);
      const byEntity = (await (await get('/v1/features/latest?entity=instance&tag.instance=b:9100&fields=value')).json()) as { entities: Array<{ entity: Record<string, string>; features: Record<string, number | null> }> };
      assert.equal(byEntity.entities.length, 1);
      assert.deepEqual(byEntity.entities[0]!.entity, { instance: 'b:9100' });
      assert.deepEqual(Object.keys(byEntity.entities[0]!.features).sort(), ['cpu.value', 'mem.value']);
      const bad = await get(`/v1/features/latest?match=${encodeURIComponent('cpu{instance=~"("}')}`);
      assert.equal(bad.status, 400);
      assert.match(((await bad.json()) as { error: string }).error, /^match=/);

      // latency of the in-memory route (documented in docs/ACCESS.md)
      const lat: number[] = [];
      for (let i = 0; i < 200; i++) {
        const t0 = performance.now();
        await (await get('/v1/features/latest?measurement=cpu')).arrayBuffer();
        lat.push(performance.now() - t0);
      }
      lat.sort((a, b) => a - b);
      t.diagnostic(`latest (memory, 4 series, HTTPS + bearer): p50 ${lat[99]!.toFixed(2)} ms, p99 ${lat[197]!.toFixed(2)} ms`);
      const rangeLat: number[] = [];
      let rangeRows = 0;
      for (let i = 0; i < 100; i++) {
        const t0 = performance.now();
        const body = (await (await get(`/v1/features?measurement=cpu&tag.instance=a:9100&start=${start}&end=now`)).json()) as { blocks: Array<{ values: unknown[] }> };
        rangeLat.push(performance.now() - t0);
        rangeRows = body.blocks.reduce((a, b) => a + b.values.length, 0);
      }
      rangeLat.sort((a, b) => a - b);
      assert.ok(rangeRows >= 20);
      t.diagnostic(`range (/v1/features JSON, 1 series × ${rangeRows} rows, HTTPS + bearer, influxd): p50 ${rangeLat[49]!.toFixed(2)} ms, p99 ${rangeLat[98]!.toFixed(2)} ms`);
    } finally {
      await svc.stop();
      await dispatcher.close();
    }

    // A backfill of the same data (same queries, transforms, grid), into another database.
    const newest = Math.max(...served.map((v) => v.timestamp));
    const bfPath = join(dir, 'backfill.yaml');
    writeFileSync(
      bfPath,
      `pipelines:
  - name: backfill
    source:
      kind: prometheus
      url: ${prom.url}
      mode: backfill
      start: "${start}"
      end: "${new Date(newest + 1000).toISOString()}"
      step: 1s
${queries}
${transform}
    sink: { kind: influx, url: ${influxd.url}, version: 1, db: backfill }
    engine: { workers: 1, batchSize: 7 }
    verify: { enabled: false }
`,
    );
    const summary = await createPipeline(loadConfigFile(bfPath).config.pipelines[0]!).run();
    assert.equal(summary.status, 'ok', JSON.stringify(summary.error ?? summary));
    const fields = Object.keys(served[0]!.values);
    assert.deepEqual(fields, ['value', 'mean_3', 'std_3', 'mean_5', 'std_5']);
    for (const [db, what] of [['backfill', 'the backfill'], ['online', 'the stream itself']] as const) {
      const written = new Map<string, number[]>();
      for (const m of ['cpu', 'mem']) {
        for await (const blocks of readInflux({ url: influxd.url, version: 1, db }, { measurement: m, fields, start: Date.parse(start), end: newest + 1 })) {
          for (const b of blocks) for (let i = 0; i < b.rows; i++) written.set(`${m}|${b.tags.instance}@${b.ts[i]}`, b.values.map((v) => v[i]!));
        }
      }
      for (const v of served) {
        const row = written.get(`${v.measurement}|${v.tags.instance}@${v.timestamp}`);
        assert.ok(row, `${what} wrote no row for ${v.series} at ${v.timestamp}`);
        fields.forEach((f, i) => {
          const got = v.values[f] ?? NaN;
          assert.ok(Object.is(got, row[i]), `${v.series}@${v.timestamp} ${f}: served ${got}, ${what} wrote ${row[i]}`);
        });
      }
    }
  });
});
