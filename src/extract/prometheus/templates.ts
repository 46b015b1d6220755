/**
 * Query templates: built-in families for a typical monitoring setup plus user-defined templates.
 * A template is PromQL with `${var}` placeholders; each template declares defaults for its vars.
 * Family members are plain selectors (they work in every extraction mode, raw ones included);
 * the derived templates (rates, quantiles) are for `extraction: range` only.
 */

export interface QueryTemplate {
  expr: string;
  defaults?: Record<string, string>;
  description?: string;
}

const SEL = { selector: '' };
const RATE = { selector: '', window: '5m', by: 'job' };

/** Built-in templates, named `<family>.<name>`. */
export const BUILTIN_TEMPLATES: Readonly<Record<string, QueryTemplate>> = {
  'application.requests': { expr: 'application_requests_total{${selector}}', defaults: SEL, description: 'request counter' },
  'application.response_time': { expr: 'application_response_time_seconds{${selector}}', defaults: SEL, description: 'response time' },
  'application.request_rate': {
    expr: 'sum by (${by}) (rate(application_requests_total{${selector}}[${window}]))',
    defaults: RATE,
    description: 'requests per second',
  },
  'application.latency_quantile': {
    expr: 'histogram_quantile(${quantile}, sum by (le, ${by}) (rate(application_response_time_seconds_bucket{${selector}}[${window}])))',
    defaults: { ...RATE, quantile: '0.95' },
    description: 'response-time quantile from a histogram',
  },
  'kubernetes.pod_info': { expr: 'kube_pod_info{${selector}}', defaults: SEL, description: 'pod metadata (kube-state-metrics)' },
  'kubernetes.container_cpu': { expr: 'container_cpu_usage_seconds_total{${selector}}', defaults: SEL, description: 'container CPU counter (cAdvisor)' },
  'kubernetes.container_cpu_rate': {
    expr: 'sum by (namespace, pod) (rate(container_cpu_usage_seconds_total{${selector}}[${window}]))',
    defaults: RATE,
    description: 'container CPU cores used',
  },
  'system.cpu': { expr: 'node_cpu_seconds_total{${selector}}', defaults: SEL, description: 'node CPU counter (node_exporter)' },
  'system.memory_total': { expr: 'node_memory_MemTotal_bytes{${selector}}', defaults: SEL, description: 'node memory size' },
  'system.cpu_busy': {
    expr: '1 - avg by (instance) (rate(node_cpu_seconds_total{mode="idle",${selector}}[${window}]))',
    defaults: RATE,
    description: 'fraction of CPU busy per instance',
  },
  'custom.fault_injection': { expr: 'fault_injection_active{${selector}}', defaults: SEL, description: 'fault injection flag' },
  'custom.health_score': { expr: 'service_health_score{${selector}}', defaults: SEL, description: 'service health score' },
};

/** Families: `{ family: "system" }` in `queries` expands to these templates (all plain selectors). */
export const FAMILIES: Readonly<Record<string, readonly string[]>> = {
  application: ['application.requests', 'application.response_time'],
  kubernetes: ['kubernetes.pod_info', 'kubernetes.container_cpu'],
  system: ['system.cpu', 'system.memory_total'],
  custom: ['custom.fault_injection', 'custom.health_score'],
};

const VAR_RE = /\$\{([A-Za-z_][A-Za-z0-9_]*)\}/g;

/** Variables a template uses, in order of first appearance. */
export function templateVars(expr: string): string[] {
  const seen = new Set<string>();
  for (const m of expr.matchAll(VAR_RE)) seen.add(m[1]!);
  return [...seen];
}

/** Substitute `${var}`; throws naming the missing variables. */
export function expandTemplate(name: string, t: QueryTemplate, vars: Readonly<Record<string, string>> = {}): string {
  const all: Record<string, string> = { ...t.defaults, ...vars };
  const missing = templateVars(t.expr).filter((v) => !(v in all));
  if (missing.length > 0) {
    throw new Error(`template "${name}" needs variable(s) ${missing.map((m) => `"${m}"`).join(', ')} (set them in "vars")`);
  }
  const unknown = Object.keys(vars).filter((v) => !templateVars(t.expr).includes(v));
  if (unknown.length > 0) {
    throw new Error(`template "${name}" has no variable(s) ${unknown.map((m) => `"${m}"`).join(', ')}; it uses: ${templateVars(t.expr).join(', ') || 'none'}`);
  }
  return t.expr.replace(VAR_RE, (_, v: string) => all[v]!);
}
