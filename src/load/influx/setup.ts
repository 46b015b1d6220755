/**
 * `promflux setup`: make the write target exist, idempotently.
 *  - 1.x: CREATE DATABASE, then each configured retention policy is created, or ALTERed when its
 *    duration, replication, shard duration or default flag differ. Running it twice changes nothing.
 *  - 2.x: look up the org, create the bucket with its retention rule, or PATCH the rule if it differs.
 */
import type { Logger } from 'pino';
import { ConfigError, SinkError } from '../../errors.js';
import { AdminClient, ident } from './admin.js';
import type { InfluxSinkConfig } from './config.js';
import { durationSeconds, goDurationSeconds, influxqlDuration } from './duration.js';

export interface SetupReport {
  /** Human-readable actions, e.g. `created database "metrics"`, `altered retention policy "hot"`. */
  actions: string[];
  created: string[];
  altered: string[];
  unchanged: string[];
}

export async function setupInflux(cfg: InfluxSinkConfig, logger: Logger): Promise<SetupReport> {
  const admin = new AdminClient(cfg);
  const report: SetupReport = { actions: [], created: [], altered: [], unchanged: [] };
  const note = (kind: 'created' | 'altered' | 'unchanged', what: string): void => {
    report[kind].push(what);
    report.actions.push(`${kind} ${what}`);
    logger.info(`setup: ${kind} ${what}`);
  };
  try {
    if (cfg.version === 1) await setupV1(cfg, admin, note);
    else await setupV2(cfg, admin, note);
  } finally {
    await admin.close();
  }
  return report;
}

type Note = (kind: 'created' | 'altered' | 'unchanged', what: string) => void;

async function setupV1(cfg: InfluxSinkConfig, admin: AdminClient, note: Note): Promise<void> {
  const db = cfg.setup.database ?? cfg.db;
  if (!db) throw new ConfigError('setup needs a database: set sink.db or sink.setup.database', { key: 'sink.setup.database' });
  const rps = cfg.setup.retentionPolicies;
  if (rps.filter((r) => r.default).length > 1) {
    throw new ConfigError('at most one retention policy can be the default', { key: 'sink.setup.retentionPolicies' });
  }
  const dbs = await admin.influxql('SHOW DATABASES');
  const exists = (dbs[0]?.series?.[0]?.values ?? []).some((v) => v[0] === db);
  // CREATE DATABASE is itself idempotent on 1.x; checking first makes the report truthful.
  if (!exists) {
    await admin.influxql(`CREATE DATABASE ${ident(db)}`);
    note('created', `database "${db}"`);
  } else note('unchanged', `database "${db}"`);

  const res = await admin.influxql(`SHOW RETENTION POLICIES ON ${ident(db)}`);
  const s = res[0]?.series?.[0];
  const current = new Map<string, { duration: number; shard: number; replication: number; isDefault: boolean }>();
  if (s) {
    const col = (n: string) => s.columns.indexOf(n);
    for (const v of s.values) {
      current.set(String(v[col('name')]), {
        duration: goDurationSeconds(String(v[col('duration')])),
        shard: goDurationSeconds(String(v[col('shardGroupDuration')])),
        replication: Number(v[col('replicaN')]),
        isDefault: v[col('default')] === true,
      });
    }
  }
  for (const rp of rps) {
    const dur = durationSeconds(rp.duration);
    const shard = rp.shardDuration ? durationSeconds(rp.shardDuration) : null;
    const clauses =
      `DURATION ${influxqlDuration(dur)} REPLICATION ${rp.replication}` +
      (shard !== null ? ` SHARD DURATION ${influxqlDuration(shard)}` : '') +
      (rp.default ? ' DEFAULT' : '');
    const have = current.get(rp.name);
    const what = `retention policy "${rp.name}" on "${db}" (${rp.duration}${rp.default ? ', default' : ''})`;
    if (!have) {
      await admin.influxql(`CREATE RETENTION POLICY ${ident(rp.name)} ON ${ident(db)} ${clauses}`);
      note('created', what);
      continue;
    }
    const differs =
      have.duration !== dur ||
      have.replication !== rp.replication ||
      (shard !== null && have.shard !== shard) ||
      (rp.default && !have.isDefault);
    if (differs) {
      await admin.influxql(`ALTER RETENTION POLICY ${ident(rp.name)} ON ${ident(db)} ${clauses}`);
      note('altered', what);
    } else note('unchanged', what);
  }
  if (cfg.rp && !current.has(cfg.rp) && !rps.some((r) => r.name === cfg.rp)) {
    throw new SinkError(
      'PROMFLUX_SINK_SETUP',
      `sink.rp is "${cfg.rp}" but no such retention policy exists on "${db}" and none is configured; add it to sink.setup.retentionPolicies.`,
    );
  }
}

interface V2Bucket {
  id: string;
  name: string;
  retentionRules?: Array<{ type: string; everySeconds: number }>;
}

async function setupV2(cfg: InfluxSinkConfig, admin: AdminClient, note: Note): Promise<void> {
  if (!cfg.org) throw new ConfigError('setup on the v2 API needs sink.org (the organization that owns the bucket)', { key: 'sink.org' });
  const bucket = cfg.bucket!;
  const orgs = await admin.json<{ orgs?: Array<{ id: string; name: string }> }>('GET', `/api/v2/orgs?org=${encodeURIComponent(cfg.org)}`);
  if (orgs.status >= 300 && orgs.status !== 404) throw admin.httpError('looking up the organization', orgs.status, orgs.text);
  const org = orgs.data?.orgs?.find((o) => o.name === cfg.org);
  if (!org) {
    throw new SinkError('PROMFLUX_SINK_SETUP', `organization "${cfg.org}" not found at ${cfg.url}; create it in InfluxDB (influx org create) or fix sink.org.`);
  }
  const every = cfg.setup.bucketRetention ? durationSeconds(cfg.setup.bucketRetention) : 0;
  const rules = every > 0 ? [{ type: 'expire', everySeconds: every }] : [];
  const found = await admin.json<{ buckets?: V2Bucket[] }>(
    'GET',
    `/api/v2/buckets?orgID=${encodeURIComponent(org.id)}&name=${encodeURIComponent(bucket)}`,
  );
  if (found.status >= 300 && found.status !== 404) throw admin.httpError('looking up the bucket', found.status, found.text);
  const have = found.data?.buckets?.find((b) => b.name === bucket);
  const what = `bucket "${bucket}" in org "${cfg.org}" (retention ${every > 0 ? cfg.setup.bucketRetention : 'infinite'})`;
  if (!have) {
    const body: Record<string, unknown> = { orgID: org.id, name: bucket, retentionRules: rules };
    if (cfg.setup.bucketDescription) body.description = cfg.setup.bucketDescription;
    const r = await admin.json('POST', '/api/v2/buckets', body);
    if (r.status !== 201 && r.status !== 200) throw admin.httpError('creating the bucket', r.status, r.text);
    note('created', what);
    return;
  }
  const haveEvery = have.retentionRules?.find((x) => x.type === 'expire')?.everySeconds ?? 0;
  if (haveEvery !== every) {
    const r = await admin.json('PATCH', `/api/v2/buckets/${encodeURIComponent(have.id)}`, { retentionRules: rules });
    if (r.status >= 300) throw admin.httpError('updating the bucket retention', r.status, r.text);
    note('altered', what);
  } else note('unchanged', what);
}
