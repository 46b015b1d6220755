/**
 * Dead-letter file: rejected lines, kept as replayable line protocol. Each rejected line is
 * preceded by one comment line (InfluxDB's parser skips lines starting with '#'):
 *
 *   # promflux-dead-letter time=2024-05-01T10:00:00.000Z reason=invalid_line status=400 batch=12 chunk=c-0012: unable to parse: missing fields
 *   cpu,host=a value= 1714557600000
 *
 * The original bytes are written untouched (never decoded and re-encoded). Appends are serialized
 * and fsync'ed before the lines are reported as dead-lettered, so "counted" means "on disk".
 * See docs/LOAD.md for replaying.
 */
import { mkdir, open, type FileHandle } from 'node:fs/promises';
import { dirname } from 'node:path';
import { SinkError } from '../../errors.js';

export interface DeadLetterEntry {
  line: Uint8Array;
  reason: string;
  status: number;
  message: string;
}

export interface DeadLetterContext {
  batchId: number;
  chunkId: string;
}

const NL = new Uint8Array([0x0a]);

export class DeadLetterFile {
  private fh: FileHandle | null = null;
  private chain: Promise<void> = Promise.resolve();
  /** Lines appended since open. */
  lines = 0;

  constructor(readonly path: string) {}

  /** Append entries; resolves once they are durable. */
  append(entries: readonly DeadLetterEntry[], ctx: DeadLetterContext): Promise<void> {
    const run = async (): Promise<void> => {
      try {
        if (!this.fh) {
          await mkdir(dirname(this.path), { recursive: true });
          this.fh = await open(this.path, 'a');
        }
        const time = new Date().toISOString();
        const parts: Uint8Array[] = [];
        for (const e of entries) {
          const head =
            `# promflux-dead-letter time=${time} reason=${e.reason} status=${e.status} batch=${ctx.batchId} ` +
            `chunk=${ctx.chunkId.replace(/\s/g, '_')}: ${e.message.replace(/[\r\n]+/g, ' ')}\n`;
          parts.push(Buffer.from(head, 'utf8'), e.line, NL);
        }
        await this.fh.writev(parts);
        await this.fh.datasync();
        this.lines += entries.length;
      } catch (err) {
        throw new SinkError(
          'PROMFLUX_SINK_DEAD_LETTER',
          `cannot append ${entries.length} rejected line(s) to the dead-letter file ${this.path}: ${(err as Error).message}. ` +
            `Check the path (sink.deadLetter) is writable; the run stops rather than lose lines.`,
          { cause: err },
        );
      }
    };
    const p = this.chain.then(run);
    this.chain = p.catch(() => {});
    return p;
  }

  async close(): Promise<void> {
    await this.chain;
    const fh = this.fh;
    this.fh = null;
    await fh?.close();
  }
}
