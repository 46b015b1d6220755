/** The `prometheus` source's descriptor (src/config/component.ts). */
import { join } from 'node:path';
import { defineSource } from '../../config/component.js';
import { prometheusSourceSchema } from './config.js';
import { createPrometheusSource } from './source.js';
import { FileWatermarkStore } from './watermarks.js';

export const prometheusSource = defineSource({
  kind: 'prometheus',
  schema: prometheusSourceSchema,
  create: (cfg, deps) => {
    // Incremental/stream watermarks live beside the checkpoints unless the source names a file.
    const watermarks = !cfg.watermarkFile && deps.stateDir && deps.pipeline ? new FileWatermarkStore(join(deps.stateDir, `${deps.pipeline}.watermarks`)) : undefined;
    return createPrometheusSource(cfg, { logger: deps.logger, ...(deps.registry ? { metrics: deps.registry } : {}), ...(watermarks ? { watermarks } : {}) });
  },
  docs: 'Prometheus HTTP API (range, raw range-vector, remote read): modes, planner, limits; docs/EXTRACT.md',
});
