/**
 * setup and verify on the v2 API. InfluxDB 2.x is not packaged for Debian, so this runs against a
 * small in-test implementation of the few endpoints involved (orgs, buckets, Flux query as CSV)
 * that keeps real state; it checks the requests promflux makes and that setup is idempotent.
 */
import assert from 'node:assert/strict';
import { createServer, type Server } from 'node:http';
import { after, before, describe, test } from 'node:test';
import pino from 'pino';
import { parseInfluxSinkConfig, setupInflux, verifyInflux } from '../src/load/influx/index.js';

const logger = pino({ level: 'silent' });

interface Bucket {
  id: string;
  orgID: string;
  name: string;
  retentionRules: Array<{ type: string; everySeconds: number }>;
}

describe('v2 API: setup (buckets) and verify (Flux)', () => {
  let server: Server;
  let url = '';
  const buckets: Bucket[] = [];
  const calls: string[] = [];
  const queries: string[] = [];
  let auth: string | undefined;

  before(async () => {
    server = createServer((req, res) => {
      const chunks: Buffer[] = [];
      req.on('data', (c: Buffer) => chunks.push(c));
      req.on('end', () => {
        const u = new URL(req.url!, 'http://x');
        calls.push(`${req.method} ${u.pathname}`);
        auth = req.headers.authorization;
        const body = chunks.length ? JSON.parse(Buffer.concat(chunks).toString()) : null;
        const json = (status: number, data: unknown) => {
          res.writeHead(status, { 'content-type': 'application/json' });
          res.end(JSON.stringify(data));
        };
        if (req.headers.authorization !== 'Token tok') return json(401, { code: 'unauthorized', message: 'unauthorized access' });
        if (req.method === 'GET' && u.pathname === '/api/v2/orgs') {
          return json(200, { orgs: u.searchParams.get('org') === 'acme' ? [{ id: 'org1', name: 'acme' }] : [] });
        }
        if (req.method === 'GET' && u.pathname === '/api/v2/buckets') {
          return json(200, { buckets: buckets.filter((b) => b.orgID === u.searchParams.get('orgID') && b.name === u.searchParams.get('name')) });
        }
        if (req.method === 'POST' && u.pathname === '/api/v2/buckets') {
          const b = { id: `b${buckets.length + 1}`, orgID: body.orgID, name: body.name, retentionRules: body.retentionRules };
          buckets.push(b);
          return json(201, b);
        }
        const patch = /^\/api\/v2\/buckets\/(\w+)$/.exec(u.pathname);
        if (req.method === 'PATCH' && patch) {
          const b = buckets.find((x) => x.id === patch[1])!;
          b.retentionRules = body.retentionRules;
          return json(200, b);
        }
        if (req.method === 'POST' && u.pathname === '/api/v2/query') {
          queries.push(body.query);
          const agg = /\|> (\w+)\(\)\s*$/.exec(body.query)![1];
          const v = { count: ['120', '7'], sum: ['12.5', '3'], min: ['0', '1'], max: ['9', '2'] }[agg!]!;
          res.writeHead(200, { 'content-type': 'text/csv' });
          res.end(`,result,table,_measurement,_value\r\n,_result,0,cpu,${v[0]}\r\n,_result,1,"disk,io",${v[1]}\r\n\r\n`);
          return;
        }
        json(404, { code: 'not found', message: `no route ${req.method} ${u.pathname}` });
      });
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
    const a = server.address();
    url = `http://127.0.0.1:${typeof a === 'object' && a ? a.port : 0}`;
  });
  after(() => new Promise<void>((r) => server.close(() => r())));

  const cfg = (over: Record<string, unknown> = {}) =>
    parseInfluxSinkConfig({ kind: 'influx', url, version: 2, org: 'acme', bucket: 'metrics', token: 'tok', setup: { bucketRetention: '30d' }, ...over });

  test('creates the bucket with its retention, then is idempotent, then patches a changed retention', async () => {
    const first = await setupInflux(cfg(), logger);
    assert.deepEqual(first.created, ['bucket "metrics" in org "acme" (retention 30d)']);
    assert.deepEqual(buckets, [{ id: 'b1', orgID: 'org1', name: 'metrics', retentionRules: [{ type: 'expire', everySeconds: 30 * 86400 }] }]);
    assert.equal(auth, 'Token tok');
    const second = await setupInflux(cfg(), logger);
    assert.deepEqual([second.created, second.altered, second.unchanged.length], [[], [], 1]);
    const third = await setupInflux(cfg({ setup: { bucketRetention: '5y' } }), logger);
    assert.deepEqual(third.altered, ['bucket "metrics" in org "acme" (retention 5y)']);
    assert.equal(buckets[0]!.retentionRules[0]!.everySeconds, 5 * 365 * 86400);
    assert.equal(calls.filter((c) => c === 'POST /api/v2/buckets').length, 1);
  });

  test('clear errors for a missing org and for bad credentials', async () => {
    await assert.rejects(setupInflux(cfg({ org: 'nobody' }), logger), { code: 'PROMFLUX_SINK_SETUP', message: /organization "nobody" not found/ });
    await assert.rejects(setupInflux(cfg({ token: 'wrong' }), logger), { code: 'PROMFLUX_SINK_AUTH' });
  });

  test('verify counts per measurement with Flux and compares', async () => {
    const r = await verifyInflux(cfg(), { startMs: 1_700_000_000_000, endMs: 1_700_000_100_000, expected: { cpu: 120, 'disk,io': 8 }, values: true });
    assert.equal(r.ok, false);
    assert.deepEqual(r.perMeasurement, {
      cpu: { expected: 120, found: 120, min: 0, max: 9, sum: 12.5 },
      'disk,io': { expected: 8, found: 7, min: 1, max: 2, sum: 3 },
    });
    assert.match(queries[0]!, /from\(bucket: "metrics"\)/);
    assert.match(queries[0]!, /range\(start: time\(v: 1700000000000000000\), stop: time\(v: 1700000100000000000\)\)/);
    assert.match(queries[0]!, /r\._field == "value"/);
  });
});
