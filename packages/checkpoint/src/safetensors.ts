/**
 * safetensors read/write, browser-safe (pure TypedArrays).
 *
 * Format: an 8-byte little-endian header length N, N bytes of UTF-8 JSON
 * (`{"name": {"dtype", "shape", "data_offsets": [begin, end]}, ...,
 * "__metadata__": {string: string}}`), then the data section; offsets are
 * relative to the start of the data section.
 *
 * Validation follows the reference (Rust/python) library: every tensor's
 * offsets must lie in the data section and span exactly product(shape) *
 * itemsize bytes, tensors must not overlap, and — like the reference library
 * — the tensors must cover the data section exactly: a gap between tensors or
 * unused bytes after the last one are rejected too.
 *
 * Writing matches the reference library byte for byte: `__metadata__` first,
 * then tensors ordered by decreasing dtype alignment rank and then by name,
 * laid out in that order; the header is padded with spaces to a multiple of 8
 * bytes so every tensor's data starts 8-byte aligned.
 */
import { CheckpointError, quote } from './errors.js';
import { DTYPE_SIZE, checkRawTensor, isDType, shapeSize, type DType, type RawTensor } from './dtype.js';

export type { DType, RawTensor } from './dtype.js';
export { CheckpointError } from './errors.js';
export { toFloat32, toInt32, f32Tensor, i64Tensor } from './dtype.js';

/** A parsed safetensors file. Tensor data are views into the parsed bytes, not copies. */
export interface SafetensorsFile {
  tensors: Map<string, RawTensor>;
  metadata: Record<string, string>;
}

/** Largest header accepted, as in the reference library (100 MB). */
export const MAX_HEADER_BYTES = 100_000_000;

const METADATA_KEY = '__metadata__';

/**
 * Order of dtypes in the reference library's `Dtype` enum (increasing
 * alignment); tensors are written in decreasing rank.
 */
const DTYPE_RANK: Readonly<Record<DType, number>> = {
  BOOL: 0,
  U8: 1,
  I8: 2,
  I16: 5,
  F16: 7,
  BF16: 8,
  I32: 9,
  F32: 11,
  F64: 12,
  I64: 13,
};

/** A tensor's description without its bytes: what a header needs. */
export interface TensorSpec {
  name: string;
  dtype: DType;
  shape: number[];
}

/** Where each tensor goes in a file about to be written. */
export interface SafetensorsLayout {
  /** The first 8 + N bytes of the file: length prefix and padded JSON header. */
  header: Uint8Array;
  /** Tensors in file order with their offsets relative to the data section. */
  entries: Array<TensorSpec & { begin: number; end: number }>;
  /** Total size of the file in bytes. */
  fileSize: number;
}

function decodeHeader(bytes: Uint8Array): string {
  try {
    return new TextDecoder('utf-8', { fatal: true, ignoreBOM: true }).decode(bytes);
  } catch {
    throw new CheckpointError('safetensors: header is not valid UTF-8');
  }
}

function isPlainObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/** Compares strings by Unicode code point, i.e. by their UTF-8 bytes (as Rust sorts them). */
function compareCodePoints(a: string, b: string): number {
  const ia = a[Symbol.iterator]();
  const ib = b[Symbol.iterator]();
  for (;;) {
    const x = ia.next();
    const y = ib.next();
    if (x.done || y.done) return x.done ? (y.done ? 0 : -1) : 1;
    const d = x.value.codePointAt(0)! - y.value.codePointAt(0)!;
    if (d !== 0) return d;
  }
}

/** A tensor's place in a safetensors file, as its header declares it. */
export interface SafetensorsHeaderEntry extends TensorSpec {
  /** Offsets relative to the data section. */
  begin: number;
  end: number;
}

export interface SafetensorsHeader {
  /** Tensors in header order. */
  entries: SafetensorsHeaderEntry[];
  metadata: Record<string, string>;
  /** Where the data section starts in the file (8 + header length). */
  dataStart: number;
}

/**
 * Reads the header length from a file's first 8 bytes and checks it against
 * the file size; returns the header length.
 */
export function readHeaderLength(prefix: Uint8Array, fileSize: number): number {
  if (fileSize < 8 || prefix.byteLength < 8) {
    throw new CheckpointError(`safetensors: file is ${fileSize} bytes, shorter than the 8-byte header length prefix`);
  }
  const dv = new DataView(prefix.buffer, prefix.byteOffset, 8);
  const n = dv.getUint32(4, true) * 4294967296 + dv.getUint32(0, true);
  if (n > MAX_HEADER_BYTES) {
    throw new CheckpointError(`safetensors: header length ${n} is larger than the ${MAX_HEADER_BYTES}-byte limit`);
  }
  if (8 + n > fileSize) {
    throw new CheckpointError(`safetensors: header length ${n} runs past the end of the file (${fileSize} bytes)`);
  }
  return n;
}

/**
 * Parses and validates a safetensors header without the data: `head` holds
 * the file's first 8 + N bytes (length prefix and header), `fileSize` the
 * whole file's size. Used by parseSafetensors and by streaming readers.
 */
export function parseSafetensorsHeader(head: Uint8Array, fileSize: number): SafetensorsHeader {
  const n = readHeaderLength(head, fileSize);
  if (head.byteLength < 8 + n) throw new CheckpointError('safetensors: header bytes are incomplete');
  const text = decodeHeader(head.subarray(8, 8 + n));
  let header: unknown;
  try {
    header = JSON.parse(text);
  } catch (e) {
    throw new CheckpointError(`safetensors: header is not valid JSON (${(e as Error).message})`);
  }
  if (!isPlainObject(header)) throw new CheckpointError('safetensors: header is not a JSON object');

  const dataStart = 8 + n;
  const dataLength = fileSize - dataStart;
  const metadata = parseMetadata(header[METADATA_KEY]);
  const entries: SafetensorsHeaderEntry[] = [];
  for (const [name, info] of Object.entries(header)) {
    if (name === METADATA_KEY) continue;
    const what = `safetensors: tensor ${quote(name)}`;
    const fail = (msg: string): never => {
      throw new CheckpointError(`${what}: ${msg}`, { tensor: name });
    };
    if (!isPlainObject(info)) fail('entry is not a JSON object');
    const entry = info as Record<string, unknown>;
    const dtype = entry.dtype;
    if (!isDType(dtype)) fail(dtype === undefined ? 'has no dtype' : `unknown dtype ${JSON.stringify(dtype)}`);
    const shape = entry.shape;
    if (!Array.isArray(shape) || !shape.every((d) => typeof d === 'number' && Number.isSafeInteger(d) && d >= 0)) {
      fail(shape === undefined ? 'has no shape' : `shape ${JSON.stringify(shape)} is not an array of non-negative integers`);
    }
    const offsets = entry.data_offsets;
    if (offsets === undefined) fail('data_offsets is missing');
    if (
      !Array.isArray(offsets) ||
      offsets.length !== 2 ||
      !offsets.every((o) => typeof o === 'number' && Number.isSafeInteger(o) && o >= 0)
    ) {
      fail(`data_offsets ${JSON.stringify(offsets)} is not a pair of non-negative integers`);
    }
    const [begin, end] = offsets as [number, number];
    if (begin > end) fail(`data_offsets [${begin}, ${end}] begin after end`);
    if (end > dataLength) {
      fail(`data_offsets [${begin}, ${end}] out of range of the data section (${dataLength} bytes)`);
    }
    const dims = shape as number[];
    const expected = shapeSize(dims, what) * DTYPE_SIZE[dtype as DType];
    if (end - begin !== expected) {
      fail(
        `byte size ${end - begin} (data_offsets [${begin}, ${end}]) does not match shape ${JSON.stringify(dims)} of ${dtype as DType} (${expected} bytes)`,
      );
    }
    entries.push({ name, dtype: dtype as DType, shape: [...dims], begin, end });
  }

  const spans = [...entries].sort((a, b) => a.begin - b.begin || a.end - b.end);
  let covered = 0;
  let previous: string | undefined;
  for (const s of spans) {
    if (s.begin < covered) {
      throw new CheckpointError(
        `safetensors: tensors ${quote(previous!)} and ${quote(s.name)} overlap (byte ${s.begin} of the data section)`,
        { tensor: s.name },
      );
    }
    if (s.begin > covered) {
      throw new CheckpointError(
        `safetensors: unused bytes ${covered}..${s.begin} of the data section before tensor ${quote(s.name)}`,
        { tensor: s.name },
      );
    }
    covered = s.end;
    previous = s.name;
  }
  if (covered !== dataLength) {
    throw new CheckpointError(
      `safetensors: ${dataLength - covered} unused bytes at the end of the data section (tensors end at ${covered} of ${dataLength})`,
    );
  }
  return { entries, metadata, dataStart };
}

/**
 * Parses a whole safetensors file. Throws CheckpointError naming the problem
 * (and the tensor) for any malformed input; see the module comment for the
 * rules. Tensor data are views into `bytes`.
 */
export function parseSafetensors(bytes: Uint8Array): SafetensorsFile {
  const { entries, metadata, dataStart } = parseSafetensorsHeader(bytes, bytes.byteLength);
  const tensors = new Map<string, RawTensor>();
  for (const e of entries) {
    tensors.set(e.name, { dtype: e.dtype, shape: e.shape, data: bytes.subarray(dataStart + e.begin, dataStart + e.end) });
  }
  return { tensors, metadata };
}

function parseMetadata(raw: unknown): Record<string, string> {
  const metadata: Record<string, string> = {};
  if (raw === undefined) return metadata;
  if (!isPlainObject(raw)) throw new CheckpointError('safetensors: __metadata__ is not a string-to-string map');
  for (const [k, v] of Object.entries(raw)) {
    if (typeof v !== 'string') {
      throw new CheckpointError(
        `safetensors: __metadata__ is not a string-to-string map (key ${quote(k)} has a ${v === null ? 'null' : typeof v} value)`,
      );
    }
    metadata[k] = v;
  }
  return metadata;
}

function entriesOf(tensors: Map<string, RawTensor> | Record<string, RawTensor>): Array<[string, RawTensor]> {
  return tensors instanceof Map ? [...tensors.entries()] : Object.entries(tensors);
}

/**
 * Lays out a file for the given tensors without touching their data: the
 * header bytes and each tensor's offsets, in the reference library's order.
 * Used by serializeSafetensors and by streaming writers.
 */
export function layoutSafetensors(specs: TensorSpec[], metadata?: Record<string, string>): SafetensorsLayout {
  const seen = new Set<string>();
  const sized = specs.map((s) => {
    if (typeof s.name !== 'string') throw new CheckpointError('safetensors: tensor name is not a string');
    if (s.name === METADATA_KEY) throw new CheckpointError(`safetensors: a tensor may not be named ${METADATA_KEY}`);
    if (seen.has(s.name)) throw new CheckpointError(`safetensors: duplicate tensor name ${quote(s.name)}`, { tensor: s.name });
    seen.add(s.name);
    const what = `safetensors: tensor ${quote(s.name)}`;
    if (!isDType(s.dtype)) {
      throw new CheckpointError(`${what}: unknown dtype ${JSON.stringify(s.dtype)}`, { tensor: s.name });
    }
    if (!Array.isArray(s.shape)) throw new CheckpointError(`${what}: shape is not an array`, { tensor: s.name });
    return { ...s, shape: [...s.shape], bytes: shapeSize(s.shape, what) * DTYPE_SIZE[s.dtype] };
  });
  sized.sort((a, b) => DTYPE_RANK[b.dtype] - DTYPE_RANK[a.dtype] || compareCodePoints(a.name, b.name));

  const parts: string[] = [];
  if (metadata !== undefined) {
    const keys = Object.keys(metadata).sort(compareCodePoints);
    const items = keys.map((k) => {
      const v = metadata[k];
      if (typeof v !== 'string') {
        throw new CheckpointError(`safetensors: metadata value for ${quote(k)} is not a string`);
      }
      return `${JSON.stringify(k)}:${JSON.stringify(v)}`;
    });
    parts.push(`${JSON.stringify(METADATA_KEY)}:{${items.join(',')}}`);
  }
  let offset = 0;
  const entries = sized.map((s) => {
    const begin = offset;
    offset += s.bytes;
    parts.push(
      `${JSON.stringify(s.name)}:{"dtype":${JSON.stringify(s.dtype)},"shape":[${s.shape.join(',')}],"data_offsets":[${begin},${offset}]}`,
    );
    return { name: s.name, dtype: s.dtype, shape: s.shape, begin, end: offset };
  });
  const json = new TextEncoder().encode(`{${parts.join(',')}}`);
  const padded = Math.ceil(json.byteLength / 8) * 8;
  if (padded > MAX_HEADER_BYTES) throw new CheckpointError('safetensors: header would exceed the 100 MB limit');
  const header = new Uint8Array(8 + padded);
  new DataView(header.buffer).setBigUint64(0, BigInt(padded), true);
  header.set(json, 8);
  header.fill(0x20, 8 + json.byteLength);
  return { header, entries, fileSize: header.byteLength + offset };
}

/**
 * Serializes tensors (and optional string metadata) to safetensors bytes,
 * laid out exactly as the reference library would (see the module comment).
 */
export function serializeSafetensors(
  tensors: Map<string, RawTensor> | Record<string, RawTensor>,
  metadata?: Record<string, string>,
): Uint8Array {
  const list = entriesOf(tensors);
  for (const [name, t] of list) checkRawTensor(t, name);
  const byName = new Map(list);
  const layout = layoutSafetensors(
    list.map(([name, t]) => ({ name, dtype: t.dtype, shape: t.shape })),
    metadata,
  );
  const out = new Uint8Array(layout.fileSize);
  out.set(layout.header, 0);
  for (const e of layout.entries) out.set(byName.get(e.name)!.data, layout.header.byteLength + e.begin);
  return out;
}
