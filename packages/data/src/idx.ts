/**
 * IDX files (the MNIST / Fashion-MNIST container format), plain or gzipped.
 *
 * Layout: a 4-byte big-endian magic number `0x0000TTNN` (TT = element type,
 * 0x08 = unsigned byte; NN = number of dimensions), then NN big-endian uint32
 * dimension sizes, then the data. Image files are `0x00000803`
 * ([count, rows, cols]); label files are `0x00000801` ([count]).
 */
import { existsSync, readFileSync, statSync } from 'node:fs';
import { gunzipSync } from 'node:zlib';
import { createDataset, type ImageDataset } from './dataset.js';
import { DatasetError } from './errors.js';

/** Magic number of an IDX file of unsigned-byte images `[count, rows, cols]`. */
export const IDX_IMAGES_MAGIC = 0x00000803;
/** Magic number of an IDX file of unsigned-byte labels `[count]`. */
export const IDX_LABELS_MAGIC = 0x00000801;

/** A parsed unsigned-byte IDX tensor. */
export interface IdxTensor {
  magic: number;
  /** Dimension sizes, outermost first. */
  dims: number[];
  /** The elements (a view into the file bytes), `dims` row-major. */
  data: Uint8Array;
}

const hex = (n: number): string => `0x${n.toString(16).padStart(8, '0')}`;

/**
 * Parses IDX bytes (already gunzipped). Checks the magic number (against
 * `expectedMagic` when given), the element type (unsigned byte only), and that
 * the data length is exactly the product of the dimensions. Throws
 * DatasetError naming `file` on any mismatch.
 */
export function parseIdx(bytes: Uint8Array, file = '<idx>', expectedMagic?: number): IdxTensor {
  if (bytes.length < 4) throw new DatasetError(file, `truncated IDX file: ${bytes.length} bytes, too short for the 4-byte magic number`);
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const magic = view.getUint32(0, false);
  const describe = (m: number): string =>
    m === IDX_IMAGES_MAGIC ? ' (IDX images)' : m === IDX_LABELS_MAGIC ? ' (IDX labels)' : '';
  if (expectedMagic !== undefined && magic !== expectedMagic) {
    throw new DatasetError(file, `wrong magic number ${hex(magic)}${describe(magic)}, expected ${hex(expectedMagic)}${describe(expectedMagic)}`);
  }
  if (bytes[0] !== 0 || bytes[1] !== 0) throw new DatasetError(file, `wrong magic number ${hex(magic)}: not an IDX file`);
  const type = bytes[2];
  const ndim = bytes[3];
  if (type !== 0x08) throw new DatasetError(file, `unsupported IDX element type 0x${type.toString(16).padStart(2, '0')} (only 0x08, unsigned byte, is supported)`);
  if (ndim < 1) throw new DatasetError(file, 'IDX file declares 0 dimensions');
  const headerBytes = 4 + 4 * ndim;
  if (bytes.length < headerBytes) {
    throw new DatasetError(file, `truncated IDX file: ${bytes.length} bytes, but the header of a ${ndim}-dimensional IDX file needs ${headerBytes}`);
  }
  const dims: number[] = [];
  for (let d = 0; d < ndim; d++) dims.push(view.getUint32(4 + 4 * d, false));
  const expected = dims.reduce((a, b) => a * b, 1);
  const actual = bytes.length - headerBytes;
  if (actual < expected) {
    throw new DatasetError(file, `truncated IDX file: dimensions ${dims.join('x')} need ${expected} data bytes, found ${actual}`);
  }
  if (actual > expected) {
    throw new DatasetError(file, `IDX file has ${actual - expected} unexpected trailing bytes after ${dims.join('x')} = ${expected} data bytes`);
  }
  return { magic, dims, data: bytes.subarray(headerBytes, headerBytes + expected) };
}

/**
 * Finds an IDX file: `path` itself, else `path + '.gz'` (or `path` without
 * `.gz`). Throws DatasetError `file not found` listing what was tried.
 */
export function resolveIdxPath(path: string): string {
  const candidates = path.endsWith('.gz') ? [path, path.slice(0, -3)] : [path, `${path}.gz`];
  for (const p of candidates) {
    if (existsSync(p) && statSync(p).isFile()) return p;
  }
  throw new DatasetError(path, `file not found (tried ${candidates.join(', ')})`);
}

/**
 * Reads an IDX file from disk (gunzipping it when it starts with the gzip
 * magic bytes, whatever its name) and parses it with {@link parseIdx}.
 */
export function readIdxFile(path: string, expectedMagic?: number): IdxTensor {
  const file = resolveIdxPath(path);
  let bytes: Uint8Array;
  try {
    bytes = readFileSync(file);
  } catch (err) {
    throw new DatasetError(file, `cannot read file: ${err instanceof Error ? err.message : String(err)}`, { cause: err });
  }
  if (bytes.length >= 2 && bytes[0] === 0x1f && bytes[1] === 0x8b) {
    try {
      bytes = gunzipSync(bytes);
    } catch (err) {
      throw new DatasetError(file, `truncated or corrupt gzip data: ${err instanceof Error ? err.message : String(err)}`, { cause: err });
    }
  }
  return parseIdx(bytes, file, expectedMagic);
}

/** Options of {@link loadIdx}. */
export interface LoadIdxOptions {
  /** Dataset name. Default: the images file name. */
  name?: string;
  /** Number of classes. Default: `classNames.length`, else max label + 1. */
  numClasses?: number;
  /** Class names, `classNames[label]`. */
  classNames?: string[];
  /** Keep only the first `limit` images (decoding only those). */
  limit?: number;
}

/**
 * Loads an IDX image file (`0x00000803`, `[count, rows, cols]`) and its IDX
 * label file (`0x00000801`, `[count]`), plain or `.gz`, into a one-channel
 * {@link ImageDataset} with pixels v ↦ v / 127.5 − 1. Throws DatasetError for a
 * missing file, a truncated file, a wrong magic number, an images/labels count
 * mismatch, or a label outside [0, numClasses).
 */
export function loadIdx(imagesPath: string, labelsPath: string, options: LoadIdxOptions = {}): ImageDataset {
  const imgs = readIdxFile(imagesPath, IDX_IMAGES_MAGIC);
  const labs = readIdxFile(labelsPath, IDX_LABELS_MAGIC);
  const [total, height, width] = imgs.dims as [number, number, number];
  const labelCount = labs.dims[0];
  if (total !== labelCount) {
    throw new DatasetError(imagesPath, `count mismatch: ${total} images, but ${labelsPath} has ${labelCount} labels`);
  }
  const { limit } = options;
  if (limit !== undefined && (!Number.isInteger(limit) || limit < 0)) throw new RangeError(`loadIdx: limit must be a non-negative integer, got ${limit}`);
  const count = limit === undefined ? total : Math.min(limit, total);
  const labels = Int32Array.from(labs.data.subarray(0, count));
  let maxLabel = -1;
  for (let i = 0; i < count; i++) if (labels[i] > maxLabel) maxLabel = labels[i];
  const numClasses = options.numClasses ?? options.classNames?.length ?? maxLabel + 1;
  if (maxLabel >= numClasses) {
    const at = labels.findIndex((l) => l >= numClasses);
    throw new DatasetError(labelsPath, `label ${labels[at]} at index ${at} is outside [0, ${numClasses})`);
  }
  const images = bytesToUnit(imgs.data.subarray(0, count * height * width));
  const ds = createDataset({
    name: options.name ?? baseName(imagesPath),
    images,
    labels,
    channels: 1,
    height,
    width,
    numClasses,
    ...(options.classNames ? { classNames: options.classNames } : {}),
  });
  return ds;
}

const UNIT_LUT = Float32Array.from({ length: 256 }, (_, v) => v / 127.5 - 1);

/** Bytes → floats in [-1, 1] (v / 127.5 − 1). */
export function bytesToUnit(bytes: Uint8Array): Float32Array {
  const out = new Float32Array(bytes.length);
  for (let i = 0; i < bytes.length; i++) out[i] = UNIT_LUT[bytes[i]];
  return out;
}

function baseName(path: string): string {
  const parts = path.split(/[\\/]/);
  return (parts[parts.length - 1] ?? path).replace(/\.gz$/, '');
}
