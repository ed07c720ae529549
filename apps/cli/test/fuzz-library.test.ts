/**
 * Hostile input to the library's public parsers and loaders, in process: a
 * valid .safetensors cut short at seeded offsets, with header bytes broken and
 * with a header length past the file (parseSafetensors, loadModel); a .pth cut
 * short and with bytes flipped (readPth, importCheckpoint); seeded strategy
 * text and JSON (parseStrategy); class counts that are no count
 * (seededLabels); and loadModel given text.
 *
 * A refusal must be an Error of the library's own (not JavaScript's TypeError
 * or RangeError), with a one-line message free of JavaScript's vocabulary.
 * Where a corruption may still leave a valid file (a flipped bit in tensor
 * data), the call may succeed instead; then what it returns must be sound.
 * Each case is a row; to add one, add a row.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CheckpointError, importCheckpoint, parseSafetensors, readPth } from '@tarflow/checkpoint';
import { loadModel } from '@tarflow/model';
import { parseStrategy, StrategyError, validateSamplingStrategy, type SamplingStrategy } from '@tarflow/solvers';
import { seededLabels, tf, ValueError } from '@tarflow/tensor';
import { mulberry32 } from '@tarflow/tensor/random';
import { fixturesDir, useBackend } from '@tarflow/test-fixtures';
import { EXPLAINED, INTERNAL } from './hostile.js';

const SEED = 20251207;
const SAFETENSORS = new Uint8Array(readFileSync(join(fixturesDir(), 'tiny-cond.safetensors')));
const PTH = new Uint8Array(readFileSync(join(fixturesDir(), 'tiny-uncond.pth')));
/** The header's length (the file's first 8 bytes, little-endian), and where the data starts. */
const HEADER_BYTES = Number(new DataView(SAFETENSORS.buffer, SAFETENSORS.byteOffset, 8).getBigUint64(0, true));
const DATA_START = 8 + HEADER_BYTES;
/** A strategy's model: 4 blocks of T = 36 tokens. */
const [BLOCKS, TOKENS] = [4, 36];

const rand = mulberry32(SEED);
const randInt = (lo: number, hi: number) => lo + Math.floor(rand() * (hi - lo));
const pick = <X>(xs: readonly X[]): X => xs[Math.floor(rand() * xs.length)];

/** The message with the caller's own text removed (a refused value is quoted back, and may say 'NaN'). */
function withoutUserText(message: string, inputs: string[]): string {
  let s = message;
  for (const a of [...inputs].sort((x, y) => y.length - x.length)) if (a.length > 0) s = s.split(a).join('');
  return s.replace(/'[^']*'|"(?:[^"\\]|\\.)*"/g, "''").replace(EXPLAINED, '');
}

/** The error `f` throws, checked to be a clean refusal (or null when `mayPass` and it returned). */
function refusal(f: () => unknown, options: { mayPass?: boolean; inputs?: string[] } = {}): Error | null {
  let result: unknown;
  try {
    result = f();
  } catch (e) {
    expect(e).toBeInstanceOf(Error);
    expect(e, `${(e as Error).name}: ${(e as Error).message}`).not.toBeInstanceOf(TypeError);
    expect(e, `${(e as Error).name}: ${(e as Error).message}`).not.toBeInstanceOf(RangeError);
    expect(e, `${(e as Error).name}: ${(e as Error).message}`).not.toBeInstanceOf(SyntaxError);
    const message = (e as Error).message;
    expect(message.trim()).not.toBe('');
    expect(message).not.toContain('\n');
    expect(withoutUserText(message, options.inputs ?? [])).not.toMatch(INTERNAL);
    return e as Error;
  }
  expect(options.mayPass, 'accepted hostile input').toBe(true);
  (result as { dispose?: () => void } | null)?.dispose?.();
  return null;
}

/** A copy of `bytes` with the header length (first 8 bytes) set to `n`. */
function withHeaderLength(bytes: Uint8Array, n: bigint): Uint8Array {
  const out = bytes.slice();
  new DataView(out.buffer).setBigUint64(0, n, true);
  return out;
}

/** A copy of `bytes` with `at` set to `value`. */
function withByte(bytes: Uint8Array, at: number, value: number): Uint8Array {
  const out = bytes.slice();
  out[at] = value;
  return out;
}

interface ByteCase {
  name: string;
  bytes: () => Uint8Array;
  /** The corruption may leave a valid file (then the call may succeed). */
  mayPass?: boolean;
}

/** Corrupted copies of the .safetensors fixture. */
function safetensorsCases(): ByteCase[] {
  const cases: ByteCase[] = [];
  // Cut short: inside the length prefix, inside the header, inside the data.
  const cuts = [0, 1, 7, 8, 9, DATA_START - 1, DATA_START, DATA_START + 1, SAFETENSORS.length - 1];
  for (let i = 0; i < 16; i++) cuts.push(randInt(9, DATA_START));
  for (let i = 0; i < 25; i++) cuts.push(randInt(DATA_START, SAFETENSORS.length));
  for (const n of cuts) cases.push({ name: `cut to ${n} bytes`, bytes: () => SAFETENSORS.slice(0, n) });
  // A header byte replaced by a control character: never valid JSON.
  for (let i = 0; i < 20; i++) {
    const at = randInt(8, DATA_START);
    const value = randInt(1, 9);
    cases.push({ name: `header byte ${at} set to ${value}`, bytes: () => withByte(SAFETENSORS, at, value) });
  }
  // A header byte with one bit flipped: may still be valid JSON naming other tensors or values.
  for (let i = 0; i < 20; i++) {
    const at = randInt(8, DATA_START);
    const bit = randInt(0, 8);
    cases.push({ name: `header byte ${at} bit ${bit} flipped`, bytes: () => withByte(SAFETENSORS, at, SAFETENSORS[at] ^ (1 << bit)), mayPass: true });
  }
  // The header length past the file, zero, or inside the length prefix.
  for (const n of [0n, 1n, 2n, 7n, BigInt(SAFETENSORS.length), BigInt(SAFETENSORS.length - 7), 2n ** 32n, 2n ** 53n, 2n ** 64n - 1n, BigInt(HEADER_BYTES + 1)]) {
    cases.push({ name: `header length ${n}`, bytes: () => withHeaderLength(SAFETENSORS, n), mayPass: false });
  }
  return cases;
}

/** Corrupted copies of the .pth fixture (a zip archive of a pickle and tensor storages). */
function pthCases(): ByteCase[] {
  const cases: ByteCase[] = [];
  const cuts = [0, 1, 3, 4, 22, 30, PTH.length - 22, PTH.length - 1];
  for (let i = 0; i < 16; i++) cuts.push(randInt(0, PTH.length));
  for (const n of cuts) cases.push({ name: `cut to ${n} bytes`, bytes: () => PTH.slice(0, n) });
  // Flipped bytes where the structure lives: the first local header, the central directory and its end record.
  const tail = Math.min(PTH.length, 4096);
  for (let i = 0; i < 12; i++) {
    const at = i % 3 === 0 ? randInt(0, 64) : randInt(PTH.length - tail, PTH.length);
    cases.push({ name: `byte ${at} flipped`, bytes: () => withByte(PTH, at, PTH[at] ^ 0xff), mayPass: true });
  }
  // Anything at all inside: mostly tensor data.
  for (let i = 0; i < 6; i++) {
    const at = randInt(0, PTH.length);
    cases.push({ name: `byte ${at} set to 0`, bytes: () => withByte(PTH, at, 0), mayPass: true });
  }
  return cases;
}

/** Pieces of seeded random strategy text. */
const STRATEGY_PIECES = [
  '[', ']', '-', '0', '1', '4', '12', '35', '36', '100', '99999999999999999999', 'S', 'G', 'J', 'Else', 'Stack', 'GS', 'sequential', 'jacobi',
  'joint', ':', '(', ')', ',', ' ', 'tol', '1e-4', '0', 'NaN', 'Infinity', '-1', 'noise', 'zeros', 'table', 'guess', '0x10', '.', 'e', '{', '}', '"',
];
/** Values and field names of seeded random strategy JSON. */
const JSON_VALUES: unknown[] = [null, -1, 0, 1, 3, 35, 36, 1000, 1.5, 1e308, '3', 'noise', 'zeros', 'table', true, [], {}, 1e-4, 99999999999999999999];
const JSON_FIELDS = ['kind', 'modules', 'maxIterations', 'maxIteration', 'tolerance', 'guess', 'iterations', '__proto__', 'constructor'];
const KINDS: unknown[] = ['sequential', 'jacobi', 'joint', 'gs', null, 3, ''];

function randomObject(): Record<string, unknown> {
  const o: Record<string, unknown> = { kind: pick(KINDS) };
  for (let k = randInt(0, 4); k > 0; k--) o[pick(JSON_FIELDS)] = pick(JSON_VALUES);
  return o;
}

/** Seeded strategy texts: notation, JSON arrays of blocks and joint objects. */
function strategyTexts(n: number): string[] {
  const out: string[] = [];
  for (let i = 0; i < n; i++) {
    const form = i % 3;
    if (form === 0) out.push(Array.from({ length: randInt(1, 7) }, () => pick(STRATEGY_PIECES)).join(''));
    else if (form === 1) out.push(JSON.stringify(Array.from({ length: randInt(0, BLOCKS + 2) }, randomObject)));
    else {
      const text = JSON.stringify(randomObject());
      // Some JSON cut short.
      out.push(rand() < 0.2 ? text.slice(0, randInt(1, text.length)) : text);
    }
  }
  return out;
}

/** Named strategies that must be refused, with what the message must say. */
const REFUSED_STRATEGIES: Array<[string, RegExp]> = [
  ['[0-100-12-10]', /at most 35 modules/],
  ['[0-1000-12-10]', /at most 35 modules/],
  ['jacobi:99999999999999999999', /above the limit of 1000000/],
  ['joint:0x10', /positive integer in decimal digits/],
  ['joint:0', /joint/],
  ['jacobi:-1', /jacobi/],
  [JSON.stringify([{ kind: 'jacobi', modules: null, maxIterations: 3 }, ...Array(BLOCKS - 1).fill({ kind: 'sequential' })]), /modules/],
  [JSON.stringify([{ kind: 'jacobi', modules: 1000, maxIterations: 3 }, ...Array(BLOCKS - 1).fill({ kind: 'sequential' })]), /modules is 1000, above the limit of 35/],
  [JSON.stringify({ kind: 'joint', maxIteration: 3 }), /unknown field "maxIteration"/],
  [JSON.stringify([{ kind: 'sequential' }]), /1 block entries but the model has 4 blocks/],
  ['', /must not be empty/],
  ['   ', /must not be empty/],
  ['[', /strategy/],
  ['{', /strategy/],
];

describe('parseSafetensors and loadModel on corrupted .safetensors', () => {
  let before: number;
  beforeAll(async () => {
    await useBackend('cpu');
    before = tf.memory().numTensors;
  });
  afterAll(() => expect(tf.memory().numTensors, 'tensors left behind').toBe(before));

  const cases = safetensorsCases();
  it.each(cases.map((c, i) => [c.name, i] as const))('parseSafetensors: %s', (_name, i) => {
    const c = cases[i];
    const e = refusal(() => parseSafetensors(c.bytes()), { mayPass: c.mayPass });
    if (e && !c.mayPass) expect(e).toBeInstanceOf(CheckpointError);
  });
  it.each(cases.map((c, i) => [c.name, i] as const))('loadModel: %s', (_name, i) => {
    const c = cases[i];
    refusal(() => loadModel(c.bytes()), { mayPass: c.mayPass });
  });
});

describe('loadModel on what is no model', () => {
  const texts: Array<[string, () => unknown]> = [
    ['the text "text"', () => loadModel(new TextEncoder().encode('text'))],
    ['no bytes', () => loadModel(new Uint8Array(0))],
    ['JSON', () => loadModel(new TextEncoder().encode('{"config": {}}'))],
    ['a .pth', () => loadModel(PTH.slice())],
    ['a safetensors of no tensors', () => loadModel(withHeaderLength(new Uint8Array([0, 0, 0, 0, 0, 0, 0, 0, 0x7b, 0x7d]), 2n))],
  ];
  it.each(texts)('%s', (_name, f) => {
    expect(refusal(f)).not.toBeNull();
  });
  it("loadModel('text'): a one-line message naming what it expects", () => {
    let message = '';
    try {
      loadModel('text' as unknown as Uint8Array);
    } catch (e) {
      expect(e).toBeInstanceOf(Error);
      message = (e as Error).message;
    }
    expect(message).toMatch(/expected the bytes of a \.safetensors file .*got a string/);
    expect(message).not.toContain('\n');
  });
});

describe('readPth and importCheckpoint on corrupted .pth', () => {
  const cases = pthCases();
  it.each(cases.map((c, i) => [c.name, i] as const))('readPth: %s', (_name, i) => {
    const c = cases[i];
    const e = refusal(() => readPth(c.bytes()), { mayPass: c.mayPass });
    if (e && !c.mayPass) expect(e).toBeInstanceOf(CheckpointError);
  });
  it.each(cases.map((c, i) => [c.name, i] as const))('importCheckpoint: %s', (_name, i) => {
    const c = cases[i];
    refusal(() => importCheckpoint(c.bytes()), { mayPass: c.mayPass });
  });
});

describe('parseStrategy', () => {
  it.each(REFUSED_STRATEGIES)('refuses %s', (text, message) => {
    const e = refusal(() => parseStrategy(text, BLOCKS, TOKENS), { inputs: [text] });
    expect(e).toBeInstanceOf(StrategyError);
    expect(e!.message).toMatch(message);
  });

  const texts = strategyTexts(240);
  it.each(texts.map((t, i) => [t, i] as const))('seeded text %s: a valid strategy or a StrategyError', (text) => {
    let parsed: SamplingStrategy | undefined;
    const e = refusal(() => (parsed = parseStrategy(text, BLOCKS, TOKENS)), { mayPass: true, inputs: [text] });
    if (e) expect(e).toBeInstanceOf(StrategyError);
    else expect(() => validateSamplingStrategy(parsed, BLOCKS, TOKENS)).not.toThrow();
  });

  it.each([null, undefined, 7, {}, ['sequential']] as unknown[])('refuses a non-text strategy %s', (value) => {
    expect(refusal(() => parseStrategy(value, BLOCKS, TOKENS))).toBeInstanceOf(StrategyError);
  });
  it.each([0, -1, NaN, 1.5, Infinity])('refuses %s blocks', (n) => {
    expect(refusal(() => parseStrategy('sequential', n, TOKENS), { inputs: [String(n)] })).toBeInstanceOf(StrategyError);
  });
});

describe('seededLabels', () => {
  it.each([0, -1, -3, NaN, 2.5, Infinity, -Infinity, 2 ** 53])('refuses %s classes', (k) => {
    expect(refusal(() => seededLabels(0, [0, 1], k), { inputs: [String(k)] })).toBeInstanceOf(ValueError);
  });
});
