/**
 * Schema mapping (metric/labels/columns → measurement/tags/fields) and the tag-cardinality guard.
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import fc from 'fast-check';
import { seriesKey } from '../src/batch/layout.js';
import { CardinalityGuard, canonicalTagSet } from '../src/load/cardinality.js';
import { compileSchemaMapping, schemaMappingSchema } from '../src/load/schema.js';

describe('compileSchemaMapping', () => {
  test('defaults: measurement = metric name, labels = tags, fields are floats', () => {
    const m = compileSchemaMapping();
    assert.deepEqual(m.mapSeries('up', { __name__: 'up', job: 'node', empty: '' }), { measurement: 'up', tags: { job: 'node' } });
    assert.deepEqual(m.mapField('value'), { name: 'value', type: 'float' });
    assert.deepEqual(m.mapField('p95_60'), { name: 'p95_60', type: 'float' });
  });

  test('measurement rename, regex rules, template, include/exclude', () => {
    const m = compileSchemaMapping({
      measurement: {
        default: 'prom_${name}',
        rename: { up: 'availability' },
        rules: [{ match: '^node_(\\w+?)_.*$', measurement: 'node_$1' }],
        exclude: ['go_*', 'scrape_duration_seconds'],
      },
    });
    assert.equal(m.mapSeries('up', {})!.measurement, 'availability');
    assert.equal(m.mapSeries('node_cpu_seconds_total', {})!.measurement, 'node_cpu');
    assert.equal(m.mapSeries('http_requests_total', {})!.measurement, 'prom_http_requests_total');
    assert.equal(m.mapSeries('go_goroutines', {}), null);
    assert.equal(m.mapSeries('scrape_duration_seconds', {}), null);
    const only = compileSchemaMapping({ measurement: { include: ['node_*'] } });
    assert.equal(only.mapSeries('up', {}), null);
    assert.ok(only.mapSeries('node_load1', {}));
  });

  test('tags: allow, deny (globs), rename; a renamed tag wins over a same-named label', () => {
    const m = compileSchemaMapping({ tags: { allow: ['job', 'instance', 'k8s_*', 'host'], deny: ['k8s_uid'], rename: { instance: 'host' } } });
    assert.deepEqual(
      m.mapSeries('x', { job: 'a', instance: 'i:9100', host: 'orig', k8s_pod: 'p', k8s_uid: 'u', other: 'o' }),
      { measurement: 'x', tags: { job: 'a', host: 'i:9100', k8s_pod: 'p' } },
    );
    assert.deepEqual(m.mapSeries('x', { host: 'orig', instance: 'i' })!.tags, { host: 'i' });
    assert.throws(() => compileSchemaMapping({ tags: { rename: { a: 'x', b: 'x' } } }), /both renamed to "x"/);
  });

  test('fields: rename, integer, include/exclude', () => {
    const m = compileSchemaMapping({ fields: { rename: { value: 'v' }, integer: ['value', 'count_*'], exclude: ['std_*'] } });
    assert.deepEqual(m.mapField('value'), { name: 'v', type: 'int' });
    assert.deepEqual(m.mapField('count_60'), { name: 'count_60', type: 'int' });
    assert.equal(m.mapField('std_15'), null);
    assert.deepEqual(m.mapField('mean_5'), { name: 'mean_5', type: 'float' });
    const only = compileSchemaMapping({ fields: { include: ['value'] } });
    assert.equal(only.mapField('mean_5'), null);
  });

  test('config is strict and bad regexes are reported', () => {
    assert.throws(() => schemaMappingSchema.parse({ tags: { alow: [] } }));
    assert.throws(() => compileSchemaMapping({ measurement: { rules: [{ match: '(', measurement: 'x' }] } }), /rules\[0\]\.match/);
  });

  test('mapping never emits empty tag values or __name__ (property)', () => {
    const m = compileSchemaMapping({ tags: { deny: ['d*'] } });
    fc.assert(
      fc.property(fc.dictionary(fc.string({ minLength: 1, maxLength: 6 }), fc.string({ maxLength: 6 })), (labels) => {
        const r = m.mapSeries('metric', labels)!;
        for (const [k, v] of Object.entries(r.tags)) {
          assert.notEqual(v, '');
          assert.notEqual(k, '__name__');
          assert.ok(!k.startsWith('d'));
          assert.equal(labels[k], v);
        }
      }),
    );
  });
});

describe('CardinalityGuard', () => {
  const keys = (n: number, from = 0) => Array.from({ length: n }, (_, i) => seriesKey('m', { pod: `p${from + i}`, job: 'j' }));

  test('counts distinct tag sets per measurement after mapping', () => {
    const mapping = compileSchemaMapping({ tags: { deny: ['pod'] } });
    const g = new CardinalityGuard({ limit: 5, action: 'refuse' }, mapping);
    g.check(keys(100)); // pod denied → one tag set
    assert.deepEqual(g.stats(), { m: { tagSets: 1, exceeded: false } });
  });

  test('warn: logs once and keeps counting', () => {
    const warnings: string[] = [];
    const logger = { warn: (_o: unknown, msg: string) => warnings.push(msg) } as never;
    const g = new CardinalityGuard({ limit: 10, action: 'warn' }, compileSchemaMapping(), logger);
    g.check(keys(8));
    g.check(keys(8, 4)); // 4 overlap
    assert.deepEqual(g.stats(), { m: { tagSets: 12, exceeded: true } });
    g.check(keys(5, 100));
    assert.equal(warnings.length, 1);
    assert.match(warnings[0]!, /exceeds 10 distinct tag sets/);
  });

  test('refuse: throws before writing and records nothing of the refused batch', () => {
    const g = new CardinalityGuard({ limit: 10, action: 'refuse' }, compileSchemaMapping());
    g.check(keys(10));
    assert.throws(() => g.check(keys(3, 50)), (err: Error & { code?: string }) => {
      assert.equal(err.code, 'PROMFLUX_SINK_CARDINALITY');
      assert.match(err.message, /"m" would have 13 distinct tag sets, over the limit of 10/);
      return true;
    });
    assert.deepEqual(g.stats(), { m: { tagSets: 10, exceeded: false } });
    g.check(keys(10)); // already known sets are fine
  });

  test('excluded series are not counted; tag-set identity ignores order', () => {
    const g = new CardinalityGuard({ limit: 1, action: 'refuse' }, compileSchemaMapping({ measurement: { exclude: ['m'] } }));
    g.check(keys(50));
    assert.deepEqual(g.stats(), {});
    assert.equal(canonicalTagSet({ a: '1', b: '2' }), canonicalTagSet({ b: '2', a: '1' }));
  });
});
