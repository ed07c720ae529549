import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import { afterAll, describe, expect, it } from 'vitest';
import {
  DatasetError,
  FASHION_MNIST_CLASSES,
  FASHION_MNIST_DIR_ENV,
  fashionMnistStatus,
  IDX_IMAGES_MAGIC,
  IDX_LABELS_MAGIC,
  loadDataset,
  loadFashionMnist,
  loadIdx,
  parseIdx,
} from '../src/index.js';

/** Builds an unsigned-byte IDX file: magic, big-endian dims, data. */
function idx(magic: number, dims: number[], data: ArrayLike<number>): Uint8Array {
  const out = new Uint8Array(4 + 4 * dims.length + data.length);
  const view = new DataView(out.buffer);
  view.setUint32(0, magic, false);
  dims.forEach((d, i) => view.setUint32(4 + 4 * i, d, false));
  out.set(Array.from(data), 4 + 4 * dims.length);
  return out;
}

const tmp = mkdtempSync(join(tmpdir(), 'tarflow-idx-'));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

/** Three 2x3 images with pixel values k*6 + p (p = 0..5), labels 2, 0, 1. */
const pixels = Array.from({ length: 18 }, (_, i) => i * 15);
const imagesIdx = idx(IDX_IMAGES_MAGIC, [3, 2, 3], pixels);
const labelsIdx = idx(IDX_LABELS_MAGIC, [3], [2, 0, 1]);

function write(name: string, bytes: Uint8Array): string {
  const p = join(tmp, name);
  writeFileSync(p, bytes);
  return p;
}

function thrown(fn: () => unknown): DatasetError {
  try {
    fn();
  } catch (err) {
    expect(err).toBeInstanceOf(DatasetError);
    return err as DatasetError;
  }
  throw new Error('expected a DatasetError');
}

describe('IDX parsing', () => {
  it('parses a small IDX image/label pair, plain and gzipped', () => {
    const parsed = parseIdx(imagesIdx, 'mem', IDX_IMAGES_MAGIC);
    expect(parsed.dims).toEqual([3, 2, 3]);
    expect(Array.from(parsed.data)).toEqual(pixels);

    const plain = loadIdx(write('img', imagesIdx), write('lab', labelsIdx), { numClasses: 3 });
    expect([plain.count, plain.channels, plain.height, plain.width, plain.numClasses]).toEqual([3, 1, 2, 3, 3]);
    expect(Array.from(plain.labels)).toEqual([2, 0, 1]);
    expect(plain.images[0]).toBe(-1);
    expect(plain.images[17]).toBe(1); // 255
    expect(plain.images[1]).toBeCloseTo(15 / 127.5 - 1, 6);
    expect(plain.name).toBe('img');

    const gz = loadIdx(write('img.gz', gzipSync(imagesIdx)), write('lab.gz', gzipSync(labelsIdx)));
    expect(Array.from(gz.images)).toEqual(Array.from(plain.images));
    expect(gz.numClasses).toBe(3); // max label + 1

    // A name without .gz finds the .gz file.
    write('only.gz', gzipSync(imagesIdx));
    expect(loadIdx(join(tmp, 'only'), join(tmp, 'lab')).count).toBe(3);
    expect(loadIdx(join(tmp, 'img'), join(tmp, 'lab'), { limit: 2 }).count).toBe(2);
  });

  it('rejects a truncated IDX file, naming it', () => {
    const file = write('short-img', imagesIdx.subarray(0, imagesIdx.length - 4));
    const err = thrown(() => loadIdx(file, join(tmp, 'lab')));
    expect(err.file).toBe(file);
    expect(err.message).toContain(file);
    expect(err.message).toMatch(/truncated IDX file: dimensions 3x2x3 need 18 data bytes, found 14/);
    expect(thrown(() => parseIdx(imagesIdx.subarray(0, 10), 'hdr')).message).toMatch(/^hdr: truncated IDX file/);
    expect(thrown(() => parseIdx(imagesIdx.subarray(0, 2), 'tiny')).message).toMatch(/truncated/);
    const gzFile = write('short.gz', gzipSync(imagesIdx).subarray(0, 20));
    expect(thrown(() => loadIdx(gzFile, join(tmp, 'lab'))).message).toMatch(/short\.gz: truncated or corrupt gzip/);
    expect(thrown(() => parseIdx(Uint8Array.from([...imagesIdx, 7]), 'long')).message).toMatch(/1 unexpected trailing bytes/);
  });

  it('rejects a wrong magic number, naming the file', () => {
    const err = thrown(() => loadIdx(join(tmp, 'lab'), join(tmp, 'img')));
    expect(err.message).toBe(`${join(tmp, 'lab')}: wrong magic number 0x00000801 (IDX labels), expected 0x00000803 (IDX images)`);
    const junk = write('junk', new TextEncoder().encode('hello world, not idx'));
    expect(thrown(() => loadIdx(junk, join(tmp, 'lab'))).message).toMatch(/junk: wrong magic number 0x68656c6c/);
    expect(thrown(() => parseIdx(idx(0x00000d01, [1], [0]), 'f32')).message).toMatch(/unsupported IDX element type 0x0d/);
  });

  it('rejects an images/labels count mismatch', () => {
    const labels2 = write('lab2', idx(IDX_LABELS_MAGIC, [2], [0, 1]));
    const err = thrown(() => loadIdx(join(tmp, 'img'), labels2));
    expect(err.message).toBe(`${join(tmp, 'img')}: count mismatch: 3 images, but ${labels2} has 2 labels`);
  });

  it('rejects a missing file and out-of-range labels', () => {
    const missing = join(tmp, 'nope-images-idx3-ubyte');
    expect(thrown(() => loadIdx(missing, join(tmp, 'lab'))).message).toMatch(/nope-images-idx3-ubyte: file not found/);
    expect(thrown(() => loadIdx(join(tmp, 'img'), join(tmp, 'lab'), { numClasses: 2 })).message).toMatch(/lab: label 2 at index 0 is outside \[0, 2\)/);
  });
});

describe('Fashion-MNIST', () => {
  it('loads from any folder given by dir or by the environment variable', () => {
    const dir = mkdtempSync(join(tmp, 'fashion-'));
    writeFileSync(join(dir, 'train-images-idx3-ubyte.gz'), gzipSync(imagesIdx));
    writeFileSync(join(dir, 'train-labels-idx1-ubyte.gz'), gzipSync(labelsIdx));
    writeFileSync(join(dir, 't10k-images-idx3-ubyte'), idx(IDX_IMAGES_MAGIC, [1, 2, 3], pixels.slice(0, 6)));
    writeFileSync(join(dir, 't10k-labels-idx1-ubyte'), idx(IDX_LABELS_MAGIC, [1], [9]));
    const train = loadFashionMnist({ dir, split: 'train' });
    expect(train.name).toBe('fashion-mnist/train');
    expect(train.numClasses).toBe(10);
    expect(train.classNames?.[train.labels[0]]).toBe('Pullover');
    const before = process.env[FASHION_MNIST_DIR_ENV];
    process.env[FASHION_MNIST_DIR_ENV] = dir;
    try {
      const all = loadFashionMnist({ split: 'all' });
      expect(all.count).toBe(4);
      expect(all.classNames?.[all.labels[3]]).toBe('Ankle boot');
      expect(loadDataset('fashion-mnist', { split: 'test' }).count).toBe(1);
    } finally {
      if (before === undefined) delete process.env[FASHION_MNIST_DIR_ENV];
      else process.env[FASHION_MNIST_DIR_ENV] = before;
    }
  });

  it('explains how to get the files when they are missing', () => {
    const err = thrown(() => loadFashionMnist({ dir: join(tmp, 'no-such-dir') }));
    expect(err.message).toMatch(/Fashion-MNIST not found.*dataset-fashion-mnist.*TARFLOW_FASHION_MNIST_DIR/);
  });

  const status = fashionMnistStatus();
  const why = status.available
    ? `from ${status.dir}`
    : `SKIPPED: Fashion-MNIST IDX files not found in ${status.dir} (missing ${status.missing.join(', ')}); ` +
      `run 'apt-get install dataset-fashion-mnist' or set ${FASHION_MNIST_DIR_ENV}`;
  if (!status.available) console.warn(`[@tarflow/data] real Fashion-MNIST test ${why}`);

  it.skipIf(!status.available)(`loads the real Fashion-MNIST (60,000 + 10,000) ${why}`, () => {
    const test = loadFashionMnist({ split: 'test' });
    expect([test.count, test.channels, test.height, test.width]).toEqual([10000, 1, 28, 28]);
    expect(test.classNames).toEqual([...FASHION_MNIST_CLASSES]);
    const perClass = new Array<number>(10).fill(0);
    for (const l of test.labels) perClass[l]++;
    expect(perClass).toEqual(new Array<number>(10).fill(1000));
    const train = loadFashionMnist({ split: 'train' });
    expect(train.count).toBe(60000);
    expect(Math.min(...train.images.subarray(0, 784))).toBe(-1);
    expect(Math.max(...train.images.subarray(0, 784))).toBeGreaterThan(0.9);
  });
});
