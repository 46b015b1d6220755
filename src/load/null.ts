/** The null sink: accepts everything, keeps nothing (benchmarks measure the engine alone). */
import type { EncodedBatch, Sink, SinkWriteResult } from './sink.js';

export class NullSink implements Sink {
  readonly kind = 'null';
  readonly needs = { lineProtocol: true, columns: false };
  readonly resume = 'idempotent' as const;
  private bytes = 0;
  async open(): Promise<void> {}
  async write(batch: EncodedBatch): Promise<SinkWriteResult> {
    this.bytes += batch.lp?.byteLength ?? 0;
    return { written: batch.lines };
  }
  async close(): Promise<void> {}
  stats(): Record<string, unknown> {
    return { bytes: this.bytes };
  }
}
