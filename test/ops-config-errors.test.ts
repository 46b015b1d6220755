/**
 * Config errors an operator can act on: every type error names the expected type and the value
 * received, and an unknown key or option suggests the nearest valid one — with file, line and key,
 * through the real loader (YAML text → parseConfigText) and the library's createPipeline.
 */
import { test, describe } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { parseConfigText } from '../src/config/load.js';
import { editDistance, keysAt, nearest } from '../src/config/format.js';
import { configSchema } from '../src/config/schema.js';
import { ConfigError } from '../src/errors.js';
import { createPipeline } from '../src/pipeline/run.js';

const yaml = (extra: string, source = '{ kind: synthetic }', sink = '{ kind: "null" }') =>
  `pipelines:\n  - name: x\n    source: ${source}\n    sink: ${sink}\n${extra}`;

function errorOf(text: string): ConfigError {
  try {
    parseConfigText(text, 'p.yaml', {});
  } catch (err) {
    assert.ok(err instanceof ConfigError, `a ConfigError, got ${String(err)}`);
    return err;
  }
  assert.fail('the config was accepted');
}

describe('type errors name the expected type and the value received', () => {
  test('engine.workers: "lots" says a number or "auto" was expected and a string came', () => {
    const e = errorOf(yaml('    engine: { workers: lots }\n'));
    assert.equal(e.message, 'p.yaml, line 5, key "pipelines.0.engine.workers": expected a number or "auto", got the string "lots"');
  });

  test('a number out of range names the bound and the number', () => {
    assert.match(errorOf(yaml('    engine: { workers: 0 }\n')).message, /key "pipelines\.0\.engine\.workers": expected a number >= 1, got the number 0$/);
    assert.match(errorOf(yaml('    engine: { maxErrorRate: { ratio: 2 } }\n')).message, /maxErrorRate\.ratio": expected a number <= 1, got the number 2$/);
  });

  test('a wrong scalar type names both types', () => {
    assert.match(errorOf(yaml('', '{ kind: synthetic, series: ten }')).message, /source\.series": expected a number, got the string "ten"$/);
    assert.match(errorOf(yaml('    timeout: true\n')).message, /timeout": expected a string or a number, got the boolean true$/);
    assert.match(errorOf(yaml('    transform: { kind: validate }\n')).message, /transform": expected a list, got a map$/);
  });

  test('a missing required key says it is missing and what it should be', () => {
    assert.match(errorOf('pipelines:\n  - source: { kind: synthetic }\n    sink: { kind: "null" }\n').message, /line 2, key "pipelines\.0\.name": missing: expected a string$/);
  });

  test('an option not in the list names the options, the value, and the nearest option', () => {
    assert.match(errorOf(yaml('    engine: { onError: retyr }\n')).message, /onError": expected one of "fail", "skip", "retry", got the string "retyr" \(did you mean "retry"\?\)$/);
    assert.match(errorOf(yaml('', '{ kind: synthtic }')).message, /source\.kind": expected kind to be one of "synthetic", "prometheus", "prometheus-tsdb", got the string "synthtic" \(did you mean "synthetic"\?\)$/);
  });

  test('property: any non-number, non-"auto" workers value is named in the error', () => {
    fc.assert(
      fc.property(fc.oneof(fc.string({ minLength: 1, maxLength: 20 }).filter((s) => s !== 'auto'), fc.boolean()), (v) => {
        let err: unknown;
        try {
          createPipeline({ name: 'x', source: { kind: 'synthetic' }, sink: { kind: 'null' }, engine: { workers: v as never } });
        } catch (e) {
          err = e;
        }
        assert.ok(err instanceof ConfigError);
        const got = typeof v === 'string' ? `the string ${JSON.stringify(v)}` : `the boolean ${v}`;
        assert.ok(err.message.endsWith(`key "engine.workers": expected a number or "auto", got ${got}`), err.message);
      }),
    );
  });
});

describe('unknown keys suggest the nearest valid key', () => {
  test('a misspelt key gets "did you mean", at its line, at any depth', () => {
    assert.equal(errorOf(yaml('    engin: {}\n')).message, 'p.yaml, line 5, key "pipelines.0.engin": unknown key "engin" (did you mean engine?)');
    assert.match(errorOf(yaml('', '{ kind: synthetic, stepMS: 5 }')).message, /line 3, key "pipelines\.0\.source\.stepMS": unknown key "stepMS" \(did you mean stepMs\?\)$/);
    assert.match(errorOf(yaml('', '{ kind: prometheus, url: "http://x", queries: [{ family: system }], stpe: 5s }')).message, /source\.stpe": unknown key "stpe" \(did you mean step\?\)$/);
    assert.match(errorOf(yaml('', undefined, '{ kind: influx, url: "http://x", db: m, retyr: {} }')).message, /sink\.retyr": unknown key "retyr" \(did you mean retry\?\)$/);
    assert.match(errorOf(yaml('    health: { maxRssMB: 2 }\n')).message, /health\.maxRssMB": unknown key "maxRssMB" \(did you mean maxRssMb\?\)$/);
    assert.match(errorOf('pipelinez: []\n').message, /line 1, key "pipelinez": unknown key "pipelinez" \(did you mean pipelines\?\)$/);
  });

  test('a misspelt key is reported rather than the required key it was meant to be', () => {
    assert.match(errorOf(yaml('    engine: { maxErrorRate: { ratoi: 0.5 } }\n')).message, /maxErrorRate\.ratoi": unknown key "ratoi" \(did you mean ratio\?\)$/);
  });

  test('a key far from every valid one lists the valid keys instead of guessing', () => {
    const m = errorOf(yaml('    engine: { zzzzzzzz: 1 }\n')).message;
    assert.match(m, /unknown key "zzzzzzzz"; valid keys here: .*\bworkers\b.*\bbatchSize\b/);
    assert.doesNotMatch(m, /did you mean/);
  });

  test('property: one character dropped from an engine key suggests a key one edit away', () => {
    const engineKeys = keysAt(configSchema, { pipelines: [{ engine: {} }] }, ['pipelines', 0, 'engine'])!;
    assert.ok(engineKeys.includes('workers') && engineKeys.includes('maxInFlight'));
    fc.assert(
      fc.property(fc.constantFrom(...engineKeys.filter((k) => k.length >= 5)), fc.nat(), (key, n) => {
        const i = n % key.length;
        const typo = key.slice(0, i) + key.slice(i + 1);
        if (engineKeys.includes(typo)) return;
        const m = errorOf(yaml(`    engine: { ${typo}: 1 }\n`)).message;
        const hint = /did you mean (\w+)\?/.exec(m)?.[1];
        assert.ok(hint, m);
        assert.equal(editDistance(typo.toLowerCase(), hint.toLowerCase()), Math.min(...engineKeys.map((k) => editDistance(typo.toLowerCase(), k.toLowerCase()))));
      }),
    );
  });

  test('nearest() keeps to likely typos', () => {
    assert.equal(nearest('sampleIntervl', ['sampleInterval', 'series']), 'sampleInterval');
    assert.equal(nearest('WORKERS', ['workers']), 'workers');
    assert.equal(nearest('qqqq', ['workers', 'retries']), undefined);
  });
});
