/**
 * PyTorch checkpoint (`torch.save`, zip format) import, browser-safe.
 *
 * A checkpoint is a zip archive `<top>/data.pkl`, `<top>/data/<key>`...,
 * `<top>/byteorder`, `<top>/version` (the top folder name varies). data.pkl is
 * a pickle whose tensors refer, through persistent ids, to the raw storages in
 * `<top>/data/`. The pickle runs in an allow-listed VM (see pickle.ts): only
 * the globals torch uses for state dicts are accepted, each implemented here
 * as a data constructor; any other global is an error naming it.
 *
 * The state dict may be the whole checkpoint or wrapped (`{'model': sd,
 * 'optimizer': ...}`), and names may carry `module.` (DDP) or `_orig_mod.`
 * (torch.compile) prefixes; see extractStateDict and stripPrefixes.
 */
import { DTYPE_SIZE, type DType, type RawTensor } from './dtype.js';
import { CheckpointError, quote } from './errors.js';
import { PyGlobal, PyTuple, describe, unpickle } from './pickle.js';
import { crc32 } from './crc32.js';
import { entryDataOffset, readZipDirectory, runSync, type ReadStep, type ZipDirectory, type ZipEntry } from './zip.js';

/** A storage record in the archive (`<top>/data/<key>`), viewed as elements of `dtype`. */
export interface StorageRef {
  key: string;
  dtype: DType;
  numel: number;
  location: string;
}

/** A tensor as the pickle describes it: a strided view of a storage. */
export class TensorRef {
  constructor(
    readonly storage: StorageRef,
    /** Offset into the storage, in elements. */
    readonly offset: number,
    readonly shape: readonly number[],
    /** Strides, in elements. */
    readonly stride: readonly number[],
  ) {}

  get dtype(): DType {
    return this.storage.dtype;
  }

  get numel(): number {
    return this.shape.reduce((a, b) => a * b, 1);
  }

  /** True when the view is the C-contiguous run of `numel` elements starting at `offset`. */
  get contiguous(): boolean {
    if (this.numel === 0) return true;
    let expected = 1;
    for (let i = this.shape.length - 1; i >= 0; i--) {
      if (this.shape[i] !== 1 && this.stride[i] !== expected) return false;
      expected *= this.shape[i];
    }
    return true;
  }
}

/** Storage classes (`torch.FloatStorage`...) and the element type of their data. */
const STORAGE_TYPES: Readonly<Record<string, DType>> = {
  DoubleStorage: 'F64',
  FloatStorage: 'F32',
  HalfStorage: 'F16',
  BFloat16Storage: 'BF16',
  LongStorage: 'I64',
  IntStorage: 'I32',
  ShortStorage: 'I16',
  CharStorage: 'I8',
  ByteStorage: 'U8',
  BoolStorage: 'BOOL',
  UntypedStorage: 'U8',
};

/** torch dtype objects (`torch.float32`...), as pickled by name. */
const TORCH_DTYPES: Readonly<Record<string, DType>> = {
  float64: 'F64',
  double: 'F64',
  float32: 'F32',
  float: 'F32',
  float16: 'F16',
  half: 'F16',
  bfloat16: 'BF16',
  int64: 'I64',
  long: 'I64',
  int32: 'I32',
  int: 'I32',
  int16: 'I16',
  short: 'I16',
  int8: 'I8',
  uint8: 'U8',
  bool: 'BOOL',
};

/** A storage class named in a persistent id. */
class StorageType {
  constructor(readonly name: string, readonly dtype: DType) {}
}

/** A torch dtype object. */
export class TorchDType {
  constructor(readonly name: string, readonly dtype: DType) {}
}

function safeInt(v: unknown, what: string, min = 0): number {
  if (typeof v !== 'number' || !Number.isSafeInteger(v) || v < min) {
    throw new CheckpointError(`pth: ${what} is ${typeof v === 'number' ? v : `a ${describe(v)}`}, not an integer >= ${min}`);
  }
  return v;
}

function intTuple(v: unknown, what: string): number[] {
  const items = v instanceof PyTuple ? v.items : Array.isArray(v) ? v : null;
  if (!items) throw new CheckpointError(`pth: ${what} is a ${describe(v)}, not a tuple of integers`);
  if (items.length > 64) throw new CheckpointError(`pth: ${what} has ${items.length} dimensions`);
  return items.map((x, i) => safeInt(x, `${what}[${i}]`));
}

/** Builds a TensorRef for `_rebuild_tensor_v2` / `_rebuild_tensor`, checking it lies inside its storage. */
function rebuildTensor(args: readonly unknown[], fn: string): TensorRef {
  if (args.length < 4) throw new CheckpointError(`pth: ${fn} called with ${args.length} arguments, expected at least 4`);
  const storage = args[0];
  if (!(storage instanceof StorageHandle)) {
    throw new CheckpointError(`pth: ${fn} storage argument is a ${describe(storage)}, not a storage`);
  }
  const offset = safeInt(args[1], `${fn} storage offset`);
  const shape = intTuple(args[2], `${fn} size`);
  const stride = intTuple(args[3], `${fn} stride`);
  if (shape.length !== stride.length) {
    throw new CheckpointError(`pth: ${fn} size ${JSON.stringify(shape)} and stride ${JSON.stringify(stride)} differ in length`);
  }
  const ref = new TensorRef(storage.ref, offset, shape, stride);
  let numel = 1;
  let last = offset;
  for (let i = 0; i < shape.length; i++) {
    numel *= shape[i];
    last += Math.max(shape[i] - 1, 0) * stride[i];
    if (!Number.isSafeInteger(numel) || !Number.isSafeInteger(last)) {
      throw new CheckpointError(`pth: tensor of size ${JSON.stringify(shape)} is too large`);
    }
  }
  if (numel > 0 && last >= storage.ref.numel) {
    throw new CheckpointError(
      `pth: tensor (offset ${offset}, size ${JSON.stringify(shape)}, stride ${JSON.stringify(stride)}) reaches element ${last} of storage ${quote(storage.ref.key)} which has ${storage.ref.numel}`,
    );
  }
  return ref;
}

/** What a persistent id resolves to: wraps the StorageRef so only persistent ids can make one. */
class StorageHandle {
  constructor(readonly ref: StorageRef) {}
}

/** A torch.device value. */
class TorchDevice {
  constructor(readonly name: string) {}
}

function isTensor(v: unknown): v is TensorRef {
  return v instanceof TensorRef;
}

/**
 * The allow-list: `module.name` → the value the pickle gets. Functions are
 * implemented here; nothing is imported or executed.
 */
function makeGlobals(): Map<string, unknown> {
  const globals = new Map<string, unknown>();
  const fn = (module: string, name: string, call: (args: readonly unknown[]) => unknown): void => {
    globals.set(`${module}.${name}`, new PyGlobal(module, name, call));
  };
  fn('collections', 'OrderedDict', (args) => {
    const d = new Map<unknown, unknown>();
    if (args.length === 0) return d;
    const items = args[0];
    const list = items instanceof PyTuple ? items.items : Array.isArray(items) ? items : null;
    if (!list || args.length > 1) throw new CheckpointError('pth: OrderedDict called with unsupported arguments');
    for (const pair of list) {
      if (!(pair instanceof PyTuple) || pair.items.length !== 2) {
        throw new CheckpointError('pth: OrderedDict items are not (key, value) pairs');
      }
      d.set(pair.items[0], pair.items[1]);
    }
    return d;
  });
  fn('torch._utils', '_rebuild_tensor_v2', (args) => rebuildTensor(args, '_rebuild_tensor_v2'));
  fn('torch._utils', '_rebuild_tensor', (args) => rebuildTensor(args, '_rebuild_tensor'));
  const parameter = (name: string) => (args: readonly unknown[]) => {
    if (!isTensor(args[0])) throw new CheckpointError(`pth: ${name} data is a ${describe(args[0])}, not a tensor`);
    return args[0];
  };
  fn('torch._utils', '_rebuild_parameter', parameter('_rebuild_parameter'));
  fn('torch._utils', '_rebuild_parameter_with_state', parameter('_rebuild_parameter_with_state'));
  // _rebuild_from_type_v2(func, new_type, args, state): a tensor (or Parameter) subclass; call func(*args).
  fn('torch._tensor', '_rebuild_from_type_v2', (args) => {
    const [func, , inner] = args;
    if (!(func instanceof PyGlobal) || !func.call || !(inner instanceof PyTuple)) {
      throw new CheckpointError('pth: _rebuild_from_type_v2 called with unsupported arguments');
    }
    const result = func.call(inner.items);
    if (!isTensor(result)) throw new CheckpointError(`pth: _rebuild_from_type_v2 produced a ${describe(result)}`);
    return result;
  });
  globals.set('torch.Tensor', new PyGlobal('torch', 'Tensor'));
  globals.set('torch.nn.parameter.Parameter', new PyGlobal('torch.nn.parameter', 'Parameter'));
  fn('torch', 'Size', (args) => new PyTuple(intTuple(args[0], 'torch.Size')));
  fn('torch', 'device', (args) => {
    const [type, index] = args;
    if (typeof type !== 'string') throw new CheckpointError('pth: torch.device called with unsupported arguments');
    return new TorchDevice(index === undefined || index === null ? type : `${type}:${String(index)}`);
  });
  // Protocol-2 pickles of `bytes` go through _codecs.encode(text, 'latin1').
  fn('_codecs', 'encode', (args) => {
    const [text, encoding] = args;
    if (typeof text !== 'string' || (encoding !== 'latin1' && encoding !== 'latin-1')) {
      throw new CheckpointError('pth: _codecs.encode is only allowed for latin-1 bytes');
    }
    return Uint8Array.from(text, (c) => c.charCodeAt(0) & 0xff);
  });
  for (const [name, dtype] of Object.entries(STORAGE_TYPES)) {
    globals.set(`torch.${name}`, new StorageType(name, dtype));
    if (name === 'UntypedStorage') globals.set('torch.storage.UntypedStorage', new StorageType(name, dtype));
  }
  for (const [name, dtype] of Object.entries(TORCH_DTYPES)) globals.set(`torch.${name}`, new TorchDType(name, dtype));
  return globals;
}

const GLOBALS = makeGlobals();

/** Names of every allow-listed global, for documentation and tests. */
export const ALLOWED_GLOBALS: readonly string[] = [...GLOBALS.keys()];

/** Runs a torch state-dict pickle; returns the root value and the storages it refers to. */
export function unpickleCheckpoint(pickle: Uint8Array, options: { timeLimitMs?: number } = {}): {
  root: unknown;
  storages: StorageRef[];
} {
  const storages = new Map<string, StorageRef>();
  const root = unpickle(pickle, {
    timeLimitMs: options.timeLimitMs,
    findGlobal(module, name) {
      const value = GLOBALS.get(`${module}.${name}`);
      if (value === undefined) {
        throw new CheckpointError(
          `pth: the checkpoint's pickle names the global ${quote(`${module}.${name}`)}, which is not allowed (only torch tensor and container types are)`,
        );
      }
      return value;
    },
    persistentLoad(pid) {
      const items = pid instanceof PyTuple ? pid.items : null;
      if (!items || items.length !== 5 || items[0] !== 'storage') {
        throw new CheckpointError(`pth: unsupported persistent id (${describe(pid)}); expected ('storage', type, key, location, numel)`);
      }
      const [, type, key, location, numel] = items;
      if (!(type instanceof StorageType)) throw new CheckpointError(`pth: storage type is a ${describe(type)}`);
      if (typeof key !== 'string' || !/^[A-Za-z0-9_.-]{1,64}$/.test(key)) {
        throw new CheckpointError(`pth: storage key ${JSON.stringify(key) ?? describe(key)} is malformed`);
      }
      if (typeof location !== 'string') throw new CheckpointError(`pth: storage ${quote(key)} location is a ${describe(location)}`);
      const n = safeInt(numel, `storage ${quote(key)} size`);
      if (!Number.isSafeInteger(n * DTYPE_SIZE[type.dtype])) throw new CheckpointError(`pth: storage ${quote(key)} is too large`);
      const id = `${key}\u0000${type.dtype}`;
      let ref = storages.get(id);
      if (!ref) {
        ref = { key, dtype: type.dtype, numel: n, location };
        storages.set(id, ref);
      } else if (ref.numel !== n) {
        throw new CheckpointError(`pth: storage ${quote(key)} is declared with sizes ${ref.numel} and ${n}`);
      }
      return new StorageHandle(ref);
    },
  });
  return { root, storages: [...storages.values()] };
}

/** Keys tried, in order, when a checkpoint wraps its state dict in a dict. */
export const WRAPPER_KEYS: readonly string[] = [
  'state_dict',
  'model_state_dict',
  'model',
  'module',
  'net',
  'network',
  'ema',
  'model_ema',
  'ema_model',
  'params',
  'weights',
];

/** Prefixes added by DistributedDataParallel / DataParallel (`module.`) and torch.compile (`_orig_mod.`). */
export const WRAPPER_PREFIXES: readonly string[] = ['module.', '_orig_mod.'];

const MAX_NESTING = 32;

/**
 * Whether a value is, or (through nested dicts) holds, a tensor. Results are
 * cached per dict in `cache`, so shared sub-dicts are examined once.
 */
function hasTensors(v: unknown, cache: Map<unknown, boolean>, depth = 0): boolean {
  if (isTensor(v)) return true;
  if (!(v instanceof Map) || depth > MAX_NESTING) return false;
  const known = cache.get(v);
  if (known !== undefined) return known;
  cache.set(v, false); // a cycle back to this dict adds nothing
  let found = false;
  for (const x of v.values()) {
    if (hasTensors(x, cache, depth + 1)) {
      found = true;
      break;
    }
  }
  cache.set(v, found);
  return found;
}

export interface ExtractedStateDict {
  tensors: Array<[string, TensorRef]>;
  /** Keys followed from the checkpoint's root to the state dict ([] = the root itself). */
  source: string[];
  /** Prefixes removed from every name. */
  strippedPrefixes: string[];
  /** Entries of the state dict that are not tensors (ignored). */
  skipped: string[];
}

/**
 * Finds the state dict in an unpickled checkpoint and flattens it to
 * (name, tensor) pairs.
 *
 * The root is used when it holds tensors directly (or is a nested state
 * dict: it has one of `modelRoots` as a key). Otherwise the first of
 * WRAPPER_KEYS whose value holds tensors is followed (so `{'model': sd,
 * 'optimizer': ...}` gives `sd`), or the only dict-valued entry that holds
 * tensors; several candidates and no `key` is an error. `key` (a
 * '/'-separated path) picks the entry explicitly. Nested dicts of tensors
 * are flattened with '.'-joined names.
 */
export function extractStateDict(
  root: unknown,
  options: { key?: string; stripPrefixes?: boolean; modelRoots?: readonly string[] } = {},
): ExtractedStateDict {
  const roots = options.modelRoots ?? [];
  let node = root;
  const cache = new Map<unknown, boolean>();
  const source: string[] = [];
  const path = options.key ? options.key.split('/').filter((s) => s.length) : null;
  if (path) {
    for (const k of path) {
      if (!(node instanceof Map) || !node.has(k)) {
        throw new CheckpointError(`pth: the checkpoint has no entry ${quote([...source, k].join('/'))}`);
      }
      node = node.get(k);
      source.push(k);
    }
  }
  for (let depth = 0; ; depth++) {
    if (!(node instanceof Map)) {
      throw new CheckpointError(
        `pth: ${source.length ? `entry ${quote(source.join('/'))}` : 'the checkpoint'} is a ${describe(node)}, not a dict of tensors`,
      );
    }
    // Stop at a dict holding tensors directly, or a nested state dict ({'blocks': {...}} for roots ['blocks']).
    if (path || depth > 4 || roots.some((r) => (node as Map<unknown, unknown>).has(r)) || [...node.values()].some(isTensor)) break;
    const holders = [...node.entries()].filter(([, v]) => v instanceof Map && hasTensors(v, cache));
    if (holders.length === 0) throw new CheckpointError('pth: the checkpoint holds no tensors');
    const preferred = WRAPPER_KEYS.find((k) => holders.some(([hk]) => hk === k));
    if (preferred === undefined && holders.length > 1) {
      throw new CheckpointError(
        `pth: the checkpoint holds several dicts of tensors (${holders.map(([k]) => quote(String(k))).join(', ')}); choose one with the key option`,
      );
    }
    const [k, v] = preferred === undefined ? holders[0] : holders.find(([hk]) => hk === preferred)!;
    source.push(String(k));
    node = v;
  }

  const tensors: Array<[string, TensorRef]> = [];
  const skipped: string[] = [];
  const seen = new Set<unknown>();
  const walk = (d: Map<unknown, unknown>, prefix: string, depth: number): void => {
    if (seen.has(d)) return;
    seen.add(d);
    for (const [k, v] of d) {
      const name = prefix + String(k);
      if (isTensor(v)) tensors.push([name, v]);
      else if (v instanceof Map && depth < MAX_NESTING && hasTensors(v, cache)) walk(v, `${name}.`, depth + 1);
      else skipped.push(name);
    }
  };
  walk(node as Map<unknown, unknown>, '', 0);
  if (tensors.length === 0) throw new CheckpointError('pth: the state dict holds no tensors');

  const names = tensors.map(([n]) => n);
  const { names: stripped, prefixes } = options.stripPrefixes === false ? { names, prefixes: [] } : stripPrefixes(names, roots);
  return {
    tensors: tensors.map(([, t], i) => [stripped[i], t]),
    source,
    strippedPrefixes: prefixes,
    skipped,
  };
}

/**
 * Removes wrapper prefixes from tensor names: any leading `module.` /
 * `_orig_mod.` segments, then — given `modelRoots`, the first name segments
 * of the model's tensors, when no name starts with one and all names share
 * up to three leading segments (a Lightning-style `model.`) whose removal
 * yields such names — those segments. Two names becoming one is an error.
 */
export function stripPrefixes(names: readonly string[], modelRoots: readonly string[] = []): { names: string[]; prefixes: string[] } {
  const prefixes = new Set<string>();
  let out = names.map((n) => {
    let s = n;
    for (let again = true; again; ) {
      again = false;
      for (const p of WRAPPER_PREFIXES) {
        if (s.startsWith(p) && s.length > p.length) {
          s = s.slice(p.length);
          prefixes.add(p);
          again = true;
        }
      }
    }
    return s;
  });
  const looksModel = (list: string[]): boolean => list.some((n) => modelRoots.includes(n.split('.')[0]));
  if (modelRoots.length && !looksModel(out)) {
    // Try removing 1..3 shared leading segments; keep the first removal that yields the model's names.
    for (let k = 1; k <= 3; k++) {
      const lead = out[0]?.split('.').slice(0, k).join('.');
      if (!lead || !out.every((n) => n.startsWith(`${lead}.`) && n.length > lead.length + 1)) break;
      const candidate = out.map((n) => n.slice(lead.length + 1));
      if (looksModel(candidate)) {
        out = candidate;
        prefixes.add(`${lead}.`);
        break;
      }
    }
  }
  const seen = new Map<string, string>();
  out.forEach((n, i) => {
    const other = seen.get(n);
    if (other !== undefined) {
      throw new CheckpointError(`pth: tensors ${quote(other)} and ${quote(names[i])} both become ${quote(n)} after removing prefixes`, {
        tensor: n,
      });
    }
    seen.set(n, names[i]);
  });
  return { names: out, prefixes: [...prefixes] };
}

/** An inflater for deflated zip entries: raw deflate data in, `size` bytes out. */
export type Inflate = (compressed: Uint8Array, size: number) => Uint8Array;

export interface PthReadOptions {
  /** Path ('/'-separated) of the state dict inside a wrapped checkpoint; found automatically when absent. */
  key?: string;
  /** Remove `module.` / `_orig_mod.` style prefixes (default true). */
  stripPrefixes?: boolean;
  /**
   * First name segments of the model's tensors (e.g. `['blocks', 'var']`):
   * a dict with one of them as a key is a nested state dict, and a shared
   * leading segment whose removal yields such names is stripped.
   */
  modelRoots?: readonly string[];
  /** Check each entry's CRC-32 (default true). */
  verifyCrc?: boolean;
  /** Needed only for archives with deflated entries (torch.save never compresses). */
  inflate?: Inflate;
  /** Time limit for running the pickle, in ms (default 60 s). */
  timeLimitMs?: number;
}

/** Everything about a checkpoint except its tensor data: what the readers share. */
export interface PthIndex extends ExtractedStateDict {
  directory: ZipDirectory;
  /** The archive's top folder, e.g. `archive/`. */
  prefix: string;
  byteOrder: 'little' | 'big';
  /** The zip entry holding each storage key. */
  storageEntries: Map<string, { entry: ZipEntry; dataOffset: number }>;
}

/** Tensors may total up to 4x the archive size plus this (tied weights, broadcast views). */
const MAX_EXPANSION_SLACK = 64 * 1024 * 1024;

/** Largest data.pkl accepted (a state dict's pickle is a few MB even for large models). */
const MAX_PICKLE_BYTES = 1 << 30;

/** Reads and (if needed) inflates a whole entry, checking its CRC. */
export function* readEntry(
  entry: ZipEntry,
  directory: ZipDirectory,
  size: number,
  options: PthReadOptions,
): ReadStep<Uint8Array> {
  const start = yield* entryDataOffset(entry, directory, size);
  const raw = yield { offset: start, length: entry.compressedSize };
  if (raw.byteLength !== entry.compressedSize) throw new CheckpointError(`zip: short read of entry ${quote(entry.name)}`);
  const data = entry.method === 0 ? raw : inflateEntry(entry, raw, options.inflate);
  if (options.verifyCrc !== false) checkCrc(entry, crc32(data));
  return data;
}

export function inflateEntry(entry: ZipEntry, raw: Uint8Array, inflate: Inflate | undefined): Uint8Array {
  if (!inflate) {
    throw new CheckpointError(`zip: entry ${quote(entry.name)} is deflated; pass an inflate function to read it`);
  }
  let out: Uint8Array;
  try {
    out = inflate(raw, entry.uncompressedSize);
  } catch (e) {
    throw new CheckpointError(`zip: entry ${quote(entry.name)} does not inflate: ${(e as Error).message}`, { cause: e });
  }
  if (out.byteLength !== entry.uncompressedSize) {
    throw new CheckpointError(`zip: entry ${quote(entry.name)} inflates to ${out.byteLength} bytes, expected ${entry.uncompressedSize}`);
  }
  return out;
}

export function checkCrc(entry: ZipEntry, actual: number): void {
  if (actual !== entry.crc32) {
    throw new CheckpointError(
      `zip: entry ${quote(entry.name)} is corrupt (CRC-32 ${actual.toString(16).padStart(8, '0')}, expected ${entry.crc32.toString(16).padStart(8, '0')})`,
    );
  }
}

/**
 * Reads everything but the tensor data: the directory, the pickle, the byte
 * order, the state dict's tensor references and where each storage lies.
 */
export function* readPthIndex(size: number, options: PthReadOptions = {}): ReadStep<PthIndex> {
  const magic = yield { offset: 0, length: Math.min(4, size) };
  if (magic.byteLength < 4 || magic[0] !== 0x50 || magic[1] !== 0x4b || magic[2] !== 0x03 || magic[3] !== 0x04) {
    if (magic[0] === 0x80) {
      throw new CheckpointError(
        'pth: this is a legacy (pre-1.6, non-zip) torch.save file, which is not supported; re-save it with a recent PyTorch',
      );
    }
    throw new CheckpointError('pth: not a zip archive (a PyTorch checkpoint starts with "PK\\x03\\x04")');
  }
  const directory = yield* readZipDirectory(size);
  const pickles = [...directory.entries.keys()].filter((n) => /^[^/]+\/data\.pkl$/.test(n) || n === 'data.pkl');
  if (pickles.length === 0) throw new CheckpointError('pth: the archive has no data.pkl; not a PyTorch checkpoint');
  if (pickles.length > 1) throw new CheckpointError(`pth: the archive has several data.pkl (${pickles.map(quote).join(', ')})`);
  const prefix = pickles[0].slice(0, -'data.pkl'.length);
  const pklEntry = directory.entries.get(pickles[0])!;
  if (pklEntry.uncompressedSize > MAX_PICKLE_BYTES) {
    throw new CheckpointError(`pth: data.pkl is ${pklEntry.uncompressedSize} bytes, too large`);
  }
  const pickle = yield* readEntry(pklEntry, directory, size, options);

  let byteOrder: 'little' | 'big' = 'little';
  const orderEntry = directory.entries.get(`${prefix}byteorder`);
  if (orderEntry) {
    if (orderEntry.uncompressedSize > 16) throw new CheckpointError('pth: byteorder record is malformed');
    const text = new TextDecoder().decode(yield* readEntry(orderEntry, directory, size, options)).trim();
    if (text !== 'little' && text !== 'big') throw new CheckpointError(`pth: unknown byteorder ${JSON.stringify(text)}`);
    byteOrder = text;
  }

  const { root, storages } = unpickleCheckpoint(pickle, options);
  const extracted = extractStateDict(root, options);
  const used = new Set(extracted.tensors.map(([, t]) => t.storage));
  // Views may share or broadcast a storage, but a few bytes of pickle must not expand into gigabytes.
  const total = extracted.tensors.reduce((sum, [, t]) => sum + t.numel * DTYPE_SIZE[t.dtype], 0);
  const allowed = 4 * size + MAX_EXPANSION_SLACK;
  if (total > allowed) {
    throw new CheckpointError(
      `pth: the state dict's tensors total ${total} bytes, far more than the ${size}-byte archive holds (tensors sharing or broadcasting storage?)`,
    );
  }
  const storageEntries = new Map<string, { entry: ZipEntry; dataOffset: number }>();
  for (const ref of storages) {
    if (!used.has(ref)) continue;
    const name = `${prefix}data/${ref.key}`;
    const entry = directory.entries.get(name);
    if (!entry) throw new CheckpointError(`pth: storage ${quote(ref.key)} is missing from the archive (no ${quote(name)})`);
    const bytes = ref.numel * DTYPE_SIZE[ref.dtype];
    if (entry.uncompressedSize !== bytes) {
      throw new CheckpointError(
        `pth: storage ${quote(ref.key)} holds ${entry.uncompressedSize} bytes but ${ref.numel} ${ref.dtype} elements need ${bytes}`,
      );
    }
    if (!storageEntries.has(ref.key)) {
      storageEntries.set(ref.key, { entry, dataOffset: yield* entryDataOffset(entry, directory, size) });
    }
  }
  return { ...extracted, directory, prefix, byteOrder, storageEntries };
}

/** Reverses the bytes of each `itemsize`-byte element in place (big-endian storages). */
export function swapBytes(bytes: Uint8Array, itemsize: number): void {
  if (itemsize === 1) return;
  for (let i = 0; i + itemsize <= bytes.byteLength; i += itemsize) {
    for (let a = i, b = i + itemsize - 1; a < b; a++, b--) {
      const t = bytes[a];
      bytes[a] = bytes[b];
      bytes[b] = t;
    }
  }
}

/**
 * Copies a strided view out of storage bytes into C order. `storage` holds
 * the storage's bytes from element `base` on.
 */
export function gather(ref: TensorRef, storage: Uint8Array, base = 0): Uint8Array {
  const size = DTYPE_SIZE[ref.dtype];
  const numel = ref.numel;
  const out = new Uint8Array(numel * size);
  if (numel === 0) return out;
  if (ref.contiguous) {
    const from = (ref.offset - base) * size;
    out.set(storage.subarray(from, from + out.byteLength));
    return out;
  }
  const { shape, stride } = ref;
  const rank = shape.length;
  // Copy whole innermost rows when they are contiguous, else element by element.
  const inner = rank > 0 && stride[rank - 1] === 1 ? shape[rank - 1] : 1;
  const outer = rank > 0 && inner > 1 ? rank - 1 : rank;
  const index = new Array<number>(outer).fill(0);
  const run = inner * size;
  let src = ref.offset - base;
  for (let o = 0; o < out.byteLength; o += run) {
    out.set(storage.subarray(src * size, src * size + run), o);
    for (let d = outer - 1; d >= 0; d--) {
      if (++index[d] < shape[d]) {
        src += stride[d];
        break;
      }
      src -= (shape[d] - 1) * stride[d];
      index[d] = 0;
    }
  }
  return out;
}

/** The span of storage elements [first, last] a tensor touches (numel > 0). */
export function storageSpan(ref: TensorRef): { first: number; last: number } {
  let last = ref.offset;
  for (let i = 0; i < ref.shape.length; i++) last += Math.max(ref.shape[i] - 1, 0) * ref.stride[i];
  return { first: ref.offset, last };
}

export interface PthCheckpoint {
  /** The state dict, C-contiguous little-endian, in the checkpoint's order. */
  tensors: Map<string, RawTensor>;
  /** Keys followed from the checkpoint's root to the state dict ([] = the root itself). */
  source: string[];
  strippedPrefixes: string[];
  /** Non-tensor entries of the state dict, ignored. */
  skipped: string[];
  /** The archive's top folder, e.g. `archive/`. */
  prefix: string;
  byteOrder: 'little' | 'big';
}

/**
 * Reads a PyTorch checkpoint held in memory. Tensors come out C-contiguous
 * and little-endian (views and big-endian storages are converted), with
 * their stored dtype. Throws CheckpointError for anything malformed or
 * disallowed.
 */
export function readPth(bytes: Uint8Array, options: PthReadOptions = {}): PthCheckpoint {
  const index = runSync(readPthIndex(bytes.byteLength, options), bytes);
  const storageBytes = new Map<string, Uint8Array>();
  const tensors = new Map<string, RawTensor>();
  for (const [name, ref] of index.tensors) {
    let storage = storageBytes.get(ref.storage.key);
    if (!storage) {
      const { entry } = index.storageEntries.get(ref.storage.key)!;
      storage = runSync(readEntry(entry, index.directory, bytes.byteLength, options), bytes);
      storageBytes.set(ref.storage.key, storage);
    }
    const data = gather(ref, storage);
    if (index.byteOrder === 'big') swapBytes(data, DTYPE_SIZE[ref.dtype]);
    tensors.set(name, { dtype: ref.dtype, shape: [...ref.shape], data });
  }
  return {
    tensors,
    source: index.source,
    strippedPrefixes: index.strippedPrefixes,
    skipped: index.skipped,
    prefix: index.prefix,
    byteOrder: index.byteOrder,
  };
}
