/**
 * Watermarks: per query, the exclusive end of the contiguous time range fully loaded into the
 * sink. Incremental and stream modes resume from it. The file store writes msgpack to a temp file,
 * fsyncs it and renames it over the old one, so a crash leaves either the old or the new state.
 */
import { mkdirSync, readFileSync } from 'node:fs';
import { open, rename } from 'node:fs/promises';
import { dirname } from 'node:path';
import { lazyRequire } from '../../util/lazy.js';
import { SourceError } from '../../errors.js';

// msgpackr (and its probe for the native addon) on first save or load only (issue #18, start-up).
const msgpackr = lazyRequire<typeof import('msgpackr')>('msgpackr');
const pack: typeof import('msgpackr').pack = (value) => msgpackr().pack(value);
const unpack: typeof import('msgpackr').unpack = (bytes) => msgpackr().unpack(bytes);

export interface WatermarkStore {
  get(query: string): number | undefined;
  set(query: string, ms: number): void;
  flush(): Promise<void>;
}

export class MemoryWatermarkStore implements WatermarkStore {
  readonly marks = new Map<string, number>();
  get(q: string): number | undefined {
    return this.marks.get(q);
  }
  set(q: string, ms: number): void {
    this.marks.set(q, ms);
  }
  async flush(): Promise<void> {}
}

interface FileFormat {
  version: 1;
  marks: Record<string, number>;
}

export class FileWatermarkStore implements WatermarkStore {
  private marks: Record<string, number> = {};
  private dirty = false;
  private writing: Promise<void> = Promise.resolve();

  constructor(readonly path: string) {
    let raw: Buffer | undefined;
    try {
      raw = readFileSync(path);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'ENOENT') {
        throw new SourceError('PROMFLUX_WATERMARK_READ', `cannot read watermark file ${path}: ${(err as Error).message}`, { cause: err });
      }
    }
    if (raw) {
      let doc: FileFormat;
      try {
        doc = unpack(raw) as FileFormat;
      } catch (err) {
        throw new SourceError(
          'PROMFLUX_WATERMARK_READ',
          `watermark file ${path} is corrupt (${(err as Error).message}); delete it to restart from the configured start`,
          { cause: err },
        );
      }
      if (!doc || doc.version !== 1 || typeof doc.marks !== 'object') {
        throw new SourceError('PROMFLUX_WATERMARK_READ', `watermark file ${path} has an unknown format; delete it to restart from the configured start`);
      }
      this.marks = { ...doc.marks };
    }
  }

  get(q: string): number | undefined {
    return this.marks[q];
  }

  set(q: string, ms: number): void {
    if (this.marks[q] === ms) return;
    this.marks[q] = ms;
    this.dirty = true;
  }

  /** Persist if changed. Calls are serialized; concurrent callers share the write. */
  flush(): Promise<void> {
    this.writing = this.writing.catch(() => undefined).then(async () => {
      if (!this.dirty) return;
      this.dirty = false;
      try {
        await this.write();
      } catch (err) {
        this.dirty = true;
        throw new SourceError('PROMFLUX_WATERMARK_WRITE', `cannot write watermark file ${this.path}: ${(err as Error).message}`, { cause: err });
      }
    });
    return this.writing;
  }

  private async write(): Promise<void> {
    const data = pack({ version: 1, marks: this.marks } satisfies FileFormat);
    mkdirSync(dirname(this.path), { recursive: true });
    const tmp = `${this.path}.${process.pid}.tmp`;
    const fh = await open(tmp, 'w');
    try {
      await fh.writeFile(data);
      await fh.sync();
    } finally {
      await fh.close();
    }
    await rename(tmp, this.path);
  }
}
