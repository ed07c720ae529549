import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { DatasetError, decodePng, encodePng, fromUint8Image, gridPng, imageGrid, isPng, saveGridPng, toUint8Image } from '../src/index.js';

describe('PNG encode/decode', () => {
  it('round-trips gray, RGB and RGBA pixels', () => {
    for (const channels of [1, 3, 4] as const) {
      const w = 5;
      const h = 3;
      const pixels = Uint8Array.from({ length: w * h * channels }, (_, i) => (i * 37) % 256);
      const bytes = encodePng(pixels, w, h, channels);
      expect(isPng(bytes)).toBe(true);
      const back = decodePng(bytes);
      expect([back.width, back.height, back.channels]).toEqual([w, h, channels]);
      expect(Array.from(back.pixels)).toEqual(Array.from(pixels));
    }
  });

  it('rejects bad input with clear errors', () => {
    expect(() => encodePng(new Uint8Array(5), 2, 2, 1)).toThrow(/expected 2x2x1 = 4 bytes, got 5/);
    expect(() => decodePng(new TextEncoder().encode('not a png'), 'x.png')).toThrow(DatasetError);
    expect(() => decodePng(new TextEncoder().encode('not a png'), 'x.png')).toThrow(/^x\.png: not a PNG file/);
    const good = encodePng(new Uint8Array(64 * 64).fill(9), 64, 64, 1);
    expect(() => decodePng(good.subarray(0, 40), 'cut.png')).toThrow(/^cut\.png: corrupt PNG/);
  });

  it('maps [-1, 1] floats to bytes with rounding and clamping', () => {
    expect(Array.from(toUint8Image([-1, 0, 1, -2, 2, Number.NaN, 0.5]))).toEqual([0, 128, 255, 0, 255, 0, 191]);
    const bytes = Uint8Array.from({ length: 256 }, (_, i) => i);
    expect(Array.from(toUint8Image(fromUint8Image(bytes)))).toEqual(Array.from(bytes));
  });
});

describe('image grids', () => {
  it('lays images out torchvision-style with padding', () => {
    // 5 gray 2x3 images, image k filled with a distinct value.
    const values = [-1, -0.5, 0, 0.5, 1];
    const images = new Float32Array(5 * 6);
    values.forEach((v, k) => images.fill(v, k * 6, (k + 1) * 6));
    const grid = imageGrid(images, [5, 1, 2, 3], { nrow: 3, padding: 1, padValue: 1 });
    expect([grid.width, grid.height, grid.channels]).toEqual([3 * 4 + 1, 2 * 3 + 1, 1]);
    const at = (x: number, y: number): number => grid.pixels[y * grid.width + x];
    expect(at(0, 0)).toBe(255); // padding
    expect(at(1, 1)).toBe(0); // image 0
    expect(at(5, 1)).toBe(toUint8Image([-0.5])[0]); // image 1
    expect(at(1 + 8, 2)).toBe(128); // image 2, second row of pixels
    expect(at(1, 4)).toBe(191); // image 3 starts the second grid row
    expect(at(5, 4)).toBe(255); // image 4
    expect(at(9, 4)).toBe(255); // empty cell keeps the pad value
  });

  it('gridPng round-trips through decodePng with the expected size', () => {
    const count = 10;
    const images = new Float32Array(count * 3 * 8 * 8);
    for (let i = 0; i < images.length; i++) images[i] = Math.sin(i) * 0.9;
    const bytes = gridPng(images, [count, 3, 8, 8], { nrow: 4 });
    const decoded = decodePng(bytes);
    // torchvision: 4 columns, 3 rows, padding 2: 4*(8+2)+2 = 42 by 3*(8+2)+2 = 32.
    expect([decoded.width, decoded.height, decoded.channels]).toEqual([42, 32, 3]);
    const grid = imageGrid(images, [count, 3, 8, 8], { nrow: 4 });
    expect(Array.from(decoded.pixels)).toEqual(Array.from(grid.pixels));
    // Pixel (x, y) of image 0, channel c sits at grid (2 + x, 2 + y).
    const x = 3;
    const y = 5;
    for (let c = 0; c < 3; c++) {
      expect(decoded.pixels[((2 + y) * 42 + 2 + x) * 3 + c]).toBe(toUint8Image([images[c * 64 + y * 8 + x]])[0]);
    }
    expect(decoded.pixels[0]).toBe(0); // default pad: black

    const dir = mkdtempSync(join(tmpdir(), 'tarflow-grid-'));
    try {
      const path = join(dir, 'nested', 'samples.png');
      expect(saveGridPng(path, images, [count, 3, 8, 8], { nrow: 4 })).toEqual({ width: 42, height: 32 });
      expect(Array.from(decodePng(readFileSync(path)).pixels)).toEqual(Array.from(grid.pixels));
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('rejects inconsistent shapes', () => {
    expect(() => imageGrid(new Float32Array(10), [1, 1, 3, 3])).toThrow(/needs 9 values, got 10/);
    expect(() => imageGrid(new Float32Array(8), [1, 2, 2, 2])).toThrow(/channels must be 1, 3 or 4/);
  });
});
