/**
 * One descriptor per component (src/config/component.ts), one list (src/config/components.ts):
 * the list builds the config schema, the factories and the --sink parser, and a user plugin
 * registered with the same descriptor type goes through all three.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { z } from 'zod';
import { createPipeline, ConfigError, validatePipeline } from '../src/index.js';
import { defineSink } from '../src/config/component.js';
import { BUILTIN_SINKS, BUILTIN_SOURCES, parseSinkFlag, registerSink, sinkKinds, sourceKinds } from '../src/config/components.js';
import type { EncodedBatch, Sink, SinkWriteResult } from '../src/load/sink.js';

describe('component descriptors', () => {
  it('every built-in descriptor validates a config of its own kind, and its kind is listed', () => {
    for (const d of [...BUILTIN_SOURCES, ...BUILTIN_SINKS]) {
      assert.ok(d.docs.length > 10, `${d.kind} has docs`);
      const bad = d.schema.safeParse({ kind: d.kind, notAnOption: 1 });
      assert.ok(!bad.success, `${d.kind}: its schema is strict`);
    }
    assert.deepEqual(sourceKinds().slice(0, 2), ['synthetic', 'prometheus']);
    assert.deepEqual(sinkKinds().slice(0, 4), ['null', 'file', 'arrow', 'influx']);
  });

  it('the --sink parser is built from the descriptors', () => {
    assert.deepEqual(parseSinkFlag('null'), { kind: 'null' });
    assert.deepEqual(parseSinkFlag('file:out/x.lp.gz'), { kind: 'file', path: 'out/x.lp.gz', gzip: true });
    assert.deepEqual(parseSinkFlag('arrow:out/x.arrow'), { kind: 'arrow', path: 'out/x.arrow' });
    const influx = parseSinkFlag('influxdb:http://127.0.0.1:8086?db=m') as { kind: string; url: string; db: string };
    assert.deepEqual([influx.kind, influx.url, influx.db], ['influx', 'http://127.0.0.1:8086', 'm']);
    for (const bad of ['file:', 'null:x', 'kafka:x', '']) {
      assert.throws(() => parseSinkFlag(bad), (e: unknown) => {
        assert.ok(e instanceof ConfigError);
        assert.match(e.message, /invalid --sink ".*" \(use null, file:PATH, arrow:PATH or influx:URL/);
        return true;
      });
    }
  });

  it('a sink kind nobody registered is a config error naming sink.kind', () => {
    assert.throws(
      () => validatePipeline({ name: 'x', source: { kind: 'synthetic' }, sink: { kind: 'kafka' } }),
      (e: unknown) => e instanceof ConfigError && /sink/.test(e.message),
    );
  });

  it('a user sink registered with the same descriptor is validated, built, flag-parsed and fed every line', async () => {
    class CountingSink implements Sink {
      readonly kind = 'counting';
      readonly needs = { lineProtocol: true, columns: false };
      lines = 0;
      bytes = 0;
      constructor(readonly label: string) {}
      async open(): Promise<void> {}
      async write(b: EncodedBatch): Promise<SinkWriteResult> {
        this.lines += b.lines;
        this.bytes += b.lp?.byteLength ?? 0;
        return { written: b.lines };
      }
      async close(): Promise<void> {}
    }
    const built: CountingSink[] = [];
    registerSink(
      defineSink({
        kind: 'counting',
        schema: z.object({ kind: z.literal('counting'), label: z.string().min(1) }).strict(),
        create: (cfg) => {
          const s = new CountingSink(cfg.label);
          built.push(s);
          return s;
        },
        parseFlag: (rest) => (rest ? { kind: 'counting' as const, label: rest } : undefined),
        flagUsage: 'counting:LABEL',
        docs: 'counts lines (test plugin)',
      }),
    );
    assert.throws(() => registerSink({ ...BUILTIN_SINKS[0] }), /already registered/);
    assert.deepEqual(parseSinkFlag('counting:abc'), { kind: 'counting', label: 'abc' });
    // strict like a built-in: an unknown key is an error naming it
    assert.throws(
      () => validatePipeline({ name: 'x', source: { kind: 'synthetic' }, sink: { kind: 'counting', label: 'a', extra: 1 } as never }),
      (e: unknown) => e instanceof ConfigError && /extra/.test(e.message),
    );
    const p = createPipeline({ name: 'plug', source: { kind: 'synthetic', series: 7, samplesPerSeries: 500 }, sink: { kind: 'counting', label: 'L' } as never }, { workers: 1, batchSize: 1000 });
    const summary = await p.run();
    assert.equal(summary.status, 'ok');
    assert.equal(built.length, 1);
    assert.equal(built[0]!.label, 'L');
    assert.equal(summary.samplesIn, 3500);
    assert.equal(built[0]!.lines, summary.linesOut);
    assert.ok(built[0]!.bytes > 0);
  });
});
