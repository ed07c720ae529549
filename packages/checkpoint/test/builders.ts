/**
 * Test-only builders for PyTorch checkpoints: a tiny pickler that emits the
 * opcodes torch.save uses, and a zip writer (stored or deflated entries).
 * They let tests make checkpoints with layouts the fixtures lack (wrappers,
 * prefixes, strided views, other dtypes, big-endian storages) and
 * hand-crafted malicious pickles.
 */
import { crc32 as zlibCrc32, deflateRawSync } from 'node:zlib';
import type { DType } from '../src/index.js';

/** A global reference in a pickle value tree. */
export class G {
  constructor(readonly module: string, readonly name: string) {}
}
/** A call `fn(*args)` (REDUCE). */
export class Call {
  constructor(readonly fn: G | Call, readonly args: PickleValue[]) {}
}
/** A Python tuple. */
export class Tuple {
  constructor(readonly items: PickleValue[]) {}
}
/** A tensor view of a storage, pickled as torch does (_rebuild_tensor_v2 + BINPERSID). */
export class TensorPickle {
  constructor(
    readonly storage: { key: string; dtype: DType; numel: number },
    readonly shape: number[],
    readonly stride: number[] = contiguousStride(shape),
    readonly offset = 0,
    readonly asParameter = false,
  ) {}
}
/** An OrderedDict (pickled via REDUCE + SETITEMS, as torch's state_dict is). */
export class ODict {
  constructor(readonly entries: Array<[PickleValue, PickleValue]>) {}
}

export type PickleValue =
  | null
  | boolean
  | number
  | string
  | PickleValue[]
  | G
  | Call
  | Tuple
  | TensorPickle
  | ODict
  | { [key: string]: PickleValue };

export function contiguousStride(shape: number[]): number[] {
  const stride = new Array<number>(shape.length);
  let s = 1;
  for (let i = shape.length - 1; i >= 0; i--) {
    stride[i] = s;
    s *= shape[i];
  }
  return stride;
}

const STORAGE_CLASS: Record<DType, string> = {
  F64: 'DoubleStorage',
  F32: 'FloatStorage',
  F16: 'HalfStorage',
  BF16: 'BFloat16Storage',
  I64: 'LongStorage',
  I32: 'IntStorage',
  I16: 'ShortStorage',
  I8: 'CharStorage',
  U8: 'ByteStorage',
  BOOL: 'BoolStorage',
};

/** Emits protocol-2 pickles. */
export class Pickler {
  private readonly out: number[] = [];
  private memo = 0;

  bytes(...b: number[]): this {
    this.out.push(...b);
    return this;
  }
  private u32(n: number): void {
    this.out.push(n & 0xff, (n >>> 8) & 0xff, (n >>> 16) & 0xff, (n >>> 24) & 0xff);
  }
  /** The memo index the last put() used. */
  get lastMemo(): number {
    return this.memo - 1;
  }
  put(): this {
    if (this.memo < 256) this.bytes(0x71, this.memo++);
    else {
      this.bytes(0x72);
      this.u32(this.memo++);
    }
    return this;
  }
  str(s: string): this {
    const b = new TextEncoder().encode(s);
    this.bytes(0x58);
    this.u32(b.length);
    this.out.push(...b);
    return this.put();
  }
  int(n: number): this {
    if (n >= 0 && n < 256) return this.bytes(0x4b, n);
    if (n >= 0 && n < 65536) return this.bytes(0x4d, n & 0xff, n >> 8);
    if (n >= -(2 ** 31) && n < 2 ** 31) {
      this.bytes(0x4a);
      this.u32(n >>> 0);
      return this;
    }
    // LONG1, 8 bytes little-endian two's complement.
    const b = new Uint8Array(8);
    new DataView(b.buffer).setBigInt64(0, BigInt(n), true);
    return this.bytes(0x8a, 8, ...b);
  }
  float(x: number): this {
    const b = new Uint8Array(8);
    new DataView(b.buffer).setFloat64(0, x, false);
    return this.bytes(0x47, ...b);
  }
  global(module: string, name: string): this {
    this.bytes(0x63, ...new TextEncoder().encode(`${module}\n${name}\n`));
    return this.put();
  }
  value(v: PickleValue): this {
    if (v === null) return this.bytes(0x4e);
    if (v === true) return this.bytes(0x88);
    if (v === false) return this.bytes(0x89);
    if (typeof v === 'number') return Number.isInteger(v) ? this.int(v) : this.float(v);
    if (typeof v === 'string') return this.str(v);
    if (Array.isArray(v)) {
      this.bytes(0x5d).put();
      if (v.length) {
        this.bytes(0x28);
        for (const x of v) this.value(x);
        this.bytes(0x65);
      }
      return this;
    }
    if (v instanceof G) return this.global(v.module, v.name);
    if (v instanceof Tuple) {
      if (v.items.length === 0) return this.bytes(0x29);
      this.bytes(0x28);
      for (const x of v.items) this.value(x);
      return this.bytes(0x74).put();
    }
    if (v instanceof Call) {
      this.value(v.fn);
      this.value(new Tuple(v.args));
      return this.bytes(0x52).put();
    }
    if (v instanceof ODict) {
      this.global('collections', 'OrderedDict').bytes(0x29, 0x52).put();
      return this.items(v.entries);
    }
    if (v instanceof TensorPickle) return this.tensor(v);
    this.bytes(0x7d).put();
    return this.items(Object.entries(v));
  }
  private items(entries: Array<[PickleValue, PickleValue]>): this {
    if (!entries.length) return this;
    this.bytes(0x28);
    for (const [k, x] of entries) {
      this.value(k);
      this.value(x);
    }
    return this.bytes(0x75);
  }
  tensor(t: TensorPickle): this {
    if (t.asParameter) this.global('torch._utils', '_rebuild_parameter').bytes(0x28);
    this.global('torch._utils', '_rebuild_tensor_v2').bytes(0x28);
    // Persistent id ('storage', torch.XStorage, key, 'cpu', numel).
    this.bytes(0x28).str('storage').global('torch', STORAGE_CLASS[t.storage.dtype]).str(t.storage.key).str('cpu').int(t.storage.numel);
    this.bytes(0x74).put().bytes(0x51);
    this.int(t.offset).value(new Tuple(t.shape)).value(new Tuple(t.stride)).bytes(0x89);
    this.global('collections', 'OrderedDict').bytes(0x29, 0x52).put();
    this.bytes(0x74).put().bytes(0x52).put();
    if (t.asParameter) this.bytes(0x89).global('collections', 'OrderedDict').bytes(0x29, 0x52).put().bytes(0x74, 0x52).put();
    return this;
  }
  /** The finished pickle: PROTO 2, the value, STOP. */
  static dump(v: PickleValue): Uint8Array {
    const p = new Pickler().bytes(0x80, 0x02).value(v).bytes(0x2e);
    return Uint8Array.from(p.out);
  }
  /** Raw opcodes between PROTO 2 and STOP. */
  static raw(build: (p: Pickler) => void): Uint8Array {
    const p = new Pickler().bytes(0x80, 0x02);
    build(p);
    p.bytes(0x2e);
    return Uint8Array.from(p.out);
  }
}

export interface ZipInput {
  name: string;
  data: Uint8Array;
  deflate?: boolean;
}

/** Writes a zip archive (no data descriptors, no ZIP64). */
export function writeZip(files: ZipInput[]): Uint8Array {
  const chunks: Uint8Array[] = [];
  const central: Uint8Array[] = [];
  let offset = 0;
  for (const f of files) {
    const name = new TextEncoder().encode(f.name);
    const body = f.deflate ? new Uint8Array(deflateRawSync(f.data)) : f.data;
    const crc = zlibCrc32(f.data);
    const local = new Uint8Array(30 + name.length);
    const l = new DataView(local.buffer);
    l.setUint32(0, 0x04034b50, true);
    l.setUint16(4, 20, true);
    l.setUint16(8, f.deflate ? 8 : 0, true);
    l.setUint32(14, crc, true);
    l.setUint32(18, body.length, true);
    l.setUint32(22, f.data.length, true);
    l.setUint16(26, name.length, true);
    local.set(name, 30);
    const cd = new Uint8Array(46 + name.length);
    const c = new DataView(cd.buffer);
    c.setUint32(0, 0x02014b50, true);
    c.setUint16(4, 20, true);
    c.setUint16(6, 20, true);
    c.setUint16(10, f.deflate ? 8 : 0, true);
    c.setUint32(16, crc, true);
    c.setUint32(20, body.length, true);
    c.setUint32(24, f.data.length, true);
    c.setUint16(28, name.length, true);
    c.setUint32(42, offset, true);
    cd.set(name, 46);
    chunks.push(local, body);
    central.push(cd);
    offset += local.length + body.length;
  }
  const cdSize = central.reduce((s, c) => s + c.length, 0);
  const eocd = new Uint8Array(22);
  const e = new DataView(eocd.buffer);
  e.setUint32(0, 0x06054b50, true);
  e.setUint16(8, files.length, true);
  e.setUint16(10, files.length, true);
  e.setUint32(12, cdSize, true);
  e.setUint32(16, offset, true);
  const all = [...chunks, ...central, eocd];
  const out = new Uint8Array(all.reduce((s, c) => s + c.length, 0));
  let p = 0;
  for (const c of all) {
    out.set(c, p);
    p += c.length;
  }
  return out;
}

/** A torch-style checkpoint archive from a pickle and its storages. */
export function writePth(
  pickle: Uint8Array,
  storages: Record<string, Uint8Array>,
  options: { top?: string; byteorder?: 'little' | 'big' | null; deflate?: boolean } = {},
): Uint8Array {
  const top = options.top ?? 'archive';
  const files: ZipInput[] = [{ name: `${top}/data.pkl`, data: pickle, deflate: options.deflate }];
  if (options.byteorder !== null) files.push({ name: `${top}/byteorder`, data: new TextEncoder().encode(options.byteorder ?? 'little') });
  for (const [key, data] of Object.entries(storages)) files.push({ name: `${top}/data/${key}`, data, deflate: options.deflate });
  files.push({ name: `${top}/version`, data: new TextEncoder().encode('3\n') });
  return writeZip(files);
}

/** Deterministic PRNG (mulberry32) for reproducible fuzzing. */
export { mulberry32 as rng } from '@tarflow/tensor/random';

/**
 * Rewrites an archive from writeZip in ZIP64 form, as a writer must for
 * archives past 4 GiB: every central directory entry saturates its sizes and
 * offset (the real values move to a ZIP64 extra field), and the
 * end-of-central-directory record saturates its fields and is preceded by a
 * ZIP64 record and locator.
 */
export function toZip64(zip: Uint8Array): Uint8Array {
  const d = new DataView(zip.buffer, zip.byteOffset, zip.byteLength);
  const eocd = zip.length - 22;
  const count = d.getUint16(eocd + 10, true);
  const cdOffset = d.getUint32(eocd + 16, true);
  const records: Uint8Array[] = [];
  let p = cdOffset;
  for (let i = 0; i < count; i++) {
    const nameLength = d.getUint16(p + 28, true);
    const rec = new Uint8Array(46 + nameLength + 28);
    rec.set(zip.subarray(p, p + 46 + nameLength));
    const r = new DataView(rec.buffer);
    const [compressed, uncompressed, local] = [d.getUint32(p + 20, true), d.getUint32(p + 24, true), d.getUint32(p + 42, true)];
    r.setUint32(20, 0xffffffff, true);
    r.setUint32(24, 0xffffffff, true);
    r.setUint32(42, 0xffffffff, true);
    r.setUint16(30, 28, true);
    const x = 46 + nameLength;
    r.setUint16(x, 0x0001, true);
    r.setUint16(x + 2, 24, true);
    r.setBigUint64(x + 4, BigInt(uncompressed), true);
    r.setBigUint64(x + 12, BigInt(compressed), true);
    r.setBigUint64(x + 20, BigInt(local), true);
    records.push(rec);
    p += 46 + nameLength + d.getUint16(p + 30, true) + d.getUint16(p + 32, true);
  }
  const cdSize = records.reduce((s, r) => s + r.length, 0);
  const tail = new Uint8Array(56 + 20 + 22);
  const t = new DataView(tail.buffer);
  t.setUint32(0, 0x06064b50, true);
  t.setBigUint64(4, 44n, true);
  t.setUint16(12, 45, true);
  t.setUint16(14, 45, true);
  t.setBigUint64(24, BigInt(count), true);
  t.setBigUint64(32, BigInt(count), true);
  t.setBigUint64(40, BigInt(cdSize), true);
  t.setBigUint64(48, BigInt(cdOffset), true);
  t.setUint32(56, 0x07064b50, true);
  t.setBigUint64(64, BigInt(cdOffset + cdSize), true);
  t.setUint32(72, 1, true);
  t.setUint32(76, 0x06054b50, true);
  t.setUint16(76 + 8, 0xffff, true);
  t.setUint16(76 + 10, 0xffff, true);
  t.setUint32(76 + 12, 0xffffffff, true);
  t.setUint32(76 + 16, 0xffffffff, true);
  const out = new Uint8Array(cdOffset + cdSize + tail.length);
  out.set(zip.subarray(0, cdOffset));
  let q = cdOffset;
  for (const r of records) {
    out.set(r, q);
    q += r.length;
  }
  out.set(tail, q);
  return out;
}
