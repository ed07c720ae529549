/**
 * Streaming checkpoint conversion (Node): `.pth` or PyTorch-exported
 * `.safetensors` in, TarFlow safetensors out.
 *
 * Memory stays bounded by the largest single tensor, not the checkpoint: the
 * input is read with positioned reads (zip directory, the pickle, then each
 * tensor's bytes in chunks), and the output is written header first, then
 * tensor by tensor, to a temporary file that is fsynced and renamed over the
 * target only when complete.
 */
import { open, readFile, type FileHandle } from 'node:fs/promises';
import { basename } from 'node:path';
import { inflateRawSync } from 'node:zlib';
import { inferConfig, type TarFlowConfigJson } from './config.js';
import { crc32 } from './crc32.js';
import { DTYPE_SIZE } from './dtype.js';
import { CheckpointError } from './errors.js';
import { sniffFormat, storedConfig, tarflowMetadata, type ImportOptions, type ImportReport } from './import.js';
import {
  checkCrc,
  gather,
  inflateEntry,
  readPth,
  readPthIndex,
  storageSpan,
  stripPrefixes,
  swapBytes,
  type PthCheckpoint,
  type PthIndex,
  type PthReadOptions,
  type TensorRef,
} from './pth.js';
import { layoutSafetensors, parseSafetensorsHeader, readHeaderLength } from './safetensors.js';
import { withAtomicFile, writeAll } from './fsutil.js';
import { runAsync, type ZipEntry } from './zip.js';

export interface ConvertOptions extends Omit<ImportOptions, 'overrides' | 'inflate'> {
  /** Bytes read and written at a time (default 16 MiB). */
  chunkBytes?: number;
}

export interface ConvertResult extends ImportReport {
  /** Size of the written file in bytes. */
  bytes: number;
}

const DEFAULT_CHUNK = 16 * 1024 * 1024;

/** Inflates raw deflate data with node:zlib, refusing output beyond `size` bytes. */
export function zlibInflate(compressed: Uint8Array, size: number): Uint8Array {
  return new Uint8Array(inflateRawSync(compressed, { maxOutputLength: Math.max(size, 1) }));
}

/** A positioned reader over an open file that fails on short reads. */
function reader(fh: FileHandle, size: number): (offset: number, length: number) => Promise<Uint8Array> {
  return async (offset, length) => {
    if (offset + length > size) throw new CheckpointError(`read of bytes ${offset}..${offset + length} is past the end of the ${size}-byte file`);
    const buf = new Uint8Array(length);
    let done = 0;
    while (done < length) {
      const { bytesRead } = await fh.read(buf, done, length - done, offset + done);
      if (bytesRead === 0) throw new CheckpointError(`unexpected end of file at byte ${offset + done} (was it truncated while reading?)`);
      done += bytesRead;
    }
    return buf;
  };
}

/** Reads a PyTorch checkpoint file into memory (see readPth). */
export async function readPthFile(path: string, options: PthReadOptions = {}): Promise<PthCheckpoint> {
  return readPth(new Uint8Array(await readFile(path)), { inflate: zlibInflate, ...options });
}

/**
 * Converts a PyTorch checkpoint (`.pth`, zip format) or a safetensors file
 * exported from PyTorch into a TarFlow safetensors file at `outPath`, with
 * the config (inferred from shapes, the file name and `overrides`) in its
 * metadata. Streams; the output appears atomically or not at all.
 */
export async function convertCheckpoint(
  inPath: string,
  outPath: string,
  overrides: Partial<TarFlowConfigJson> = {},
  options: ConvertOptions = {},
): Promise<ConvertResult> {
  const chunk = Math.max(8, Math.floor((options.chunkBytes ?? DEFAULT_CHUNK) / 8) * 8);
  const fh = await open(inPath, 'r');
  try {
    const size = (await fh.stat()).size;
    const read = reader(fh, size);
    const format = sniffFormat(await read(0, Math.min(size, 16)));
    const fileName = options.fileName ?? basename(inPath);
    if (format === 'pth') {
      const index = await runAsync(readPthIndex(size, { ...options, inflate: zlibInflate }), read);
      const specs = index.tensors.map(([name, ref]) => ({ name, dtype: ref.dtype, shape: [...ref.shape] }));
      const inferred = inferConfig(new Map(specs.map((s) => [s.name, s])), { overrides, fileName });
      const layout = layoutSafetensors(specs, tarflowMetadata(inferred.config));
      const refs = new Map(index.tensors);
      const copier = new StorageCopier(index, read, chunk, options.verifyCrc !== false);
      await withAtomicFile(outPath, async (out) => {
        await writeAll(out, layout.header);
        for (const e of layout.entries) await copier.write(refs.get(e.name)!, out);
        await copier.finish();
      });
      return {
        format,
        ...inferred,
        tensors: specs.length,
        source: index.source,
        strippedPrefixes: index.strippedPrefixes,
        skipped: index.skipped,
        bytes: layout.fileSize,
      };
    }

    const n = readHeaderLength(await read(0, 8), size);
    const header = parseSafetensorsHeader(await read(0, 8 + n), size);
    const names = header.entries.map((e) => e.name);
    const renamed = options.stripPrefixes === false ? { names, prefixes: [] } : stripPrefixes(names);
    const specs = header.entries.map((e, i) => ({ ...e, name: renamed.names[i] }));
    if (specs.length === 0) throw new CheckpointError('safetensors: the checkpoint holds no tensors');
    const inferred = inferConfig(new Map(specs.map((s) => [s.name, s])), {
      overrides,
      fileName,
      metadataConfig: storedConfig(header.metadata),
    });
    const layout = layoutSafetensors(specs, tarflowMetadata(inferred.config));
    const byName = new Map(specs.map((s) => [s.name, s]));
    await withAtomicFile(outPath, async (out) => {
      await writeAll(out, layout.header);
      for (const e of layout.entries) {
        const src = byName.get(e.name)!;
        for (let at = src.begin; at < src.end; at += chunk) {
          await writeAll(out, await read(header.dataStart + at, Math.min(chunk, src.end - at)));
        }
      }
    });
    return {
      format,
      ...inferred,
      tensors: specs.length,
      source: [],
      strippedPrefixes: renamed.prefixes,
      skipped: [],
      bytes: layout.fileSize,
    };
  } finally {
    await fh.close();
  }
}

/**
 * Copies tensors out of a checkpoint's storages into the output, verifying
 * each storage's CRC-32 once: inline when a tensor spans its whole storage
 * (the usual case), otherwise by a separate pass over the storage.
 */
class StorageCopier {
  private readonly verified = new Set<string>();
  /** The last inflated storage (deflated archives only), reused by consecutive views of it. */
  private inflated: { key: string; bytes: Uint8Array } | undefined;

  constructor(
    private readonly index: PthIndex,
    private readonly read: (offset: number, length: number) => Promise<Uint8Array>,
    private readonly chunk: number,
    private readonly verify: boolean,
  ) {}

  async write(ref: TensorRef, out: FileHandle): Promise<void> {
    const { entry, dataOffset } = this.index.storageEntries.get(ref.storage.key)!;
    const size = DTYPE_SIZE[ref.dtype];
    const big = this.index.byteOrder === 'big';
    if (entry.method !== 0) {
      const bytes = await this.inflate(ref.storage.key, entry, dataOffset);
      const data = gather(ref, bytes);
      if (big) swapBytes(data, size);
      await writeAll(out, data);
      return;
    }
    const length = ref.numel * size;
    if (length === 0) return;
    if (ref.contiguous) {
      const start = ref.offset * size;
      const whole = start === 0 && length === entry.uncompressedSize && this.verify && !this.verified.has(entry.name);
      let crc = 0;
      for (let at = 0; at < length; at += this.chunk) {
        const piece = await this.read(dataOffset + start + at, Math.min(this.chunk, length - at));
        if (whole) crc = crc32(piece, crc);
        if (big) swapBytes(piece, size);
        await writeAll(out, piece);
      }
      if (whole) {
        checkCrc(entry, crc);
        this.verified.add(entry.name);
      }
    } else {
      const { first, last } = storageSpan(ref);
      const bytes = await this.read(dataOffset + first * size, (last - first + 1) * size);
      const data = gather(ref, bytes, first);
      if (big) swapBytes(data, size);
      await writeAll(out, data);
    }
    await this.verifyEntry(entry, dataOffset);
  }

  /** Checks the CRC of every storage used but not yet verified. */
  async finish(): Promise<void> {
    for (const { entry, dataOffset } of this.index.storageEntries.values()) await this.verifyEntry(entry, dataOffset);
  }

  private async verifyEntry(entry: ZipEntry, dataOffset: number): Promise<void> {
    if (!this.verify || this.verified.has(entry.name) || entry.method !== 0) return;
    let crc = 0;
    for (let at = 0; at < entry.compressedSize; at += this.chunk) {
      crc = crc32(await this.read(dataOffset + at, Math.min(this.chunk, entry.compressedSize - at)), crc);
    }
    checkCrc(entry, crc);
    this.verified.add(entry.name);
  }

  private async inflate(key: string, entry: ZipEntry, dataOffset: number): Promise<Uint8Array> {
    if (this.inflated?.key === key) return this.inflated.bytes;
    const bytes = inflateEntry(entry, await this.read(dataOffset, entry.compressedSize), zlibInflate);
    if (this.verify) checkCrc(entry, crc32(bytes));
    this.inflated = { key, bytes };
    return bytes;
  }
}
