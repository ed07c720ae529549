import { mkdtemp, readdir, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  CheckpointError,
  f32Tensor,
  i64Tensor,
  parseSafetensors,
  serializeSafetensors,
  toFloat32,
  toInt32,
  type RawTensor,
} from '../src/index.js';
import { readSafetensorsFile, writeFileAtomic, writeSafetensorsFile } from '../src/node.js';
import { MODELS, fixture } from './fixtures.js';

/** Builds a safetensors file from a header object (or raw header text) and a data section. */
function build(header: unknown, data: Uint8Array = new Uint8Array(0), headerLength?: number): Uint8Array {
  const json = new TextEncoder().encode(typeof header === 'string' ? header : JSON.stringify(header));
  const out = new Uint8Array(8 + json.byteLength + data.byteLength);
  new DataView(out.buffer).setBigUint64(0, BigInt(headerLength ?? json.byteLength), true);
  out.set(json, 8);
  out.set(data, 8 + json.byteLength);
  return out;
}

function expectError(bytes: Uint8Array, pattern: RegExp): void {
  let caught: unknown;
  try {
    parseSafetensors(bytes);
  } catch (e) {
    caught = e;
  }
  expect(caught).toBeInstanceOf(CheckpointError);
  expect((caught as Error).message).toMatch(pattern);
}

const t = (dtype: string, shape: unknown, data_offsets: unknown): unknown => ({ dtype, shape, data_offsets });

function sameTensors(a: Map<string, RawTensor>, b: Map<string, RawTensor>): void {
  expect([...a.keys()].sort()).toEqual([...b.keys()].sort());
  for (const [name, x] of a) {
    const y = b.get(name)!;
    expect({ name, dtype: y.dtype, shape: y.shape }).toEqual({ name, dtype: x.dtype, shape: x.shape });
    expect(Buffer.from(y.data).equals(Buffer.from(x.data)), name).toBe(true);
  }
}

describe('reference fixtures round trip', () => {
  let dir: string;
  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'tarflow-ckpt-'));
  });
  afterAll(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  for (const model of MODELS) {
    it(`${model}.safetensors reads and writes back bit for bit`, async () => {
      const original = await readSafetensorsFile(fixture(`${model}.safetensors`));
      expect(original.tensors.size).toBeGreaterThan(100);
      const config = JSON.parse(original.metadata.config);
      expect(config.patch_size).toBe(2);

      // In memory.
      const again = parseSafetensors(serializeSafetensors(original.tensors, original.metadata));
      sameTensors(original.tensors, again.tensors);
      expect(again.metadata).toEqual(original.metadata);

      // Through the file system, atomically.
      const out = join(dir, `${model}.safetensors`);
      await writeSafetensorsFile(out, original.tensors, original.metadata);
      const reread = await readSafetensorsFile(out);
      sameTensors(original.tensors, reread.tensors);
      expect(reread.metadata.config).toBe(original.metadata.config);
      expect(await readdir(dir)).toEqual(expect.not.arrayContaining([expect.stringMatching(/\.tmp$/)]));
      // Same bytes as the in-memory serializer.
      expect(Buffer.from(await readFile(out)).equals(Buffer.from(serializeSafetensors(original.tensors, original.metadata)))).toBe(true);
    });
  }

  it('writeFileAtomic replaces a file and leaves no temporary file behind', async () => {
    const out = join(dir, 'atomic.bin');
    await writeFileAtomic(out, new Uint8Array([1, 2, 3]));
    await writeFileAtomic(out, new Uint8Array([4, 5]));
    expect([...(await readFile(out))]).toEqual([4, 5]);
    expect((await readdir(dir)).filter((f) => f.endsWith('.tmp'))).toEqual([]);
  });

  it('a failed write leaves the old file intact', async () => {
    const out = join(dir, 'keep.safetensors');
    await writeFileAtomic(out, new Uint8Array([9]));
    const bad: RawTensor = { dtype: 'F32', shape: [2], data: new Uint8Array(4) };
    await expect(writeSafetensorsFile(out, { bad })).rejects.toThrow(CheckpointError);
    expect([...(await readFile(out))]).toEqual([9]);
  });
});

describe('serializeSafetensors matches the reference library layout', () => {
  it('serializes like safetensors.serialize (test vector from the Rust crate)', () => {
    const data = f32Tensor([1, 2, 3], new Float32Array([0, 1, 2, 3, 4, 5]));
    const out = serializeSafetensors({ 'attn.0': data });
    expect([...out.subarray(0, 8)]).toEqual([64, 0, 0, 0, 0, 0, 0, 0]);
    expect(new TextDecoder().decode(out.subarray(8, 72))).toBe(
      '{"attn.0":{"dtype":"F32","shape":[1,2,3],"data_offsets":[0,24]}}',
    );
    const aligned = serializeSafetensors({ attn0: { ...data, shape: [1, 1, 2, 3] } });
    expect(new TextDecoder().decode(aligned.subarray(8, 80))).toBe(
      '{"attn0":{"dtype":"F32","shape":[1,1,2,3],"data_offsets":[0,24]}}       ',
    );
  });

  it('writes metadata first, then tensors by decreasing dtype rank and name', () => {
    const out = serializeSafetensors(
      {
        b: f32Tensor([1], new Float32Array([1])),
        a: f32Tensor([1], new Float32Array([2])),
        idx: i64Tensor([2], [3, -4]),
        flag: { dtype: 'BOOL', shape: [3], data: new Uint8Array([1, 0, 1]) },
      },
      { z: '1', a: '2' },
    );
    const n = Number(new DataView(out.buffer).getBigUint64(0, true));
    expect(n % 8).toBe(0);
    const header = new TextDecoder().decode(out.subarray(8, 8 + n));
    expect(header.trimEnd()).toBe(
      '{"__metadata__":{"a":"2","z":"1"},"idx":{"dtype":"I64","shape":[2],"data_offsets":[0,16]},' +
        '"a":{"dtype":"F32","shape":[1],"data_offsets":[16,20]},"b":{"dtype":"F32","shape":[1],"data_offsets":[20,24]},' +
        '"flag":{"dtype":"BOOL","shape":[3],"data_offsets":[24,27]}}',
    );
    const back = parseSafetensors(out);
    expect([...toInt32(back.tensors.get('idx')!, 'idx')]).toEqual([3, -4]);
    expect(back.metadata).toEqual({ z: '1', a: '2' });
  });

  it('serializes an empty file like the reference library', () => {
    expect([...serializeSafetensors({})]).toEqual([8, 0, 0, 0, 0, 0, 0, 0, 123, 125, 32, 32, 32, 32, 32, 32]);
    expect(parseSafetensors(serializeSafetensors({})).tensors.size).toBe(0);
  });

  it('rejects tensors whose data does not match their shape', () => {
    expect(() => serializeSafetensors({ w: { dtype: 'F32', shape: [3], data: new Uint8Array(8) } })).toThrow(
      /tensor 'w': data is 8 bytes but shape \[3\] of F32 needs 12/,
    );
  });
});

describe('parseSafetensors rejects malformed files', () => {
  const four = new Uint8Array(4);
  it('file shorter than 8 bytes', () => expectError(new Uint8Array(5), /5 bytes, shorter than the 8-byte/));
  it('header length past end of file', () => expectError(build('{}', four, 1000), /header length 1000 runs past the end/));
  it('huge header length', () => expectError(build('{}', four, 2 ** 40), /larger than the 100000000-byte limit/));
  it('header not UTF-8', () => {
    const bytes = build('{"a":1}');
    bytes[10] = 0xff;
    expectError(bytes, /not valid UTF-8/);
  });
  it('header not JSON', () => expectError(build('{"a":'), /not valid JSON/));
  it('header not an object', () => {
    expectError(build('[1,2]'), /not a JSON object/);
    expectError(build('null'), /not a JSON object/);
  });
  it('tensor entry not an object', () => expectError(build({ w: 3 }), /tensor 'w': entry is not a JSON object/));
  it('unknown dtype', () => expectError(build({ w: t('F8_E4M3', [1], [0, 1]) }, new Uint8Array(1)), /tensor 'w': unknown dtype "F8_E4M3"/));
  it('shape not an array of non-negative integers', () => {
    expectError(build({ w: t('F32', [-1], [0, 4]) }, four), /tensor 'w': shape \[-1\] is not an array of non-negative integers/);
    expectError(build({ w: t('F32', [1.5], [0, 4]) }, four), /tensor 'w': shape \[1.5\]/);
    expectError(build({ w: t('F32', '1', [0, 4]) }, four), /tensor 'w': shape "1"/);
  });
  it('data_offsets missing', () => expectError(build({ w: { dtype: 'F32', shape: [1] } }, four), /tensor 'w': data_offsets is missing/));
  it('data_offsets not two integers', () => {
    expectError(build({ w: t('F32', [1], [0]) }, four), /tensor 'w': data_offsets \[0\] is not a pair/);
    expectError(build({ w: t('F32', [1], [0, 4, 8]) }, four), /tensor 'w': data_offsets \[0,4,8\] is not a pair/);
    expectError(build({ w: t('F32', [1], [0, '4']) }, four), /tensor 'w': data_offsets \[0,"4"\] is not a pair/);
  });
  it('data_offsets begin after end', () => expectError(build({ w: t('F32', [1], [4, 0]) }, four), /tensor 'w': data_offsets \[4, 0\] begin after end/));
  it('offsets out of range of the data section', () =>
    expectError(build({ w: t('F32', [2], [0, 8]) }, four), /tensor 'w': data_offsets \[0, 8\] out of range of the data section \(4 bytes\)/));
  it('byte size not product(shape) * itemsize', () =>
    expectError(build({ w: t('F32', [2, 3], [0, 4]) }, four), /tensor 'w': byte size 4 .* does not match shape \[2,3\] of F32 \(24 bytes\)/));
  it('overlapping tensors', () =>
    expectError(
      build({ a: t('F32', [2], [0, 8]), b: t('F32', [2], [4, 12]) }, new Uint8Array(12)),
      /tensors 'a' and 'b' overlap/,
    ));
  it('gaps and unused bytes (rejected, like the reference library)', () => {
    expectError(build({ a: t('F32', [1], [0, 4]), b: t('F32', [1], [8, 12]) }, new Uint8Array(12)), /unused bytes 4\.\.8 .* before tensor 'b'/);
    expectError(build({ a: t('F32', [1], [0, 4]) }, new Uint8Array(8)), /4 unused bytes at the end/);
  });
  it('__metadata__ not a string-to-string map', () => {
    expectError(build({ __metadata__: { a: 1 } }), /__metadata__ is not a string-to-string map \(key 'a' has a number value\)/);
    expectError(build({ __metadata__: ['x'] }), /__metadata__ is not a string-to-string map/);
    expectError(build({ __metadata__: 'x' }), /__metadata__ is not a string-to-string map/);
  });
  it('accepts zero-size tensors and extra header padding', () => {
    const f = parseSafetensors(build('{"e":{"dtype":"F32","shape":[0,3],"data_offsets":[0,0]},"w":{"dtype":"F32","shape":[1],"data_offsets":[0,4]}}   ', four));
    expect(f.tensors.get('e')!.shape).toEqual([0, 3]);
    expect(f.tensors.get('w')!.data.byteLength).toBe(4);
  });
});

describe('value conversion', () => {
  it('converts every dtype to float32', () => {
    const half = new Uint8Array(new Uint16Array([0x3c00, 0xc000, 0x7c00, 0x0001]).buffer);
    expect([...toFloat32({ dtype: 'F16', shape: [4], data: half })]).toEqual([1, -2, Infinity, 2 ** -24]);
    const bf = new Uint8Array(new Uint16Array([0x3f80, 0xc040]).buffer);
    expect([...toFloat32({ dtype: 'BF16', shape: [2], data: bf })]).toEqual([1, -3]);
    const f64 = new Uint8Array(new Float64Array([0.1, -2]).buffer);
    expect([...toFloat32({ dtype: 'F64', shape: [2], data: f64 })]).toEqual([Math.fround(0.1), -2]);
    expect([...toFloat32(i64Tensor([3], [-5, 0, 2 ** 40]))]).toEqual([-5, 0, 2 ** 40]);
    expect([...toFloat32({ dtype: 'I8', shape: [2], data: new Uint8Array([255, 7]) })]).toEqual([-1, 7]);
    expect([...toFloat32({ dtype: 'BOOL', shape: [2], data: new Uint8Array([0, 1]) })]).toEqual([0, 1]);
  });

  it('reads the narrow integer and boolean dtypes alike into float32 and int32', () => {
    const cases: [RawTensor, number[]][] = [
      [{ dtype: 'I32', shape: [2], data: new Uint8Array(new Int32Array([-70000, 9]).buffer) }, [-70000, 9]],
      [{ dtype: 'I16', shape: [2], data: new Uint8Array(new Int16Array([-300, 12]).buffer) }, [-300, 12]],
      [{ dtype: 'I8', shape: [2], data: new Uint8Array([255, 7]) }, [-1, 7]],
      [{ dtype: 'U8', shape: [2], data: new Uint8Array([255, 7]) }, [255, 7]],
      [{ dtype: 'BOOL', shape: [3], data: new Uint8Array([0, 1, 1]) }, [0, 1, 1]],
    ];
    for (const [t, values] of cases) {
      expect([...toFloat32(t)], t.dtype).toEqual(values);
      expect([...toInt32(t)], t.dtype).toEqual(values);
    }
  });

  it('copies F32 into an aligned array even from an unaligned view', () => {
    const src = f32Tensor([2], new Float32Array([1.5, -2.25]));
    const shifted = new Uint8Array(9);
    shifted.set(src.data, 1);
    expect([...toFloat32({ dtype: 'F32', shape: [2], data: shifted.subarray(1) })]).toEqual([1.5, -2.25]);
  });

  it('converts integers to int32 and rejects out-of-range values, naming the tensor', () => {
    expect([...toInt32(i64Tensor([3], [-1, 2147483647, -2147483648]))]).toEqual([-1, 2147483647, -2147483648]);
    expect(() => toInt32(i64Tensor([1], [2 ** 31]), 'labels')).toThrow(/tensor 'labels': element 0 \(2147483648\)/);
    expect([...toInt32(f32Tensor([2], new Float32Array([3, -1])))]).toEqual([3, -1]);
    expect(() => toInt32(f32Tensor([1], new Float32Array([0.5])), 'x')).toThrow(CheckpointError);
  });

  it('checks shapes of constructed tensors', () => {
    expect(() => f32Tensor([2, 2], new Float32Array(3))).toThrow(/needs 4 values, got 3/);
    expect(() => i64Tensor([1], [0.5])).toThrow(/not a safe integer/);
  });
});
