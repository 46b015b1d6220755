/** A sink that keeps the line protocol it is given, for comparing runs line for line (sorted). */
import type { EncodedBatch, Sink, SinkWriteResult } from '../../src/index.js';

export class CollectSink implements Sink {
  readonly kind = 'collect';
  readonly needs = { lineProtocol: true, columns: false };
  chunks: string[] = [];
  async open(): Promise<void> {}
  async write(b: EncodedBatch): Promise<SinkWriteResult> {
    this.chunks.push(new TextDecoder().decode(b.lp!));
    return { written: b.lines };
  }
  async close(): Promise<void> {}
  sorted(): string[] {
    return this.chunks.join('').split('\n').filter(Boolean).sort();
  }
}
