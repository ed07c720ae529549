/**
 * Streaming checkpoint conversion (Node): `.pth` or PyTorch-exported
 * `.safetensors` in, safetensors out, with the metadata the caller's
 * `metadata` callback gives (see ImportOptions).
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
import { crc32 } from './crc32.js';
import { DTYPE_SIZE } from './dtype.js';
import { CheckpointError } from './errors.js';
import { conversionMetadata, sniffFormat, type ImportOptions, type ImportReport } from './import.js';
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

export interface ConvertOptions extends Omit<ImportOptions, 'inflate'> {
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

/** Positioned reads from an open file of known size; short reads are errors. */
interface FileReader {
  /** Reads `length` bytes at `offset` into a new array. */
  read(offset: number, length: number): Promise<Uint8Array>;
  /** Fills `target` from `offset`, reusing the caller's buffer. */
  readInto(target: Uint8Array, offset: number): Promise<Uint8Array>;
}

function fileReader(fh: FileHandle, size: number): FileReader {
  const readInto = async (target: Uint8Array, offset: number): Promise<Uint8Array> => {
    const length = target.byteLength;
    if (offset + length > size) {
      throw new CheckpointError(`read of bytes ${offset}..${offset + length} is past the end of the ${size}-byte file`);
    }
    let done = 0;
    while (done < length) {
      const { bytesRead } = await fh.read(target, done, length - done, offset + done);
      if (bytesRead === 0) throw new CheckpointError(`unexpected end of file at byte ${offset + done} (was it truncated while reading?)`);
      done += bytesRead;
    }
    return target;
  };
  return { readInto, read: (offset, length) => readInto(new Uint8Array(length), offset) };
}

/** Copies `length` bytes at `offset` to `out` through `buffer`, passing each piece to `each` first. */
async function copyRange(
  file: FileReader,
  buffer: Uint8Array,
  offset: number,
  length: number,
  out: FileHandle | null,
  each?: (piece: Uint8Array) => void,
): Promise<void> {
  for (let at = 0; at < length; at += buffer.byteLength) {
    const piece = await file.readInto(buffer.subarray(0, Math.min(buffer.byteLength, length - at)), offset + at);
    each?.(piece);
    if (out) await writeAll(out, piece);
  }
}

/** Reads a PyTorch checkpoint file into memory (see readPth). */
export async function readPthFile(path: string, options: PthReadOptions = {}): Promise<PthCheckpoint> {
  return readPth(new Uint8Array(await readFile(path)), { inflate: zlibInflate, ...options });
}

/**
 * Converts a PyTorch checkpoint (`.pth`, zip format) or a safetensors file
 * exported from PyTorch into a safetensors file at `outPath`, with the
 * metadata `options.metadata` gives (by default the input's own). Streams;
 * the output appears atomically or not at all.
 */
export async function convertCheckpoint(inPath: string, outPath: string, options: ConvertOptions = {}): Promise<ConvertResult> {
  const chunk = Math.max(8, Math.floor((options.chunkBytes ?? DEFAULT_CHUNK) / 8) * 8);
  const fh = await open(inPath, 'r');
  try {
    const size = (await fh.stat()).size;
    const file = fileReader(fh, size);
    const buffer = new Uint8Array(chunk);
    const format = sniffFormat(await file.read(0, Math.min(size, 16)));
    const fileName = options.fileName ?? basename(inPath);
    if (format === 'pth') {
      const index = await runAsync(readPthIndex(size, { ...options, inflate: zlibInflate }), file.read);
      const specs = index.tensors.map(([name, ref]) => ({ name, dtype: ref.dtype, shape: [...ref.shape] }));
      const metadata = conversionMetadata({ format, tensors: new Map(specs.map((s) => [s.name, s])), metadata: {}, fileName }, options.metadata);
      const layout = layoutSafetensors(specs, metadata);
      const refs = new Map(index.tensors);
      const copier = new StorageCopier(index, file, buffer, options.verifyCrc !== false);
      await withAtomicFile(outPath, async (out) => {
        await writeAll(out, layout.header);
        for (const e of layout.entries) await copier.write(refs.get(e.name)!, out);
        await copier.finish();
      });
      return {
        format,
        metadata,
        tensors: specs.length,
        source: index.source,
        strippedPrefixes: index.strippedPrefixes,
        skipped: index.skipped,
        bytes: layout.fileSize,
      };
    }

    const n = readHeaderLength(await file.read(0, Math.min(size, 8)), size);
    const header = parseSafetensorsHeader(await file.read(0, 8 + n), size);
    const names = header.entries.map((e) => e.name);
    const renamed = options.stripPrefixes === false ? { names, prefixes: [] } : stripPrefixes(names, options.modelRoots);
    const specs = header.entries.map((e, i) => ({ ...e, name: renamed.names[i] }));
    if (specs.length === 0) throw new CheckpointError('safetensors: the checkpoint holds no tensors');
    const metadata = conversionMetadata({ format, tensors: new Map(specs.map((s) => [s.name, s])), metadata: header.metadata, fileName }, options.metadata);
    const layout = layoutSafetensors(specs, metadata);
    const byName = new Map(specs.map((s) => [s.name, s]));
    await withAtomicFile(outPath, async (out) => {
      await writeAll(out, layout.header);
      for (const e of layout.entries) {
        const src = byName.get(e.name)!;
        await copyRange(file, buffer, header.dataStart + src.begin, src.end - src.begin, out);
      }
    });
    return {
      format,
      metadata,
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
    private readonly file: FileReader,
    /** Reused for every chunk, so contiguous copies allocate nothing. */
    private readonly buffer: Uint8Array,
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
      await copyRange(this.file, this.buffer, dataOffset + start, length, out, (piece) => {
        if (whole) crc = crc32(piece, crc);
        if (big) swapBytes(piece, size);
      });
      if (whole) {
        checkCrc(entry, crc);
        this.verified.add(entry.name);
      }
    } else {
      const { first, last } = storageSpan(ref);
      const bytes = await this.file.read(dataOffset + first * size, (last - first + 1) * size);
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
    await copyRange(this.file, this.buffer, dataOffset, entry.compressedSize, null, (piece) => {
      crc = crc32(piece, crc);
    });
    checkCrc(entry, crc);
    this.verified.add(entry.name);
  }

  private async inflate(key: string, entry: ZipEntry, dataOffset: number): Promise<Uint8Array> {
    if (this.inflated?.key === key) return this.inflated.bytes;
    const bytes = inflateEntry(entry, await this.file.read(dataOffset, entry.compressedSize), zlibInflate);
    if (this.verify) checkCrc(entry, crc32(bytes));
    this.inflated = { key, bytes };
    return bytes;
  }
}
