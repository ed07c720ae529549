/**
 * Element types and raw tensors: the currency of this package. A RawTensor
 * holds the little-endian bytes of a C-contiguous tensor exactly as they sit in
 * a safetensors file, so nothing is lost between reading and writing.
 */
import { CheckpointError, quote } from './errors.js';

/** The safetensors element types this package reads and writes. */
export type DType = 'F64' | 'F32' | 'F16' | 'BF16' | 'I64' | 'I32' | 'I16' | 'I8' | 'U8' | 'BOOL';

/** A C-contiguous tensor as raw little-endian bytes. */
export interface RawTensor {
  dtype: DType;
  shape: number[];
  data: Uint8Array;
}

/** Bytes per element of each dtype. */
export const DTYPE_SIZE: Readonly<Record<DType, number>> = {
  F64: 8,
  F32: 4,
  F16: 2,
  BF16: 2,
  I64: 8,
  I32: 4,
  I16: 2,
  I8: 1,
  U8: 1,
  BOOL: 1,
};

export function isDType(value: unknown): value is DType {
  return typeof value === 'string' && Object.prototype.hasOwnProperty.call(DTYPE_SIZE, value);
}

/**
 * Number of elements of a shape, checked: every dimension a non-negative safe
 * integer and the product a safe integer.
 */
export function shapeSize(shape: readonly number[], what: string): number {
  let n = 1;
  for (const d of shape) {
    if (typeof d !== 'number' || !Number.isSafeInteger(d) || d < 0) {
      throw new CheckpointError(`${what}: shape ${JSON.stringify(shape)} is not a list of non-negative integers`);
    }
    n *= d;
    if (!Number.isSafeInteger(n)) {
      throw new CheckpointError(`${what}: shape ${JSON.stringify(shape)} has too many elements`);
    }
  }
  return n;
}

/** Checks that a RawTensor's byte length matches its dtype and shape. */
export function checkRawTensor(t: RawTensor, name: string): void {
  const what = `tensor ${quote(name)}`;
  if (!isDType(t.dtype)) throw new CheckpointError(`${what}: unknown dtype ${JSON.stringify(t.dtype)}`, { tensor: name });
  if (!Array.isArray(t.shape)) throw new CheckpointError(`${what}: shape is not an array`, { tensor: name });
  const n = shapeSize(t.shape, what);
  if (!(t.data instanceof Uint8Array)) throw new CheckpointError(`${what}: data is not a Uint8Array`, { tensor: name });
  const expected = n * DTYPE_SIZE[t.dtype];
  if (t.data.byteLength !== expected) {
    throw new CheckpointError(
      `${what}: data is ${t.data.byteLength} bytes but shape ${JSON.stringify(t.shape)} of ${t.dtype} needs ${expected}`,
      { tensor: name },
    );
  }
}

const LITTLE_ENDIAN_HOST = new Uint8Array(new Uint32Array([1]).buffer)[0] === 1;

/** A DataView over exactly the bytes of `data`. */
function view(data: Uint8Array): DataView {
  return new DataView(data.buffer, data.byteOffset, data.byteLength);
}

/** IEEE half-precision bits to a number. */
export function halfToFloat(h: number): number {
  const sign = h & 0x8000 ? -1 : 1;
  const exp = (h >> 10) & 0x1f;
  const frac = h & 0x3ff;
  if (exp === 0) return sign * frac * 2 ** -24;
  if (exp === 0x1f) return frac === 0 ? sign * Infinity : NaN;
  return sign * (1 + frac / 1024) * 2 ** (exp - 15);
}

/** The signed 64-bit little-endian integer at `offset`, as a (possibly inexact) number. */
function readI64(dv: DataView, offset: number): number {
  const lo = dv.getUint32(offset, true);
  const hi = dv.getInt32(offset + 4, true);
  return hi * 4294967296 + lo;
}

function elementCount(t: RawTensor, name: string | undefined): number {
  checkRawTensor(t, name ?? 'tensor');
  return t.data.byteLength / DTYPE_SIZE[t.dtype];
}

/**
 * Fills `out` with the values of an integer tensor of 32 bits or fewer, or a
 * boolean one (each fits an int32 exactly; a Float32Array rounds I32 values
 * beyond 2^24 to the nearest float).
 */
function readNarrowIntegers(t: RawTensor, dv: DataView, out: Float32Array | Int32Array): void {
  const n = out.length;
  switch (t.dtype) {
    case 'I32':
      for (let i = 0; i < n; i++) out[i] = dv.getInt32(i * 4, true);
      break;
    case 'I16':
      for (let i = 0; i < n; i++) out[i] = dv.getInt16(i * 2, true);
      break;
    case 'I8':
      for (let i = 0; i < n; i++) out[i] = dv.getInt8(i);
      break;
    case 'U8':
      for (let i = 0; i < n; i++) out[i] = t.data[i];
      break;
    case 'BOOL':
      for (let i = 0; i < n; i++) out[i] = t.data[i] ? 1 : 0;
      break;
    default:
      throw new CheckpointError(`readNarrowIntegers: ${t.dtype} is not a narrow integer dtype`);
  }
}

/**
 * The tensor's values as a fresh, aligned Float32Array (C order). F32 is
 * copied bit for bit; F16, BF16 and F64 are converted (F64 rounds to nearest);
 * integers and booleans are converted to their float values.
 */
export function toFloat32(t: RawTensor, name?: string): Float32Array {
  const n = elementCount(t, name);
  const out = new Float32Array(n);
  const dv = view(t.data);
  switch (t.dtype) {
    case 'F32':
      if (LITTLE_ENDIAN_HOST) new Uint8Array(out.buffer).set(t.data);
      else for (let i = 0; i < n; i++) out[i] = dv.getFloat32(i * 4, true);
      break;
    case 'F64':
      for (let i = 0; i < n; i++) out[i] = dv.getFloat64(i * 8, true);
      break;
    case 'F16':
      for (let i = 0; i < n; i++) out[i] = halfToFloat(dv.getUint16(i * 2, true));
      break;
    case 'BF16': {
      const bits = new Uint32Array(out.buffer);
      // bfloat16 is the high half of a float32: widen the bits (host order on both sides).
      for (let i = 0; i < n; i++) bits[i] = dv.getUint16(i * 2, true) << 16;
      break;
    }
    case 'I64':
      for (let i = 0; i < n; i++) out[i] = readI64(dv, i * 8);
      break;
    case 'I32':
    case 'I16':
    case 'I8':
    case 'U8':
    case 'BOOL':
      readNarrowIntegers(t, dv, out);
      break;
  }
  return out;
}

const INT32_MIN = -2147483648;
const INT32_MAX = 2147483647;

/**
 * The tensor's values as a fresh Int32Array (C order). Integer and boolean
 * dtypes are widened or narrowed; a value outside the int32 range is an
 * error. Float dtypes are accepted only when every value is an integer in
 * range (labels saved as floats, say).
 */
export function toInt32(t: RawTensor, name?: string): Int32Array {
  const n = elementCount(t, name);
  const label = `tensor ${quote(name ?? 'tensor')}`;
  const out = new Int32Array(n);
  const dv = view(t.data);
  const put = (i: number, v: number): void => {
    if (!Number.isInteger(v) || v < INT32_MIN || v > INT32_MAX) {
      throw new CheckpointError(`${label}: element ${i} (${v}) of ${t.dtype} is not an integer in the int32 range`, {
        tensor: name,
      });
    }
    out[i] = v;
  };
  switch (t.dtype) {
    case 'I64':
      for (let i = 0; i < n; i++) {
        const lo = dv.getUint32(i * 8, true);
        const hi = dv.getInt32(i * 8 + 4, true);
        // In int32 range exactly when the high word is the sign extension of the low word.
        if (hi !== (lo & 0x80000000 ? -1 : 0)) put(i, hi * 4294967296 + lo);
        else out[i] = lo | 0;
      }
      break;
    case 'I32':
    case 'I16':
    case 'I8':
    case 'U8':
    case 'BOOL':
      readNarrowIntegers(t, dv, out);
      break;
    case 'F64':
    case 'F32':
    case 'F16':
    case 'BF16': {
      const f = t.dtype === 'F64' ? null : toFloat32(t, name);
      for (let i = 0; i < n; i++) put(i, f ? f[i] : dv.getFloat64(i * 8, true));
      break;
    }
  }
  return out;
}

/** An F32 RawTensor holding a copy of `data` in the given shape. */
export function f32Tensor(shape: number[], data: Float32Array): RawTensor {
  const n = shapeSize(shape, 'f32Tensor');
  if (data.length !== n) {
    throw new CheckpointError(`f32Tensor: shape ${JSON.stringify(shape)} needs ${n} values, got ${data.length}`);
  }
  const bytes = new Uint8Array(n * 4);
  if (LITTLE_ENDIAN_HOST) bytes.set(new Uint8Array(data.buffer, data.byteOffset, n * 4));
  else {
    const dv = view(bytes);
    for (let i = 0; i < n; i++) dv.setFloat32(i * 4, data[i], true);
  }
  return { dtype: 'F32', shape: [...shape], data: bytes };
}

/** An I64 RawTensor from integer values (each must be a safe integer). */
export function i64Tensor(shape: number[], data: ArrayLike<number>): RawTensor {
  const n = shapeSize(shape, 'i64Tensor');
  if (data.length !== n) {
    throw new CheckpointError(`i64Tensor: shape ${JSON.stringify(shape)} needs ${n} values, got ${data.length}`);
  }
  const bytes = new Uint8Array(n * 8);
  const dv = view(bytes);
  for (let i = 0; i < n; i++) {
    const v = data[i];
    if (!Number.isSafeInteger(v)) throw new CheckpointError(`i64Tensor: element ${i} (${v}) is not a safe integer`);
    dv.setBigInt64(i * 8, BigInt(v), true);
  }
  return { dtype: 'I64', shape: [...shape], data: bytes };
}
