/**
 * Loading configuration: YAML with line positions, `${ENV_VAR}` substitution (secrets stay out of
 * files), zod validation. Every error names the file, the line and the key.
 */
import { readFileSync } from 'node:fs';
import { LineCounter, isMap, isScalar, isSeq, parseDocument, type Document, type Node } from 'yaml';
import type { z } from 'zod';
import { ConfigError } from '../errors.js';
import { formatIssue } from './format.js';
import { configSchema, pipelineSchema, type PipelineConfig, type PromfluxConfig } from './schema.js';

const ENV_RE = /\$\{([A-Za-z_][A-Za-z0-9_]*)(?::-([^}]*))?\}/g;

export interface LoadedConfig {
  config: PromfluxConfig;
  file: string;
}

/** Read, substitute and validate a YAML config file. Throws ConfigError. */
export function loadConfigFile(file: string, env: NodeJS.ProcessEnv = process.env): LoadedConfig {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    throw new ConfigError(code === 'ENOENT' ? 'file not found' : `cannot read: ${(err as Error).message}`, { file });
  }
  return { config: parseConfigText(text, file, env), file };
}

export function parseConfigText(text: string, file = '<config>', env: NodeJS.ProcessEnv = process.env): PromfluxConfig {
  const lc = new LineCounter();
  const doc = parseDocument(text, { lineCounter: lc, prettyErrors: false });
  if (doc.errors.length > 0) {
    const e = doc.errors[0]!;
    const pos = lc.linePos(e.pos[0]);
    throw new ConfigError(`YAML syntax error: ${e.message.split('\n')[0]}`, { file, line: pos.line, column: pos.col });
  }
  substituteEnv(doc, doc.contents as Node | null, [], lc, file, env);
  const data = doc.toJS() as unknown;
  return validate(configSchema, data, { file, doc, lc });
}

/** Validate a pipeline object given through the library API (no file/line, key paths only). */
export function validatePipeline(obj: unknown): PipelineConfig {
  return validate(pipelineSchema, obj, {});
}

function substituteEnv(doc: Document, node: Node | null, path: (string | number)[], lc: LineCounter, file: string, env: NodeJS.ProcessEnv): void {
  if (!node) return;
  if (isMap(node)) {
    for (const pair of node.items) {
      const k = isScalar(pair.key) ? String(pair.key.value) : String(pair.key);
      substituteEnv(doc, pair.value as Node | null, [...path, k], lc, file, env);
    }
  } else if (isSeq(node)) {
    node.items.forEach((item, i) => substituteEnv(doc, item as Node | null, [...path, i], lc, file, env));
  } else if (isScalar(node) && typeof node.value === 'string' && node.value.includes('${')) {
    node.value = node.value.replace(ENV_RE, (_m, name: string, dflt: string | undefined) => {
      const v = env[name];
      if (v !== undefined) return v;
      if (dflt !== undefined) return dflt;
      const line = node.range ? lc.linePos(node.range[0]).line : undefined;
      throw new ConfigError(`environment variable ${name} is not set (referenced as \${${name}}); set it or use \${${name}:-default}`, {
        file,
        line,
        key: path.join('.'),
      });
    });
  }
}

interface Where {
  file?: string;
  doc?: Document;
  lc?: LineCounter;
}

function validate<T extends z.ZodType>(schema: T, data: unknown, where: Where): z.infer<T> {
  const r = schema.safeParse(data);
  if (r.success) return r.data;
  // A misspelt key is usually why a required one is "missing": report unknown keys first.
  // Expected type and received value named; unknown keys and options get a "did you mean" (format.ts).
  const { path, message } = formatIssue(schema, data, r.error.issues.find((i) => i.code === 'unrecognized_keys') ?? r.error.issues[0]!);
  const key = path.join('.');
  let line: number | undefined;
  if (where.doc && where.lc) {
    // Walk up the path until a node with a position exists (a missing key → its parent).
    for (let n = path.length; n >= 0 && line === undefined; n--) {
      const node = where.doc.getIn(path.slice(0, n), true) as Node | undefined;
      const keyNode = n > 0 ? findKeyNode(where.doc, path.slice(0, n)) : undefined;
      const range = keyNode?.range ?? node?.range;
      if (range) line = where.lc.linePos(range[0]).line;
    }
  }
  throw new ConfigError(message, { file: where.file, line, key: key || undefined });
}

function findKeyNode(doc: Document, path: (string | number)[]): Node | undefined {
  const parent = doc.getIn(path.slice(0, -1), true) as Node | undefined;
  const last = path[path.length - 1];
  if (parent && isMap(parent)) {
    for (const pair of parent.items) {
      if (isScalar(pair.key) && String(pair.key.value) === String(last)) return pair.key as Node;
    }
  }
  return undefined;
}

/** Pick a pipeline by name (default: the only one, or the first). */
export function selectPipeline(cfg: PromfluxConfig, name?: string, file?: string): PipelineConfig {
  if (!name) return cfg.pipelines[0]!;
  const p = cfg.pipelines.find((x) => x.name === name);
  if (!p) throw new ConfigError(`no pipeline named "${name}" (have: ${cfg.pipelines.map((x) => x.name).join(', ')})`, { file, key: 'pipelines' });
  return p;
}
