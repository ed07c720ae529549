/**
 * convertCheckpoint streams: converting a checkpoint whose single tensor is
 * 48 MB must not hold the tensor (let alone input plus output) in memory.
 * The input is written to disk piece by piece so the test itself never holds
 * it either; memory is sampled while the conversion runs.
 */
import { mkdtemp, open, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { crc32 as zlibCrc32 } from 'node:zlib';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseSafetensorsHeader, readHeaderLength } from '../src/index.js';
import { convertCheckpoint } from '../src/node.js';
import { ODict, Pickler, TensorPickle } from './builders.js';

const MB = 1 << 20;
const TENSOR_MB = 48;

/** Writes a stored-entry zip whose entries are produced chunk by chunk. */
async function writeStreamingZip(
  path: string,
  entries: Array<{ name: string; size: number; chunks: () => Iterable<Uint8Array> }>,
): Promise<void> {
  const fh = await open(path, 'w');
  const central: Uint8Array[] = [];
  let offset = 0;
  const put = async (b: Uint8Array): Promise<void> => {
    await fh.write(b);
    offset += b.byteLength;
  };
  for (const e of entries) {
    let crc = 0;
    for (const c of e.chunks()) crc = zlibCrc32(c, crc);
    const name = new TextEncoder().encode(e.name);
    const local = new Uint8Array(30 + name.length);
    const l = new DataView(local.buffer);
    l.setUint32(0, 0x04034b50, true);
    l.setUint16(4, 20, true);
    l.setUint32(14, crc, true);
    l.setUint32(18, e.size, true);
    l.setUint32(22, e.size, true);
    l.setUint16(26, name.length, true);
    local.set(name, 30);
    const cd = new Uint8Array(46 + name.length);
    const c = new DataView(cd.buffer);
    c.setUint32(0, 0x02014b50, true);
    c.setUint16(4, 20, true);
    c.setUint16(6, 20, true);
    c.setUint32(16, crc, true);
    c.setUint32(20, e.size, true);
    c.setUint32(24, e.size, true);
    c.setUint16(28, name.length, true);
    c.setUint32(42, offset, true);
    cd.set(name, 46);
    central.push(cd);
    await put(local);
    for (const chunk of e.chunks()) await put(chunk);
  }
  const cdStart = offset;
  for (const cd of central) await put(cd);
  const eocd = new Uint8Array(22);
  const d = new DataView(eocd.buffer);
  d.setUint32(0, 0x06054b50, true);
  d.setUint16(8, entries.length, true);
  d.setUint16(10, entries.length, true);
  d.setUint32(12, offset - cdStart, true);
  d.setUint32(16, cdStart, true);
  await put(eocd);
  await fh.close();
}

describe('streaming conversion', () => {
  let dir: string;
  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'tarflow-stream-'));
  });
  afterAll(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it(`converts a checkpoint with a ${TENSOR_MB} MB tensor using far less memory than the tensor`, async () => {
    const rows = (TENSOR_MB * MB) / 4 / 1024;
    const numel = rows * 1024;
    const pickle = Pickler.dump(new ODict([['big', new TensorPickle({ key: '0', dtype: 'F32', numel }, [rows, 1024])]]));
    const piece = new Uint8Array(MB).map((_, i) => (i * 31) & 0xff);
    const input = join(dir, 'big.pth');
    await writeStreamingZip(input, [
      { name: 'archive/data.pkl', size: pickle.length, chunks: () => [pickle] },
      { name: 'archive/data/0', size: TENSOR_MB * MB, chunks: () => Array.from({ length: TENSOR_MB }, () => piece) },
    ]);

    const output = join(dir, 'big.safetensors');
    const before = process.memoryUsage().arrayBuffers;
    let peak = before;
    let samples = 0;
    const sample = (): void => {
      samples++;
      peak = Math.max(peak, process.memoryUsage().arrayBuffers);
    };
    const timer = setInterval(sample, 1);
    try {
      const result = await convertCheckpoint(input, output, { chunkBytes: MB });
      expect(result.tensors).toBe(1);
    } finally {
      clearInterval(timer);
    }
    sample();
    expect(samples).toBeGreaterThan(5); // the sampler really ran during the conversion
    expect(peak - before).toBeLessThan(8 * MB);

    // The output holds the tensor's bytes, checked a chunk at a time.
    const fh = await open(output, 'r');
    try {
      const size = (await fh.stat()).size;
      const prefix = new Uint8Array(8);
      await fh.read(prefix, 0, 8, 0);
      const n = readHeaderLength(prefix, size);
      const head = new Uint8Array(8 + n);
      await fh.read(head, 0, 8 + n, 0);
      const header = parseSafetensorsHeader(head, size);
      expect(header.entries).toEqual([{ name: 'big', dtype: 'F32', shape: [rows, 1024], begin: 0, end: TENSOR_MB * MB }]);
      const chunk = new Uint8Array(MB);
      for (let i = 0; i < TENSOR_MB; i += 7) {
        await fh.read(chunk, 0, MB, header.dataStart + i * MB);
        expect(Buffer.from(chunk).equals(Buffer.from(piece))).toBe(true);
      }
    } finally {
      await fh.close();
    }
  });
});
