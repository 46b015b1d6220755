/** The `prometheus-tsdb` source's descriptor (src/config/component.ts): snapshot / data-dir blocks read in the workers. */
import { defineSource } from '../../config/component.js';
import { tsdbSourceSchema } from './config.js';
import { createTsdbSource } from './source.js';

export const tsdbSource = defineSource({
  kind: 'prometheus-tsdb',
  schema: tsdbSourceSchema,
  create: (cfg, deps) => createTsdbSource(cfg, { logger: deps.logger }),
  docs: 'Prometheus TSDB blocks (a snapshot or a copy of the data directory) read directly by the workers; docs/EXTRACT.md',
});
