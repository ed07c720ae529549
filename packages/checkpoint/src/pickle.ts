/**
 * A pickle virtual machine that never executes code.
 *
 * Python's unpickler imports and calls whatever a pickle names; this one
 * resolves every global (GLOBAL / STACK_GLOBAL, INST) through a caller-given
 * allow-list and refuses anything else with a CheckpointError naming it.
 * Allowed globals are plain data here: a PyGlobal may carry a `call` handler
 * (used by REDUCE / NEWOBJ) that builds a JavaScript value from the
 * arguments; nothing is ever looked up by name at run time.
 *
 * Python values map to: None → null, bool → boolean, int → number (bigint
 * beyond 2^53), float → number, str → string, bytes → Uint8Array, list →
 * Array, tuple → PyTuple, dict → Map, set/frozenset → Set.
 *
 * The machine is bounded: each opcode consumes at least one byte of input,
 * so it runs in time linear in the pickle's size; the stack and memo sizes,
 * integer widths and string lengths are capped, and an optional deadline
 * stops a run that takes too long.
 */
import { CheckpointError } from './errors.js';

/** A Python tuple (immutable; distinct from a list). */
export class PyTuple {
  constructor(readonly items: readonly unknown[]) {}
}

/** An allowed global: a class, function or constant named by the pickle. */
export class PyGlobal {
  constructor(
    readonly module: string,
    readonly name: string,
    /** Builds the result of calling this global (REDUCE, NEWOBJ). Absent: not callable. */
    readonly call?: (args: readonly unknown[]) => unknown,
  ) {}

  get qualifiedName(): string {
    return `${this.module}.${this.name}`;
  }
}

export interface UnpickleOptions {
  /**
   * Resolves `module.name` to a value (usually a PyGlobal). Must throw for
   * anything not allow-listed; this VM has no globals of its own.
   */
  findGlobal: (module: string, name: string) => unknown;
  /** Resolves a persistent id (BINPERSID / PERSID). Absent: persistent ids are an error. */
  persistentLoad?: (pid: unknown) => unknown;
  /** Applies BUILD state to an object made by an allowed global. Absent: only dicts accept BUILD. */
  build?: (target: unknown, state: unknown) => void;
  /** Cap on the stack and on the memo (entries); default 10 million each. */
  maxItems?: number;
  /** Give up after this many milliseconds; default 60 s. */
  timeLimitMs?: number;
}

const DEFAULT_MAX_ITEMS = 10_000_000;
const DEFAULT_TIME_LIMIT_MS = 60_000;
/** Widest LONG1/LONG4 integer accepted, in bytes. */
const MAX_LONG_BYTES = 64;
/** Longest GLOBAL / PERSID text line. */
const MAX_LINE = 4096;

const utf8 = new TextDecoder('utf-8', { fatal: true });
const latin1 = new TextDecoder('latin1');

/** Opcode names, for messages. */
const OPCODE_NAMES: Record<number, string> = {
  0x28: 'MARK', 0x2e: 'STOP', 0x30: 'POP', 0x31: 'POP_MARK', 0x32: 'DUP', 0x46: 'FLOAT', 0x49: 'INT',
  0x4a: 'BININT', 0x4b: 'BININT1', 0x4c: 'LONG', 0x4d: 'BININT2', 0x4e: 'NONE', 0x50: 'PERSID',
  0x51: 'BINPERSID', 0x52: 'REDUCE', 0x53: 'STRING', 0x54: 'BINSTRING', 0x55: 'SHORT_BINSTRING',
  0x56: 'UNICODE', 0x58: 'BINUNICODE', 0x61: 'APPEND', 0x62: 'BUILD', 0x63: 'GLOBAL', 0x64: 'DICT',
  0x7d: 'EMPTY_DICT', 0x65: 'APPENDS', 0x67: 'GET', 0x68: 'BINGET', 0x69: 'INST', 0x6a: 'LONG_BINGET',
  0x6c: 'LIST', 0x5d: 'EMPTY_LIST', 0x6f: 'OBJ', 0x70: 'PUT', 0x71: 'BINPUT', 0x72: 'LONG_BINPUT',
  0x73: 'SETITEM', 0x74: 'TUPLE', 0x29: 'EMPTY_TUPLE', 0x75: 'SETITEMS', 0x47: 'BINFLOAT', 0x80: 'PROTO',
  0x81: 'NEWOBJ', 0x82: 'EXT1', 0x83: 'EXT2', 0x84: 'EXT4', 0x85: 'TUPLE1', 0x86: 'TUPLE2', 0x87: 'TUPLE3',
  0x88: 'NEWTRUE', 0x89: 'NEWFALSE', 0x8a: 'LONG1', 0x8b: 'LONG4', 0x42: 'BINBYTES', 0x43: 'SHORT_BINBYTES',
  0x8c: 'SHORT_BINUNICODE', 0x8d: 'BINUNICODE8', 0x8e: 'BINBYTES8', 0x8f: 'EMPTY_SET', 0x90: 'ADDITEMS',
  0x91: 'FROZENSET', 0x92: 'NEWOBJ_EX', 0x93: 'STACK_GLOBAL', 0x94: 'MEMOIZE', 0x95: 'FRAME',
  0x96: 'BYTEARRAY8', 0x97: 'NEXT_BUFFER', 0x98: 'READONLY_BUFFER',
};

/** A short description of a value's type, for messages. */
export function describe(v: unknown): string {
  if (v === null) return 'None';
  if (Array.isArray(v)) return 'list';
  if (v instanceof PyTuple) return 'tuple';
  if (v instanceof Map) return 'dict';
  if (v instanceof Set) return 'set';
  if (v instanceof Uint8Array) return 'bytes';
  if (v instanceof PyGlobal) return v.qualifiedName;
  if (typeof v === 'object') return (v as object).constructor?.name ?? 'object';
  return typeof v === 'number' ? (Number.isInteger(v) ? 'int' : 'float') : typeof v;
}

/** Runs a pickle and returns the value it builds. Throws CheckpointError on anything malformed or disallowed. */
export function unpickle(bytes: Uint8Array, options: UnpickleOptions): unknown {
  const maxItems = options.maxItems ?? DEFAULT_MAX_ITEMS;
  const deadline = Date.now() + (options.timeLimitMs ?? DEFAULT_TIME_LIMIT_MS);
  const data = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const end = bytes.byteLength;
  const stack: unknown[] = [];
  const marks: number[] = [];
  const memo = new Map<number, unknown>();
  let pos = 0;
  let opStart = 0;
  let op = 0;
  let ops = 0;

  const fail = (message: string): never => {
    const name = OPCODE_NAMES[op] ?? `0x${op.toString(16).padStart(2, '0')}`;
    throw new CheckpointError(`pickle: ${message} (opcode ${name} at byte ${opStart})`);
  };
  const need = (n: number): number => {
    if (n < 0 || pos + n > end) fail(`truncated: ${n} more bytes needed, ${end - pos} left`);
    const at = pos;
    pos += n;
    return at;
  };
  const u8 = (): number => bytes[need(1)];
  const u16 = (): number => data.getUint16(need(2), true);
  const u32 = (): number => data.getUint32(need(4), true);
  const u64 = (): number => {
    const at = need(8);
    const v = data.getUint32(at + 4, true) * 4294967296 + data.getUint32(at, true);
    if (!Number.isSafeInteger(v)) fail(`length ${v} is too large`);
    return v;
  };
  const line = (): string => {
    const stop = bytes.subarray(pos, Math.min(end, pos + MAX_LINE)).indexOf(0x0a);
    if (stop < 0) fail('unterminated text line');
    const text = latin1.decode(bytes.subarray(pos, pos + stop));
    pos += stop + 1;
    return text;
  };
  const push = (v: unknown): void => {
    if (stack.length >= maxItems) fail(`stack exceeds ${maxItems} items`);
    stack.push(v);
  };
  const floor = (): number => (marks.length ? marks[marks.length - 1] : 0);
  const pop = (): unknown => {
    if (stack.length <= floor()) fail('stack underflow');
    return stack.pop();
  };
  const top = (): unknown => {
    if (stack.length <= floor()) fail('stack underflow');
    return stack[stack.length - 1];
  };
  const popMark = (): unknown[] => {
    if (!marks.length) fail('no MARK to pop to');
    return stack.splice(marks.pop()!);
  };
  const text = (n: number): string => {
    const at = need(n);
    try {
      return utf8.decode(bytes.subarray(at, at + n));
    } catch {
      return fail('string is not valid UTF-8');
    }
  };
  const blob = (n: number): Uint8Array => {
    const at = need(n);
    return bytes.slice(at, at + n);
  };
  const long = (n: number): number | bigint => {
    if (n > MAX_LONG_BYTES) fail(`${n}-byte integer is too wide`);
    const at = need(n);
    if (n === 0) return 0;
    let v = 0n;
    for (let i = n - 1; i >= 0; i--) v = (v << 8n) | BigInt(bytes[at + i]);
    if (bytes[at + n - 1] & 0x80) v -= 1n << BigInt(8 * n);
    return v >= BigInt(Number.MIN_SAFE_INTEGER) && v <= BigInt(Number.MAX_SAFE_INTEGER) ? Number(v) : v;
  };
  const memoPut = (index: number, v: unknown): void => {
    if (!memo.has(index) && memo.size >= maxItems) fail(`memo exceeds ${maxItems} entries`);
    memo.set(index, v);
  };
  const memoGet = (index: number): void => {
    if (!memo.has(index)) fail(`memo key ${index} is not defined`);
    push(memo.get(index));
  };
  const global = (module: string, name: string): void => {
    push(options.findGlobal(module, name));
  };
  const call = (callable: unknown, args: unknown, how: string): void => {
    if (!(args instanceof PyTuple)) fail(`${how} arguments are a ${describe(args)}, not a tuple`);
    if (!(callable instanceof PyGlobal) || !callable.call) fail(`${how} target ${describe(callable)} is not callable`);
    const fn = callable as PyGlobal;
    push(fn.call!((args as PyTuple).items));
  };
  const dictOf = (v: unknown, how: string): Map<unknown, unknown> => {
    if (!(v instanceof Map)) fail(`${how} on a ${describe(v)}, not a dict`);
    return v as Map<unknown, unknown>;
  };
  const listOf = (v: unknown, how: string): unknown[] => {
    if (!Array.isArray(v)) fail(`${how} on a ${describe(v)}, not a list`);
    return v as unknown[];
  };
  const hashable = (k: unknown): unknown => {
    if (Array.isArray(k) || k instanceof Map || k instanceof Set) fail(`unhashable dict key or set item (${describe(k)})`);
    return k;
  };

  for (;;) {
    if (pos >= end) {
      op = 0;
      opStart = pos;
      fail('truncated: no STOP opcode');
    }
    if ((++ops & 0xfff) === 0 && Date.now() > deadline) fail(`took longer than ${options.timeLimitMs ?? DEFAULT_TIME_LIMIT_MS} ms`);
    opStart = pos;
    op = bytes[pos++];
    switch (op) {
      case 0x80: { // PROTO
        const proto = u8();
        if (proto > 5) fail(`unsupported protocol ${proto}`);
        break;
      }
      case 0x95: // FRAME: framing is only a buffering hint.
        u64();
        break;
      case 0x2e: // STOP
        if (marks.length) fail('STOP inside an unclosed MARK');
        return pop();
      case 0x28: // MARK
        if (marks.length >= maxItems) fail(`more than ${maxItems} open MARKs`);
        marks.push(stack.length);
        break;
      case 0x30: // POP
        pop();
        break;
      case 0x31: // POP_MARK
        popMark();
        break;
      case 0x32: // DUP
        push(top());
        break;
      case 0x4e: // NONE
        push(null);
        break;
      case 0x88: // NEWTRUE
        push(true);
        break;
      case 0x89: // NEWFALSE
        push(false);
        break;
      case 0x4a: // BININT
        push(data.getInt32(need(4), true));
        break;
      case 0x4b: // BININT1
        push(u8());
        break;
      case 0x4d: // BININT2
        push(u16());
        break;
      case 0x8a: // LONG1
        push(long(u8()));
        break;
      case 0x8b: { // LONG4
        const n = data.getInt32(need(4), true);
        if (n < 0) fail('negative LONG4 length');
        push(long(n));
        break;
      }
      case 0x49: { // INT (text; protocol 0 booleans are I00 / I01)
        const s = line();
        if (s === '00') push(false);
        else if (s === '01') push(true);
        else {
          if (!/^[+-]?\d{1,18}$/.test(s)) fail(`malformed INT ${JSON.stringify(s)}`);
          push(Number(s));
        }
        break;
      }
      case 0x47: // BINFLOAT (big-endian double)
        push(data.getFloat64(need(8), false));
        break;
      case 0x58: // BINUNICODE
        push(text(u32()));
        break;
      case 0x8c: // SHORT_BINUNICODE
        push(text(u8()));
        break;
      case 0x8d: // BINUNICODE8
        push(text(u64()));
        break;
      case 0x54: { // BINSTRING (Python 2 str): decoded as latin-1
        const n = data.getInt32(need(4), true);
        if (n < 0) fail('negative BINSTRING length');
        const at = need(n);
        push(latin1.decode(bytes.subarray(at, at + n)));
        break;
      }
      case 0x55: { // SHORT_BINSTRING
        const n = u8();
        const at = need(n);
        push(latin1.decode(bytes.subarray(at, at + n)));
        break;
      }
      case 0x43: // SHORT_BINBYTES
        push(blob(u8()));
        break;
      case 0x42: // BINBYTES
        push(blob(u32()));
        break;
      case 0x8e: // BINBYTES8
        push(blob(u64()));
        break;
      case 0x29: // EMPTY_TUPLE
        push(new PyTuple([]));
        break;
      case 0x85: // TUPLE1
        push(new PyTuple([pop()]));
        break;
      case 0x86: { // TUPLE2
        const b = pop();
        const a = pop();
        push(new PyTuple([a, b]));
        break;
      }
      case 0x87: { // TUPLE3
        const c = pop();
        const b = pop();
        const a = pop();
        push(new PyTuple([a, b, c]));
        break;
      }
      case 0x74: // TUPLE
        push(new PyTuple(popMark()));
        break;
      case 0x5d: // EMPTY_LIST
        push([]);
        break;
      case 0x6c: // LIST
        push(popMark());
        break;
      case 0x7d: // EMPTY_DICT
        push(new Map());
        break;
      case 0x64: { // DICT
        const items = popMark();
        if (items.length % 2) fail('odd number of items for DICT');
        const d = new Map<unknown, unknown>();
        for (let i = 0; i < items.length; i += 2) d.set(hashable(items[i]), items[i + 1]);
        push(d);
        break;
      }
      case 0x8f: // EMPTY_SET
        push(new Set());
        break;
      case 0x91: // FROZENSET
        push(new Set(popMark().map(hashable)));
        break;
      case 0x90: { // ADDITEMS
        const items = popMark();
        const s = top();
        if (!(s instanceof Set)) fail(`ADDITEMS on a ${describe(s)}, not a set`);
        for (const item of items) (s as Set<unknown>).add(hashable(item));
        break;
      }
      case 0x61: { // APPEND
        const v = pop();
        listOf(top(), 'APPEND').push(v);
        break;
      }
      case 0x65: { // APPENDS
        const items = popMark();
        const list = listOf(top(), 'APPENDS');
        for (const item of items) list.push(item);
        break;
      }
      case 0x73: { // SETITEM
        const v = pop();
        const k = pop();
        dictOf(top(), 'SETITEM').set(hashable(k), v);
        break;
      }
      case 0x75: { // SETITEMS
        const items = popMark();
        if (items.length % 2) fail('odd number of items for SETITEMS');
        const d = dictOf(top(), 'SETITEMS');
        for (let i = 0; i < items.length; i += 2) d.set(hashable(items[i]), items[i + 1]);
        break;
      }
      case 0x71: // BINPUT
        memoPut(u8(), top());
        break;
      case 0x72: // LONG_BINPUT
        memoPut(u32(), top());
        break;
      case 0x94: // MEMOIZE
        memoPut(memo.size, top());
        break;
      case 0x70: { // PUT (text)
        const s = line();
        if (!/^\d{1,10}$/.test(s)) fail(`malformed PUT index ${JSON.stringify(s)}`);
        memoPut(Number(s), top());
        break;
      }
      case 0x68: // BINGET
        memoGet(u8());
        break;
      case 0x6a: // LONG_BINGET
        memoGet(u32());
        break;
      case 0x67: { // GET (text)
        const s = line();
        if (!/^\d{1,10}$/.test(s)) fail(`malformed GET index ${JSON.stringify(s)}`);
        memoGet(Number(s));
        break;
      }
      case 0x63: { // GLOBAL
        const module = line();
        const name = line();
        global(module, name);
        break;
      }
      case 0x93: { // STACK_GLOBAL
        const name = pop();
        const module = pop();
        if (typeof module !== 'string' || typeof name !== 'string') fail('STACK_GLOBAL needs two strings');
        global(module as string, name as string);
        break;
      }
      case 0x51: { // BINPERSID
        const pid = pop();
        if (!options.persistentLoad) fail('persistent ids are not allowed here');
        push(options.persistentLoad!(pid));
        break;
      }
      case 0x50: { // PERSID (text)
        const pid = line();
        if (!options.persistentLoad) fail('persistent ids are not allowed here');
        push(options.persistentLoad!(pid));
        break;
      }
      case 0x52: { // REDUCE
        const args = pop();
        const callable = pop();
        call(callable, args, 'REDUCE');
        break;
      }
      case 0x81: { // NEWOBJ: cls.__new__(cls, *args), for allowed classes the same as a call
        const args = pop();
        const cls = pop();
        call(cls, args, 'NEWOBJ');
        break;
      }
      case 0x92: { // NEWOBJ_EX: keyword arguments are not supported
        const kwargs = pop();
        const args = pop();
        const cls = pop();
        if (!(kwargs instanceof Map) || kwargs.size) fail('NEWOBJ_EX with keyword arguments is not supported');
        call(cls, args, 'NEWOBJ_EX');
        break;
      }
      case 0x62: { // BUILD
        const state = pop();
        const target = top();
        if (target instanceof Map) {
          // A dict subclass's instance state (e.g. a state_dict's `_metadata`): checked, not kept.
          if (!(state === null || state instanceof Map || state instanceof PyTuple)) {
            fail(`BUILD state for a dict is a ${describe(state)}`);
          }
        } else if (options.build) {
          options.build(target, state);
        } else {
          fail(`BUILD on a ${describe(target)} is not supported`);
        }
        break;
      }
      default: {
        const name = OPCODE_NAMES[op];
        fail(name ? `opcode ${name} is not supported` : `unknown opcode 0x${op.toString(16).padStart(2, '0')}`);
      }
    }
  }
}
