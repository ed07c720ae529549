import { mkdtemp, readFile, readdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { crc32 as zlibCrc32 } from 'node:zlib';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  CheckpointError,
  crc32,
  importCheckpoint,
  readPth,
  serializeSafetensors,
  toFloat32,
  unpickleCheckpoint,
  type ConversionInput,
  type RawTensor,
} from '../src/index.js';
import { convertCheckpoint, readPthFile, readSafetensorsFile } from '../src/node.js';
import { Call, G, ODict, Pickler, TensorPickle, Tuple, toZip64, writePth, writeZip, type PickleValue } from './builders.js';
import { MODELS, fixture } from './fixtures.js';

function sameTensors(actual: Map<string, RawTensor>, expected: Map<string, RawTensor>): void {
  expect([...actual.keys()]).toEqual(expect.arrayContaining([...expected.keys()]));
  expect(actual.size).toBe(expected.size);
  for (const [name, e] of expected) {
    const a = actual.get(name)!;
    expect({ name, dtype: a.dtype, shape: a.shape }).toEqual({ name, dtype: e.dtype, shape: e.shape });
    expect(Buffer.from(a.data).equals(Buffer.from(e.data)), `bytes of ${name}`).toBe(true);
  }
}

function thrown(fn: () => unknown): Error {
  try {
    fn();
  } catch (e) {
    return e as Error;
  }
  throw new Error('expected an error');
}

/** Expects a CheckpointError whose message matches. */
function expectCheckpointError(fn: () => unknown, pattern: RegExp): void {
  const e = thrown(fn);
  expect(e).toBeInstanceOf(CheckpointError);
  expect(e.message).toMatch(pattern);
}

const f32 = (values: number[]): Uint8Array => new Uint8Array(new Float32Array(values).buffer);
const u32 = (n: number): number[] => [n & 0xff, (n >>> 8) & 0xff, (n >>> 16) & 0xff, (n >>> 24) & 0xff];

let dir: string;
beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'tarflow-pth-'));
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

/** A model's names start with these segments (what a model package passes as modelRoots). */
const ROOTS = { modelRoots: ['blocks', 'var'] } as const;

describe('reference fixtures: .pth converts to the matching .safetensors', () => {
  for (const model of MODELS) {
    it(`${model}.pth → tensors identical to ${model}.safetensors, with the metadata the callback gives`, async () => {
      const reference = await readSafetensorsFile(fixture(`${model}.safetensors`));
      const out = join(dir, `${model}.safetensors`);
      const seen: ConversionInput[] = [];
      const metadata = (input: ConversionInput) => {
        seen.push(input);
        return { format: 'test', tensors: String(input.tensors.size) };
      };
      const result = await convertCheckpoint(fixture(`${model}.pth`), out, { metadata });
      const converted = await readSafetensorsFile(out);
      sameTensors(converted.tensors, reference.tensors);
      expect(converted.metadata).toEqual({ format: 'test', tensors: String(reference.tensors.size) });
      expect(seen).toHaveLength(1);
      expect(seen[0]).toMatchObject({ format: 'pth', metadata: {}, fileName: `${model}.pth` });
      expect(new Map([...seen[0].tensors].map(([n, t]) => [n, [t.dtype, [...t.shape]]]))).toEqual(
        new Map([...reference.tensors].map(([n, t]) => [n, [t.dtype, [...t.shape]]])),
      );
      expect(result).toMatchObject({ format: 'pth', tensors: reference.tensors.size, source: [], strippedPrefixes: [], metadata: converted.metadata });
      expect((await readdir(dir)).filter((f) => f.endsWith('.tmp'))).toEqual([]);

      // The in-memory reader and converter agree with the streaming one.
      const bytes = new Uint8Array(await readFile(fixture(`${model}.pth`)));
      const pth = readPth(bytes);
      sameTensors(pth.tensors, reference.tensors);
      expect([...pth.tensors.keys()]).toEqual([...reference.tensors.keys()]);
      expect(pth.prefix).toBe(`${model}/`);
      const imported = importCheckpoint(bytes, { metadata, fileName: `${model}.pth` });
      expect(Buffer.from(imported.bytes).equals(await readFile(out))).toBe(true);
    });
  }

  it('accepts a safetensors file exported from PyTorch, stripping module./_orig_mod. prefixes', async () => {
    const reference = await readSafetensorsFile(fixture('tiny-cond.safetensors'));
    const prefixed = new Map([...reference.tensors].map(([n, t]) => [`module._orig_mod.${n}`, t]));
    const input = join(dir, 'exported.safetensors');
    await writeFile(input, serializeSafetensors(prefixed, { format: 'pt' }));
    const out = join(dir, 'exported-out.safetensors');
    const result = await convertCheckpoint(input, out);
    expect(result).toMatchObject({ format: 'safetensors', strippedPrefixes: ['module.', '_orig_mod.'], metadata: { format: 'pt' } });
    const converted = await readSafetensorsFile(out);
    sameTensors(converted.tensors, reference.tensors);
    expect(converted.metadata).toEqual({ format: 'pt' });
  });

  it('without a metadata callback, a safetensors input keeps its metadata', async () => {
    const out = join(dir, 'again.safetensors');
    const result = await convertCheckpoint(fixture('tiny-uncond.safetensors'), out);
    const reference = await readSafetensorsFile(fixture('tiny-uncond.safetensors'));
    expect(result.metadata).toEqual(reference.metadata);
    expect(Buffer.from(await readFile(out)).equals(Buffer.from(serializeSafetensors(reference.tensors, reference.metadata)))).toBe(true);
  });

  it('a metadata callback that throws refuses the input and leaves no file', async () => {
    const out = join(dir, 'refused.safetensors');
    const refuse = () => {
      throw new CheckpointError('not a model this caller knows');
    };
    await expect(convertCheckpoint(fixture('tiny-uncond.pth'), out, { metadata: refuse })).rejects.toThrow(/not a model this caller knows/);
    expect((await readdir(dir)).filter((f) => f.startsWith('refused'))).toEqual([]);
  });
});

/** A synthetic state dict: storage '0' holds 0..5 as F32. */
const storage6 = { key: '0', dtype: 'F32' as const, numel: 6 };
const data6 = f32([0, 1, 2, 3, 4, 5]);

function pth(root: PickleValue, storages: Record<string, Uint8Array> = { '0': data6 }, options = {}): Uint8Array {
  return writePth(Pickler.dump(root), storages, options);
}

describe('PyTorch checkpoint layouts', () => {
  it('reads strided views, storage offsets and broadcast views as contiguous tensors', () => {
    const ckpt = pth(
      new ODict([
        ['transposed', new TensorPickle(storage6, [3, 2], [1, 3])],
        ['tail', new TensorPickle(storage6, [2], [1], 4)],
        ['broadcast', new TensorPickle(storage6, [2, 3], [0, 1], 1)],
        ['column', new TensorPickle(storage6, [2, 1], [3, 1], 2)],
        ['empty', new TensorPickle(storage6, [0, 3], [3, 1])],
        ['scalar', new TensorPickle(storage6, [], [], 5)],
      ]),
    );
    const t = readPth(ckpt).tensors;
    expect([...toFloat32(t.get('transposed')!)]).toEqual([0, 3, 1, 4, 2, 5]);
    expect([...toFloat32(t.get('tail')!)]).toEqual([4, 5]);
    expect([...toFloat32(t.get('broadcast')!)]).toEqual([1, 2, 3, 1, 2, 3]);
    expect([...toFloat32(t.get('column')!)]).toEqual([2, 5]);
    expect(t.get('empty')!).toMatchObject({ shape: [0, 3], data: new Uint8Array(0) });
    expect(t.get('scalar')!.shape).toEqual([]);
    expect([...toFloat32(t.get('scalar')!)]).toEqual([5]);
  });

  it('streams strided views and chunked copies through convertCheckpoint', async () => {
    // A minimal TarFlow-shaped model (D = 4, T = 4, C = 64) whose proj_in weight is a transposed view.
    const C = 64;
    const D = 4;
    const T = 4;
    const storages: Record<string, Uint8Array> = {};
    const entries: Array<[PickleValue, PickleValue]> = [];
    let key = 0;
    const add = (name: string, shape: number[], view?: { shape: number[]; stride: number[] }): void => {
      const numel = shape.reduce((a, b) => a * b, 1);
      const k = String(key++);
      storages[k] = f32(Array.from({ length: numel }, (_, i) => i + key / 8));
      const s = { key: k, dtype: 'F32' as const, numel };
      entries.push([name, view ? new TensorPickle(s, view.shape, view.stride) : new TensorPickle(s, shape)]);
    };
    add('var', [T, D]);
    add('blocks.0.pos_embed', [T, C]);
    add('blocks.0.proj_in.weight', [D, C], { shape: [C, D], stride: [1, C] });
    add('blocks.0.proj_in.bias', [C]);
    add('blocks.0.attn_blocks.0.mlp.main.0.weight', [4 * C, C]);
    add('blocks.0.proj_out.weight', [2 * D, C]);
    const bytes = writePth(Pickler.dump(new ODict(entries)), storages);
    const input = join(dir, 'strided.pth');
    await writeFile(input, bytes);
    const out = join(dir, 'strided.safetensors');
    const result = await convertCheckpoint(input, out, { chunkBytes: 24 });
    expect(result.tensors).toBe(6);
    const streamed = await readSafetensorsFile(out);
    sameTensors(streamed.tensors, readPth(bytes).tensors);
    const w = toFloat32(streamed.tensors.get('blocks.0.proj_in.weight')!);
    expect(w[1]).toBe(toFloat32({ dtype: 'F32', shape: [D * C], data: storages['2'] })[C]);
  });

  it('unwraps {"model": state_dict, ...} and strips DDP / torch.compile prefixes', () => {
    const ckpt = pth({
      epoch: 7,
      model: new ODict([
        ['module._orig_mod.blocks.0.proj_in.bias', new TensorPickle(storage6, [6])],
        ['module._orig_mod.var', new TensorPickle(storage6, [2, 3])],
        ['module._orig_mod.step', 3],
      ]),
      optimizer: { state: {}, param_groups: [{ lr: 0.001, betas: new Tuple([0.9, 0.95]) }] },
      args: { lr: 1e-4, name: 'afhq' },
    });
    const result = readPth(ckpt);
    expect([...result.tensors.keys()]).toEqual(['blocks.0.proj_in.bias', 'var']);
    expect(result.source).toEqual(['model']);
    expect(result.strippedPrefixes).toEqual(['module.', '_orig_mod.']);
    expect(result.skipped).toEqual(['module._orig_mod.step']);
    expect(readPth(ckpt, { stripPrefixes: false }).tensors.has('module._orig_mod.var')).toBe(true);
  });

  it("strips a Lightning-style shared prefix only when it reveals the model's names (modelRoots)", () => {
    const wrapped = pth({ state_dict: new ODict([['model.var', new TensorPickle(storage6, [6])]]) });
    expect([...readPth(wrapped, ROOTS).tensors.keys()]).toEqual(['var']);
    expect([...readPth(wrapped).tensors.keys()]).toEqual(['model.var']);
    const other = pth(new ODict([['encoder.weight', new TensorPickle(storage6, [6])]]));
    expect([...readPth(other, ROOTS).tensors.keys()]).toEqual(['encoder.weight']);
  });

  it('asks which state dict to use when several are present, and follows an explicit key', () => {
    const ckpt = pth({ a: new ODict([['x', new TensorPickle(storage6, [6])]]), b: { y: new TensorPickle(storage6, [6]) } });
    expectCheckpointError(() => readPth(ckpt), /several dicts of tensors \('a', 'b'\); choose one with the key option/);
    expect([...readPth(ckpt, { key: 'b' }).tensors.keys()]).toEqual(['y']);
    expectCheckpointError(() => readPth(ckpt, { key: 'c' }), /no entry 'c'/);
  });

  it('prefers the model over an EMA copy and flattens nested dicts of tensors', () => {
    const ckpt = pth({
      ema: { w: new TensorPickle(storage6, [6]) },
      model: { blocks: { '0': { w: new TensorPickle(storage6, [6]) } } },
    });
    const result = readPth(ckpt, ROOTS);
    expect(result.source).toEqual(['model']);
    expect([...result.tensors.keys()]).toEqual(['blocks.0.w']);
  });

  it('reads parameters, other dtypes, big-endian storages and deflated archives', async () => {
    const half = new Uint8Array(new Uint16Array([0x3c00, 0xc000]).buffer);
    const longs = new Uint8Array(new BigInt64Array([-1n, 1n << 40n]).buffer);
    const big = f32([1.5, -2]);
    for (let i = 0; i < big.length; i += 4) big.subarray(i, i + 4).reverse();
    const root = new ODict([
      ['p', new TensorPickle(storage6, [6], [1], 0, true)],
      ['h', new TensorPickle({ key: '1', dtype: 'F16', numel: 2 }, [2])],
      ['l', new TensorPickle({ key: '2', dtype: 'I64', numel: 2 }, [2])],
      ['b', new TensorPickle({ key: '3', dtype: 'BOOL', numel: 2 }, [2])],
    ]);
    const storages = { '0': data6, '1': half, '2': longs, '3': new Uint8Array([1, 0]) };
    const little = readPth(pth(root, storages)).tensors;
    expect(little.get('p')!.data).toEqual(data6);
    expect(little.get('h')!).toMatchObject({ dtype: 'F16', data: half });
    expect(little.get('l')!).toMatchObject({ dtype: 'I64', data: longs });
    expect(little.get('b')!).toMatchObject({ dtype: 'BOOL', data: new Uint8Array([1, 0]) });

    const bigEndian = readPth(pth(new ODict([['x', new TensorPickle({ key: '0', dtype: 'F32', numel: 2 }, [2])]]), { '0': big }, { byteorder: 'big' }));
    expect(bigEndian.byteOrder).toBe('big');
    expect([...toFloat32(bigEndian.tensors.get('x')!)]).toEqual([1.5, -2]);

    const deflated = pth(root, storages, { deflate: true, top: 'some_name' });
    expectCheckpointError(() => readPth(deflated), /entry 'some_name\/data.pkl' is deflated; pass an inflate function/);
    const path = join(dir, 'deflated.pth');
    await writeFile(path, deflated);
    const fromFile = await readPthFile(path);
    sameTensors(fromFile.tensors, little);
    expect(fromFile.prefix).toBe('some_name/');
  });

  it('reads ZIP64 archives (saturated directory fields, ZIP64 records and extra fields)', () => {
    const plain = pth(new ODict([['x', new TensorPickle(storage6, [6])]]));
    const zip64 = toZip64(plain);
    expect(new DataView(zip64.buffer).getUint32(zip64.length - 22 + 16, true)).toBe(0xffffffff);
    sameTensors(readPth(zip64).tensors, readPth(plain).tensors);
    const brokenLocator = zip64.slice();
    brokenLocator[zip64.length - 22 - 20] ^= 0xff;
    expectCheckpointError(() => readPth(brokenLocator), /ZIP64 end-of-central-directory locator is missing/);
  });

  it('reads a checkpoint without a byteorder record as little-endian', () => {
    const result = readPth(pth(new ODict([['x', new TensorPickle(storage6, [6])]]), { '0': data6 }, { byteorder: null }));
    expect(result.byteOrder).toBe('little');
    expect(result.tensors.get('x')!.data).toEqual(data6);
  });
});

describe('malformed and malicious checkpoints give clear CheckpointErrors', () => {
  let fixtureBytes: Uint8Array;
  beforeAll(async () => {
    fixtureBytes = new Uint8Array(await readFile(fixture('tiny-uncond.pth')));
  });
  const good = (): Uint8Array => pth(new ODict([['x', new TensorPickle(storage6, [6])]]));

  it('truncated archives', async () => {
    expectCheckpointError(() => readPth(fixtureBytes.slice(0, fixtureBytes.length >> 1)), /end-of-central-directory record not found/);
    expectCheckpointError(() => readPth(fixtureBytes.slice(0, fixtureBytes.length - 30)), /end-of-central-directory record not found/);
    expectCheckpointError(() => readPth(fixtureBytes.slice(0, 10)), /too short to be a zip archive/);
    expectCheckpointError(() => readPth(new Uint8Array(0)), /not a zip archive/);
    // Streaming: the error surfaces and nothing is written.
    const input = join(dir, 'truncated.pth');
    const out = join(dir, 'truncated.safetensors');
    await writeFile(input, fixtureBytes.slice(0, 1_000_000));
    await expect(convertCheckpoint(input, out)).rejects.toThrow(CheckpointError);
    expect((await readdir(dir)).filter((f) => f.startsWith('.truncated') || f === 'truncated.safetensors')).toEqual([]);
  });

  it('malformed zip structures', () => {
    const bytes = good();
    const eocd = bytes.length - 22;
    const cdOffset = new DataView(bytes.buffer).getUint32(eocd + 16, true);

    const badCentral = bytes.slice();
    badCentral[cdOffset] ^= 0xff;
    expectCheckpointError(() => readPth(badCentral), /zip: central directory entry 0 is malformed/);

    // Corrupt the local header of the second entry (byteorder), found through the central directory.
    const secondLocal = new DataView(bytes.buffer).getUint32(cdOffset + 46 + 'archive/data.pkl'.length + 42, true);
    const badLocal = bytes.slice();
    badLocal[secondLocal + 1] ^= 0xff;
    expectCheckpointError(() => readPth(badLocal), /zip: local header of entry 'archive\/byteorder' is malformed/);

    const pastEnd = bytes.slice();
    new DataView(pastEnd.buffer).setUint32(eocd + 16, bytes.length, true);
    expectCheckpointError(() => readPth(pastEnd), /zip: central directory .* overruns the end-of-directory record/);

    const tooMany = bytes.slice();
    new DataView(tooMany.buffer).setUint16(eocd + 10, 999, true);
    expectCheckpointError(() => readPth(tooMany), /cannot hold 999 entries/);

    const storageData = bytes.slice();
    const at = Buffer.from(storageData).indexOf(Buffer.from(data6));
    storageData[at + 5] ^= 0x10;
    expectCheckpointError(() => readPth(storageData), /entry 'archive\/data\/0' is corrupt \(CRC-32/);
    expect(readPth(storageData, { verifyCrc: false }).tensors.size).toBe(1);

    const noPickle = writeZip([{ name: 'archive/data/0', data: data6 }]);
    expectCheckpointError(() => readPth(noPickle), /no data.pkl; not a PyTorch checkpoint/);
    expectCheckpointError(() => readPth(new TextEncoder().encode('hello, world, this is text')), /not a zip archive/);
    expectCheckpointError(() => readPth(Pickler.dump(null)), /legacy \(pre-1.6, non-zip\) torch.save file/);
  });

  it('storages that do not match the pickle', () => {
    const missing = writePth(Pickler.dump(new ODict([['x', new TensorPickle({ key: '7', dtype: 'F32', numel: 6 }, [6])]])), { '0': data6 });
    expectCheckpointError(() => readPth(missing), /storage '7' is missing from the archive \(no 'archive\/data\/7'\)/);
    const wrongSize = pth(new ODict([['x', new TensorPickle({ key: '0', dtype: 'F32', numel: 8 }, [8])]]));
    expectCheckpointError(() => readPth(wrongSize), /storage '0' holds 24 bytes but 8 F32 elements need 32/);
    const outside = pth(new ODict([['x', new TensorPickle(storage6, [3, 2], [2, 1], 2)]]));
    expectCheckpointError(() => readPth(outside), /reaches element 7 of storage '0' which has 6/);
    const huge = pth(new ODict([['x', new TensorPickle(storage6, [1 << 20, 1 << 20], [0, 0])]]));
    expectCheckpointError(() => readPth(huge), /tensors total 4398046511104 bytes, far more than/);
  });

  it('malformed pickles', () => {
    const withPickle = (pickle: Uint8Array): Uint8Array => writePth(pickle, { '0': data6 });
    const valid = Pickler.dump(new ODict([['x', new TensorPickle(storage6, [6])]]));
    expectCheckpointError(() => readPth(withPickle(valid.slice(0, valid.length - 1))), /pickle: truncated: no STOP opcode/);
    expectCheckpointError(() => readPth(withPickle(valid.slice(0, 40))), /pickle: truncated/);
    expectCheckpointError(() => readPth(withPickle(Pickler.raw((p) => p.bytes(0xff)))), /pickle: unknown opcode 0xff/);
    expectCheckpointError(() => readPth(withPickle(Pickler.raw((p) => p.bytes(0x52)))), /pickle: stack underflow \(opcode REDUCE at byte 2\)/);
    expectCheckpointError(() => readPth(withPickle(Pickler.raw((p) => p.bytes(0x68, 9)))), /pickle: memo key 9 is not defined/);
    expectCheckpointError(() => readPth(withPickle(Pickler.raw((p) => p.bytes(0x58, 0xff, 0xff, 0xff, 0x7f)))), /pickle: truncated: 2147483647 more bytes needed/);
    expectCheckpointError(() => readPth(withPickle(Pickler.raw((p) => p.bytes(0x28, 0x4e)))), /STOP inside an unclosed MARK/);
    expectCheckpointError(() => readPth(withPickle(Pickler.raw((p) => p.bytes(0x69)))), /opcode INST is not supported/);
    expectCheckpointError(() => readPth(withPickle(Pickler.dump([1, 2]))), /the checkpoint is a list, not a dict of tensors/);
    expectCheckpointError(() => readPth(withPickle(Pickler.dump({ epoch: 3 }))), /holds no tensors/);
    expectCheckpointError(
      () => readPth(withPickle(Pickler.raw((p) => p.bytes(0x28).str('storage').str('x').bytes(0x74, 0x51)))),
      /unsupported persistent id \(tuple\)/,
    );
    expectCheckpointError(
      () => readPth(withPickle(Pickler.raw((p) => p.value(new Call(new G('torch._utils', '_rebuild_tensor_v2'), [1, 2, 3, 4]))))),
      /_rebuild_tensor_v2 storage argument is a int, not a storage/,
    );
  });

  it('pickles naming disallowed globals', () => {
    const withPickle = (pickle: Uint8Array): Uint8Array => writePth(pickle, { '0': data6 });
    // The classic payload: os.system('...') via GLOBAL + REDUCE.
    const osSystem = Pickler.raw((p) => p.global('os', 'system').bytes(0x28).str('echo pwned').bytes(0x74, 0x52));
    expectCheckpointError(() => readPth(withPickle(osSystem)), /global 'os.system', which is not allowed/);
    // builtins.eval through STACK_GLOBAL (protocol 4 style).
    const evalPayload = Pickler.raw((p) => p.str('builtins').str('eval').bytes(0x93).str('1+1').bytes(0x85, 0x52));
    expectCheckpointError(() => readPth(withPickle(evalPayload)), /global 'builtins.eval', which is not allowed/);
    // Hidden inside an otherwise valid state dict, never even called.
    const hidden = Pickler.dump(new ODict([['x', new TensorPickle(storage6, [6])], ['y', new G('subprocess', 'Popen')]]));
    expectCheckpointError(() => readPth(withPickle(hidden)), /global 'subprocess.Popen'/);
    for (const [module, name] of [
      ['posix', 'system'],
      ['__builtin__', 'getattr'],
      ['torch', 'load'],
      ['numpy.core.multiarray', '_reconstruct'],
      ['collections', 'defaultdict'],
    ]) {
      expectCheckpointError(() => readPth(withPickle(Pickler.raw((p) => p.global(module, name)))), new RegExp(`global '${module}.${name}', which is not allowed`));
    }
  });
});

describe('adversarial pickles stay fast and fail cleanly', () => {
  it('shared dict chains (2^30 paths through 31 dicts) are walked once', () => {
    const pickle = Pickler.raw((p) => {
      p.bytes(0x7d).put();
      let previous = p.lastMemo;
      p.bytes(0x28).str('t').tensor(new TensorPickle(storage6, [6])).bytes(0x75);
      for (let k = 0; k < 30; k++) {
        p.bytes(0x7d).put();
        const current = p.lastMemo;
        p.bytes(0x28).str('a').bytes(0x6a, ...u32(previous)).str('b').bytes(0x6a, ...u32(previous)).bytes(0x75);
        p.bytes(0x30); // pop the new dict; it stays reachable through the memo
        p.bytes(0x6a, ...u32(current));
        previous = current;
      }
      // Root: {'blocks': D30}
      p.bytes(0x7d).put().str('blocks').bytes(0x6a, ...u32(previous), 0x73);
    });
    const started = performance.now();
    const result = readPth(writePth(pickle, { '0': data6 }), ROOTS);
    expect(performance.now() - started).toBeLessThan(1000);
    expect(result.tensors.size).toBe(1);
    expect([...result.tensors.keys()][0]).toBe(`blocks.${'a.'.repeat(30)}t`);
  });

  it('deeply nested dicts do not overflow the JavaScript stack', () => {
    const depth = 20_000;
    const pickle = Pickler.raw((p) => {
      p.tensor(new TensorPickle(storage6, [6]));
      for (let i = 0; i < depth; i++) {
        p.bytes(0x72, ...u32(100_000 + i), 0x30); // LONG_BINPUT, POP
        p.bytes(0x7d).str('a').bytes(0x6a, ...u32(100_000 + i), 0x73); // {'a': previous}
      }
      p.bytes(0x72, ...u32(999_999), 0x30, 0x7d).str('blocks').bytes(0x6a, ...u32(999_999), 0x73);
    });
    expectCheckpointError(() => readPth(writePth(pickle, { '0': data6 }), ROOTS), /the state dict holds no tensors/);
  });

  it('the VM stops at its time limit', () => {
    // 200k list appends: fine for the VM, but not within a 0 ms limit.
    const pickle = Pickler.raw((p) => {
      p.bytes(0x5d);
      for (let i = 0; i < 200_000; i++) p.bytes(0x4e, 0x61);
    });
    expectCheckpointError(() => unpickleCheckpoint(pickle, { timeLimitMs: 0 }), /took longer than 0 ms/);
  });
});

describe('pickle VM and CRC', () => {
  it('crc32 matches zlib', () => {
    const data = new Uint8Array(10_007).map((_, i) => (i * 7919) & 0xff);
    expect(crc32(data)).toBe(zlibCrc32(data));
    expect(crc32(data.subarray(5000), crc32(data.subarray(0, 5000)))).toBe(zlibCrc32(data));
    expect(crc32(new Uint8Array(0))).toBe(0);
  });

  it('decodes the protocol-2..5 value opcodes torch checkpoints use', () => {
    const p = Pickler.raw((q) =>
      q
        .bytes(0x95, 1, 0, 0, 0, 0, 0, 0, 0) // FRAME
        .bytes(0x7d) // EMPTY_DICT
        .bytes(0x94) // MEMOIZE
        .bytes(0x28)
        .bytes(0x8c, 1, 0x61) // SHORT_BINUNICODE 'a'
        .float(-0.25)
        .bytes(0x8c, 1, 0x62)
        .bytes(0x8a, 2, 0xff, 0x7f) // LONG1 32767
        .bytes(0x8c, 1, 0x63)
        .bytes(0x8a, 1, 0xfe) // LONG1 -2
        .bytes(0x8c, 1, 0x64)
        .bytes(0x8a, 9, 0, 0, 0, 0, 0, 0, 0, 0, 1) // LONG1 2^64
        .bytes(0x8c, 1, 0x65)
        .bytes(0x43, 2, 7, 8) // SHORT_BINBYTES
        .bytes(0x8c, 1, 0x66)
        .bytes(0x4a, 0xff, 0xff, 0xff, 0xff) // BININT -1
        .bytes(0x8c, 1, 0x67)
        .bytes(0x8f, 0x28, 0x4b, 1, 0x4b, 2, 0x90) // EMPTY_SET + ADDITEMS
        .bytes(0x8c, 1, 0x68)
        .bytes(0x5d, 0x4e, 0x61, 0x88, 0x61) // [None, True]
        .bytes(0x75)
        .bytes(0x8c, 1, 0x69)
        .bytes(0x68, 0) // BINGET 0 (the dict itself)
        .bytes(0x73), // SETITEM
    );
    const root = readPthRoot(p) as Map<string, unknown>;
    expect(root.get('a')).toBe(-0.25);
    expect(root.get('b')).toBe(32767);
    expect(root.get('c')).toBe(-2);
    expect(root.get('d')).toBe(1n << 64n);
    expect(root.get('e')).toEqual(new Uint8Array([7, 8]));
    expect(root.get('f')).toBe(-1);
    expect(root.get('g')).toEqual(new Set([1, 2]));
    expect(root.get('h')).toEqual([null, true]);
    expect(root.get('i')).toBe(root);
  });

  it('caps integer widths', () => {
    const wide = Pickler.raw((p) => p.bytes(0x8a, 200, ...new Array(200).fill(1)));
    expectCheckpointError(() => readPthRoot(wide), /200-byte integer is too wide/);
  });
});

/** Runs just the pickle VM with the torch allow-list. */
function readPthRoot(pickle: Uint8Array): unknown {
  return unpickleCheckpoint(pickle).root;
}
