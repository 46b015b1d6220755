/**
 * Security, through the CLI against real servers: a secret passed as ${TOKEN} (Prometheus bearer
 * token, InfluxDB password and token) never shows up in stdout, stderr (debug logs), the summary
 * file or /metrics — on success and on the error paths; TLS certificates are verified by default
 * (a self-signed server is refused until its CA is configured).
 */
import { test, describe, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startPrometheus, T0, type PromServer } from './harness/prometheus.js';
import { startInfluxd, type Influxd } from './harness/influxdb.js';
import { startFaultProxy, type FaultProxy } from './harness/faultproxy.js';
import { startTlsProxy, type TlsProxy } from './harness/tls.js';
import { runCli, startCli } from './harness/cli.js';
import { countPoints } from './harness/expected.js';
import { collectSecrets, redactConfig, secretScrubber } from '../src/observe/redact.js';

const tmp = mkdtempSync(join(tmpdir(), 'promflux-ops-security-'));
const TOKEN = `pfx-secret-${randomBytes(12).toString('hex')}`;
let prom: PromServer;
let influxd: Influxd;
let proxy: FaultProxy;

before(async () => {
  [prom, influxd] = await Promise.all([startPrometheus(), startInfluxd()]);
  proxy = await startFaultProxy(influxd.url);
  for (const db of ['sec', 'tls']) await influxd.query(`CREATE DATABASE "${db}"`);
});
after(async () => {
  await Promise.allSettled([proxy?.close(), prom?.dispose(), influxd?.stop()]);
  rmSync(tmp, { recursive: true, force: true });
});

const HOUR = 3_600_000;

function writeConfig(name: string, source: string, sink: string): string {
  const path = join(tmp, `${name}.yaml`);
  writeFileSync(
    path,
    `pipelines:
  - name: ${name}
    source:
      kind: prometheus
      start: "${new Date(T0).toISOString()}"
      end: "${new Date(T0 + HOUR).toISOString()}"
      step: 15s
      queries:
        - { name: gauge, expr: test_gauge }
${source}    transform:
      - kind: validate
    sink:
      kind: influx
      deadLetter: ${join(tmp, `${name}.dead.lp`)}
${sink}    engine: { workers: 1 }
`,
  );
  return path;
}

function assertNoSecret(where: string, text: string): void {
  assert.ok(text.length > 0, `${where} is not empty`);
  const i = text.indexOf(TOKEN);
  assert.equal(i, -1, `${where} leaks the secret: …${text.slice(Math.max(0, i - 120), i + TOKEN.length + 20)}…`);
}

describe('secrets stay secret', () => {
  test('success path with --log-level debug: not in stdout, stderr, --summary-json or /metrics', async () => {
    const cfg = writeConfig(
      'secret_ok',
      `      url: ${prom.url}
      auth: { bearer: "\${TOKEN}" }
      maxChunk: 5m
      concurrency: 1
      rateLimit: 6
      rateBurst: 1
`,
      `      url: ${influxd.url}
      db: sec
      username: promflux
      password: "\${TOKEN}"
`,
    );
    const summary = join(tmp, 'secret_ok.json');
    const p = startCli(['run', '--config', cfg, '--log-level', 'debug', '--summary-json', summary, '--metrics-listen', '127.0.0.1:0'], { TOKEN });
    const line = await p.waitForStderr(/"msg":"metrics endpoint listening"/);
    const url = (JSON.parse(line) as { url: string }).url;
    assert.match(url, /^http:\/\/127\.0\.0\.1:\d+$/);
    await p.waitForStderr(/"msg":"prometheus source planned"/);
    const metrics = await (await fetch(`${url}/metrics`)).text();
    const e = await p.exited;
    assert.equal(e.code, 0, e.stderr.slice(-2000));
    assert.ok((await countPoints(influxd, 'sec')) > 0, 'the credentials were actually used for a load');
    assert.ok(p.logs().some((l) => l.level === 20), 'debug logs were on');
    assertNoSecret('stdout', e.stdout);
    assertNoSecret('stderr', e.stderr);
    assertNoSecret('summary JSON', readFileSync(summary, 'utf8'));
    assertNoSecret('/metrics', metrics);
  });

  test('error paths: InfluxDB refusing the token (401), Prometheus unreachable with basic auth, credentials in URLs', async () => {
    // InfluxDB answers 401 (through the fault proxy in front of the real server).
    proxy.rule = () => ({ kind: 'status', status: 401, body: '{"error":"authorization failed"}' });
    try {
      const cfg = writeConfig('secret_401', `      url: ${prom.url}\n      auth: { bearer: "\${TOKEN}" }\n`, `      url: ${proxy.url}\n      db: sec\n      token: "\${TOKEN}"\n`);
      const summary = join(tmp, 'secret_401.json');
      const r = await runCli(['run', '--config', cfg, '--log-level', 'debug', '--summary-json', summary], { TOKEN });
      assert.equal(r.code, 1);
      assert.match(r.stdout, /PROMFLUX_SINK_AUTH/);
      assertNoSecret('stdout (401)', r.stdout);
      assertNoSecret('stderr (401)', r.stderr);
      assertNoSecret('summary (401)', readFileSync(summary, 'utf8'));
    } finally {
      proxy.rule = null;
    }

    // Prometheus unreachable, basic auth with the secret as password.
    const cfg2 = writeConfig(
      'secret_down',
      `      url: http://127.0.0.1:1
      auth: { basic: { username: promflux, password: "\${TOKEN}" } }
      retry: { attempts: 2, baseMs: 10, maxMs: 20 }
`,
      `      url: ${influxd.url}\n      db: sec\n      password: "\${TOKEN}"\n      username: u\n`,
    );
    const r2 = await runCli(['run', '--config', cfg2, '--log-level', 'debug', '--json'], { TOKEN });
    assert.equal(r2.code, 1);
    assertNoSecret('stdout (prometheus down)', r2.stdout);
    assertNoSecret('stderr (prometheus down)', r2.stderr);

    // Credentials written into the URLs themselves (userinfo): redacted wherever the URL is shown.
    const cfg3 = writeConfig(
      'secret_url',
      `      url: http://promflux:\${TOKEN}@127.0.0.1:${prom.port}\n`,
      `      url: http://promflux:\${TOKEN}@127.0.0.1:${influxd.port}\n      db: sec\n`,
    );
    const summary3 = join(tmp, 'secret_url.json');
    const r3 = await runCli(['run', '--config', cfg3, '--log-level', 'debug', '--summary-json', summary3], { TOKEN });
    assert.equal(r3.code, 0, r3.stderr.slice(-2000));
    assert.match(r3.stdout + r3.stderr, /promflux:\[redacted\]@127\.0\.0\.1/, 'the URLs were shown, with the password redacted');
    assertNoSecret('stdout (userinfo)', r3.stdout);
    assertNoSecret('stderr (userinfo)', r3.stderr);
    assertNoSecret('summary (userinfo)', readFileSync(summary3, 'utf8'));
  });
});

describe('redaction helpers', () => {
  const cfg = {
    source: {
      url: 'http://reader:url-password-1@prom:9090/prefix',
      auth: { basic: { username: 'promflux', password: 'basic-password-2' } },
      headers: { 'X-Api-Key': 'header-key-3', 'X-Scope-OrgID': 'team-a' },
    },
    sink: { url: 'http://influx:8086', token: 'influx-token-4', username: 'u', password: 'influx-password-5', db: 'metrics' },
    other: { auth: { bearer: 'bearer-token-6' } },
  };

  test('collectSecrets finds every secret value, and nothing else', () => {
    assert.deepEqual(collectSecrets(cfg).sort(), ['basic-password-2', 'bearer-token-6', 'header-key-3', 'influx-password-5', 'influx-token-4', 'url-password-1']);
  });

  test('redactConfig keeps the shape and the user names', () => {
    const r = redactConfig(cfg);
    assert.equal(r.source.url, 'http://reader:[redacted]@prom:9090/prefix');
    assert.deepEqual(r.source.auth, { basic: { username: 'promflux', password: '[redacted]' } });
    assert.deepEqual(r.source.headers, { 'X-Api-Key': '[redacted]', 'X-Scope-OrgID': 'team-a' });
    assert.deepEqual(r.sink, { url: 'http://influx:8086', token: '[redacted]', username: 'u', password: '[redacted]', db: 'metrics' });
    assert.deepEqual(r.other, { auth: { bearer: '[redacted]' } });
    assert.equal(cfg.sink.token, 'influx-token-4', 'the original is untouched');
  });

  test('secretScrubber replaces raw, JSON-escaped and URL-encoded forms, and URL passwords', () => {
    const scrub = secretScrubber(['p@ss "w0rd"\\x', 'influx-token-4']);
    assert.equal(scrub('Authorization: Token influx-token-4 refused'), 'Authorization: Token [redacted] refused');
    assert.equal(scrub(JSON.stringify({ m: 'bad p@ss "w0rd"\\x' })), '{"m":"bad [redacted]"}');
    assert.equal(scrub(`q=${encodeURIComponent('p@ss "w0rd"\\x')}`), 'q=[redacted]');
    assert.equal(scrub('GET https://admin:hunter2@host/x failed'), 'GET https://admin:[redacted]@host/x failed');
    assert.equal(scrub('an e-mail a@b.c stays'), 'an e-mail a@b.c stays');
  });
});

describe('TLS verification', () => {
  let promTls: TlsProxy;
  let influxTls: TlsProxy;
  before(async () => {
    [promTls, influxTls] = await Promise.all([startTlsProxy(prom.url), startTlsProxy(influxd.url)]);
  });
  after(async () => {
    await Promise.allSettled([promTls?.close(), influxTls?.close()]);
  });

  test('Prometheus over HTTPS with a self-signed certificate: refused by default, accepted with its CA', async () => {
    const sink = `      url: ${influxd.url}\n      db: tls\n`;
    const bad = await runCli(['run', '--config', writeConfig('tls_prom_default', `      url: ${promTls.url}\n      retry: { attempts: 1 }\n`, sink), '--json']);
    assert.equal(bad.code, 1);
    assert.match(JSON.parse(bad.stdout).error.message, /self[- ]signed|certificate/i);
    assert.equal(promTls.requests, 0, 'no request got past the handshake');
    const good = await runCli(['run', '--config', writeConfig('tls_prom_ca', `      url: ${promTls.url}\n      tls: { ca: ${promTls.caFile} }\n`, sink), '--json']);
    assert.equal(good.code, 0, good.stderr.slice(-2000));
    assert.ok(promTls.requests > 0);
    assert.equal(JSON.parse(good.stdout).samplesIn, 3 * 240);
  });

  test('InfluxDB over HTTPS with a self-signed certificate: refused by default, accepted with its CA', async () => {
    const source = `      url: ${prom.url}\n`;
    const bad = await runCli(['run', '--config', writeConfig('tls_influx_default', source, `      url: ${influxTls.url}\n      db: tls\n      retry: { maxOutageMs: 2000, baseMs: 100, maxMs: 200 }\n`), '--json']);
    assert.equal(bad.code, 1);
    assert.match(bad.stdout + bad.stderr, /self[- ]signed|certificate/i);
    assert.equal(influxTls.requests, 0, 'no request got past the handshake');
    const good = await runCli(['run', '--config', writeConfig('tls_influx_ca', source, `      url: ${influxTls.url}\n      db: tls\n      tls: { ca: ${influxTls.caFile} }\n`), '--json']);
    assert.equal(good.code, 0, good.stderr.slice(-2000));
    assert.ok(influxTls.requests > 0);
    assert.equal(JSON.parse(good.stdout).linesOut, 3 * 240);
  });
});
