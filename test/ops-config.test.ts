/**
 * The example pipelines in config/ are real configs: they load and validate (env vars substituted),
 * their kernels compile, their schedules parse with croner, and they match the deployment the
 * issue describes (real_time every 5 min / 300 s, batch daily 02:00 / 3600 s, backfill manual /
 * 7200 s). Also: the metrics endpoint is loopback-only unless told otherwise.
 */
import { test, describe } from 'node:test';
import assert from 'node:assert/strict';
import { readdirSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Cron } from 'croner';
import { Registry } from 'prom-client';
import { loadConfigFile } from '../src/config/load.js';
import { configSchema } from '../src/config/schema.js';
import { ConfigError } from '../src/errors.js';
import { Pipeline } from '../src/pipeline/run.js';
import { parseListen, startMetricsServer } from '../src/observe/server.js';

const here = fileURLToPath(new URL('.', import.meta.url));
// test/ under tsx, dist/test/ when compiled: config/ is at the repository root either way.
const root = [resolve(here, '..'), resolve(here, '../..')].find((d) => {
  try {
    return readdirSync(join(d, 'config')).includes('default.yaml');
  } catch {
    return false;
  }
})!;
const configDir = join(root, 'config');

const ENV = {
  PROMETHEUS_TOKEN: 'example-prom-token',
  INFLUX_PASSWORD: 'example-influx-password',
  PATH: process.env.PATH,
};

describe('example pipelines (config/*.yaml)', () => {
  const files = readdirSync(configDir).filter((f) => f.endsWith('.yaml'));

  test('the deployment examples exist next to default.yaml', () => {
    for (const f of ['default.yaml', 'real_time.yaml', 'batch.yaml', 'backfill.yaml']) assert.ok(files.includes(f), `config/${f}`);
  });

  for (const f of files) {
    test(`${f} validates, compiles and has a valid schedule`, () => {
      const { config } = loadConfigFile(join(configDir, f), ENV);
      for (const p of config.pipelines) {
        const pipeline = new Pipeline(p); // compiles the transform list (kernel options)
        assert.ok(Array.isArray(pipeline.features));
        if (p.schedule !== 'manual') {
          const c = new Cron(p.schedule, { paused: true, ...(p.timezone ? { timezone: p.timezone } : {}) });
          assert.ok(c.nextRun() instanceof Date, `${p.name}: schedule "${p.schedule}" has a next run`);
          c.stop();
        }
      }
    });
  }

  test('schedules and timeouts match the monitoring deployment', () => {
    const one = (f: string) => loadConfigFile(join(configDir, f), ENV).config.pipelines[0]!;
    const rt = one('real_time.yaml');
    assert.equal(rt.schedule, '*/5 * * * *');
    assert.equal(rt.timeout, '300s');
    assert.equal((rt.source as { mode?: string }).mode, 'incremental');
    const batch = one('batch.yaml');
    assert.equal(batch.schedule, '0 2 * * *');
    assert.equal(batch.timeout, '3600s');
    // 02:00 in the configured zone
    const next = new Cron(batch.schedule, { paused: true, timezone: batch.timezone! }).nextRun()!;
    const local = new Intl.DateTimeFormat('en-GB', { timeZone: batch.timezone!, hour: '2-digit', minute: '2-digit', hourCycle: 'h23' }).format(next);
    assert.equal(local, '02:00');
    const bf = one('backfill.yaml');
    assert.equal(bf.schedule, 'manual');
    assert.equal(bf.timeout, '7200s');
    assert.equal((bf.source as { mode?: string }).mode, 'backfill');
    for (const p of [rt, batch, bf]) {
      assert.equal(p.source.kind, 'prometheus');
      assert.ok(p.transform.length > 0);
      assert.equal(p.sink.kind, 'influx');
    }
  });

  test('secrets come from the environment: substituted, and a missing one names file, line and key', () => {
    const { config } = loadConfigFile(join(configDir, 'real_time.yaml'), ENV);
    const p = config.pipelines[0]!;
    assert.deepEqual((p.source as { auth?: unknown }).auth, { bearer: 'example-prom-token' });
    assert.equal((p.sink as { password?: string }).password, 'example-influx-password');
    const file = join(configDir, 'real_time.yaml');
    assert.throws(
      () => loadConfigFile(file, { INFLUX_PASSWORD: 'x' }),
      (err: unknown) => err instanceof ConfigError && /real_time\.yaml, line \d+, key "pipelines\.0\.source\.auth\.bearer": environment variable PROMETHEUS_TOKEN is not set/.test(err.message),
    );
  });

  test('backfill range comes from BACKFILL_START / BACKFILL_END', () => {
    const { config } = loadConfigFile(join(configDir, 'backfill.yaml'), { ...ENV, BACKFILL_START: '2024-01-01T00:00:00Z', BACKFILL_END: '2024-02-01T00:00:00Z' });
    const src = config.pipelines[0]!.source as { start?: unknown; end?: unknown };
    assert.equal(src.start, '2024-01-01T00:00:00Z');
    assert.equal(src.end, '2024-02-01T00:00:00Z');
  });
});

describe('metrics endpoint binding', () => {
  test('loopback by default: the schema default, a bare port, and ":port" all bind 127.0.0.1', async () => {
    const cfg = configSchema.parse({ pipelines: [{ name: 'x', source: { kind: 'synthetic' }, sink: { kind: 'null' } }], metrics: {} });
    assert.equal(cfg.metrics?.listen, '127.0.0.1:9464');
    assert.deepEqual(parseListen('9464'), { host: '127.0.0.1', port: 9464 });
    assert.deepEqual(parseListen(':9464'), { host: '127.0.0.1', port: 9464 });
    const srv = await startMetricsServer(new Registry(), '0');
    try {
      assert.match(srv.url, /^http:\/\/127\.0\.0\.1:\d+$/);
      const res = await fetch(`${srv.url}/healthz`);
      assert.equal(res.status, 200);
      assert.equal((await fetch(`${srv.url}/readyz`)).status, 503, 'not ready until told');
      srv.setReady(true);
      assert.equal((await fetch(`${srv.url}/readyz`)).status, 200);
      assert.equal((await fetch(`${srv.url}/nope`)).status, 404);
    } finally {
      await srv.close();
    }
  });
});
