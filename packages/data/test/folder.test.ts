import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PNG } from 'pngjs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { centerCropSquare, DatasetError, loadDataset, loadPngFolder, resizePlanar } from '../src/index.js';

/** Writes an RGBA PNG (with pngjs directly) whose pixels come from `color(x, y)`. */
function writePng(path: string, width: number, height: number, color: (x: number, y: number) => [number, number, number]): void {
  const png = new PNG({ width, height });
  for (let y = 0; y < height; y++) {
    for (let x = 0; x < width; x++) {
      const [r, g, b] = color(x, y);
      png.data.set([r, g, b, 255], (y * width + x) * 4);
    }
  }
  writeFileSync(path, PNG.sync.write(png));
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

let root: string;
beforeAll(() => {
  root = mkdtempSync(join(tmpdir(), 'tarflow-folder-'));
});
afterAll(() => rmSync(root, { recursive: true, force: true }));

function folder(name: string): string {
  const dir = join(root, name);
  mkdirSync(dir, { recursive: true });
  return dir;
}

describe('resampling', () => {
  it('area-averages when shrinking, keeps constants, crops the centre square', () => {
    // 4x4 -> 2x2 area: each output is the mean of a 2x2 block.
    const src = Float32Array.from({ length: 16 }, (_, i) => i);
    expect(Array.from(resizePlanar(src, 1, 4, 4, 2, 2))).toEqual([2.5, 4.5, 10.5, 12.5]);
    // 3 -> 2 uses fractional coverage: [0,1.5) and [1.5,3).
    const row = Float32Array.of(0, 3, 6);
    expect(Array.from(resizePlanar(row, 1, 1, 3, 1, 2))).toEqual([1, 5]);
    const flat = new Float32Array(7 * 5).fill(0.25);
    for (const v of resizePlanar(flat, 1, 7, 5, 11, 3)) expect(v).toBeCloseTo(0.25, 6);
    // Bilinear 2 -> 4 (half-pixel centres): 0, 0.25, 0.75, 1 of the way.
    expect(Array.from(resizePlanar(Float32Array.of(0, 4), 1, 1, 2, 1, 4))).toEqual([0, 1, 3, 4]);
    const wide = Float32Array.from({ length: 2 * 6 }, (_, i) => i);
    const { data, size } = centerCropSquare(wide, 1, 2, 6);
    expect(size).toBe(2);
    expect(Array.from(data)).toEqual([2, 3, 8, 9]);
  });
});

describe('PNG folders', () => {
  it('loads, centre-crops and resizes unlabelled images in sorted order', () => {
    const dir = folder('flat');
    // 8x4 image: left quarter and right quarter are cropped away, the centre 4x4 is white.
    writePng(join(dir, 'b.png'), 8, 4, (x) => (x >= 2 && x < 6 ? [255, 255, 255] : [0, 0, 0]));
    // 4x4 image, red top half, blue bottom half.
    writePng(join(dir, 'a.png'), 4, 4, (_x, y) => (y < 2 ? [255, 0, 0] : [0, 0, 255]));
    mkdirSync(join(dir, 'more'));
    writePng(join(dir, 'more', 'c.png'), 6, 6, () => [0, 0, 0]);
    writeFileSync(join(dir, '.DS_Store'), 'ignored');
    const ds = loadPngFolder(dir, { size: 2, channels: 3 });
    expect([ds.count, ds.channels, ds.height, ds.width, ds.numClasses]).toEqual([3, 3, 2, 2, 1]);
    expect(ds.classNames).toBeUndefined();
    expect(ds.name).toBe('flat');
    const img = (i: number): number[] => Array.from(ds.images.subarray(i * 12, (i + 1) * 12));
    // a.png: R plane [1,1,-1,-1], G plane all -1, B plane [-1,-1,1,1].
    expect(img(0)).toEqual([1, 1, -1, -1, -1, -1, -1, -1, -1, -1, 1, 1]);
    expect(img(1)).toEqual(new Array<number>(12).fill(1)); // b.png after the centre crop
    expect(img(2)).toEqual(new Array<number>(12).fill(-1)); // more/c.png
    const gray = loadPngFolder(dir, { size: 4, channels: 1 });
    expect(gray.channels).toBe(1);
    expect(gray.images[0]).toBeCloseTo((0.299 * 255) / 127.5 - 1, 5); // red → luma
  });

  it('labels images by sorted subfolder names', () => {
    const dir = folder('classes');
    for (const [cls, value] of [
      ['zebra', 200],
      ['cat', 50],
      ['dog', 120],
    ] as const) {
      mkdirSync(join(dir, cls));
      for (let k = 0; k < 2; k++) writePng(join(dir, cls, `${k}.png`), 10, 10, () => [value, value, value]);
    }
    const ds = loadPngFolder(dir, { size: 4, channels: 1, labels: 'subfolders' });
    expect(ds.classNames).toEqual(['cat', 'dog', 'zebra']);
    expect(ds.numClasses).toBe(3);
    expect(Array.from(ds.labels)).toEqual([0, 0, 1, 1, 2, 2]);
    expect(ds.images[0]).toBeCloseTo(50 / 127.5 - 1, 5);
    expect(ds.images[5 * 16]).toBeCloseTo(200 / 127.5 - 1, 5);
    const viaSpec = loadDataset(dir, { size: 4, channels: 1, labels: 'subfolders', split: 'test', testCount: 3 });
    expect(viaSpec.count).toBe(3);
    expect([...viaSpec.labels].sort()).toEqual([0, 1, 2]);
  });

  it('rejects a non-PNG file, naming it', () => {
    const dir = folder('mixed');
    writePng(join(dir, 'ok.png'), 4, 4, () => [1, 2, 3]);
    writeFileSync(join(dir, 'notes.txt'), 'hello');
    const err = thrown(() => loadPngFolder(dir, { size: 4 }));
    expect(err.file).toBe(join(dir, 'notes.txt'));
    expect(err.message).toMatch(/notes\.txt: not a PNG file/);
  });

  it('rejects a corrupt or mislabelled .png, naming it', () => {
    const dir = folder('corrupt');
    writePng(join(dir, 'ok.png'), 4, 4, () => [1, 2, 3]);
    writeFileSync(join(dir, 'fake.png'), 'GIF89a, not really a png');
    expect(thrown(() => loadPngFolder(dir, { size: 4 })).message).toMatch(/fake\.png: not a PNG file \(missing PNG signature\)/);
    const dir2 = folder('truncated');
    const png = new PNG({ width: 32, height: 32 });
    png.data.fill(128);
    writeFileSync(join(dir2, 'cut.png'), PNG.sync.write(png).subarray(0, 50));
    expect(thrown(() => loadPngFolder(dir2, { size: 4 })).message).toMatch(/cut\.png: corrupt PNG/);
  });

  it('gives clear errors for empty or missing folders', () => {
    const empty = folder('empty');
    expect(thrown(() => loadPngFolder(empty, { size: 4 })).message).toBe(`${empty}: folder contains no PNG images`);
    expect(thrown(() => loadPngFolder(empty, { size: 4, labels: 'subfolders' })).message).toMatch(/folder is empty/);
    const emptyClass = folder('empty-class');
    mkdirSync(join(emptyClass, 'a'));
    expect(thrown(() => loadPngFolder(emptyClass, { size: 4, labels: 'subfolders' })).message).toMatch(/empty-class\/a: class subfolder contains no PNG images/);
    expect(thrown(() => loadPngFolder(join(root, 'missing'), { size: 4 })).message).toMatch(/missing: folder not found/);
    expect(thrown(() => loadDataset(join(root, 'missing'))).message).toMatch(/unknown dataset/);
  });
});
