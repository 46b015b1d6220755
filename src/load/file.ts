/**
 * Line-protocol file sink, optionally gzip-compressed (zlib runs in libuv's thread pool). Writes are
 * serialized in arrival order; `write` resolves when the bytes are handed to the OS, so a slow disk
 * slows the source.
 */
import { createWriteStream, mkdirSync, type WriteStream } from 'node:fs';
import { dirname } from 'node:path';
import { createGzip, type Gzip } from 'node:zlib';
import { once } from 'node:events';
import { SinkError } from '../errors.js';
import type { EncodedBatch, Sink, SinkWriteResult } from './sink.js';

export class FileSink implements Sink {
  readonly kind = 'file';
  readonly needs = { lineProtocol: true, columns: false };
  private out: WriteStream | undefined;
  private gz: Gzip | undefined;
  private bytes = 0;
  private closed = false;

  constructor(readonly path: string, private readonly gzip = path.endsWith('.gz')) {}

  async open(): Promise<void> {
    mkdirSync(dirname(this.path), { recursive: true });
    this.out = createWriteStream(this.path);
    await once(this.out, 'open');
    if (this.gzip) {
      this.gz = createGzip({ level: 6 });
      this.gz.pipe(this.out);
    }
  }

  async write(batch: EncodedBatch): Promise<SinkWriteResult> {
    if (!batch.lp || batch.lp.byteLength === 0) return { written: batch.lines };
    const target = this.gz ?? this.out;
    if (!target) throw new SinkError('PROMFLUX_SINK_NOT_OPEN', `file sink ${this.path}: write before open`);
    this.bytes += batch.lp.byteLength;
    // Resolve only once the bytes are consumed: the dispatcher recycles the buffer afterwards.
    await new Promise<void>((resolve, reject) => {
      target.write(batch.lp, (err) => (err ? reject(err) : resolve()));
    });
    return { written: batch.lines };
  }

  async close(): Promise<void> {
    if (this.closed || !this.out) return;
    this.closed = true;
    const finished = once(this.out, 'close');
    if (this.gz) this.gz.end();
    else this.out.end();
    await finished;
  }

  stats(): Record<string, unknown> {
    return { path: this.path, bytes: this.bytes, gzip: this.gzip };
  }
}
