/**
 * PNG encoding/decoding (via pngjs) and torchvision-style image grids.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { dirname } from 'node:path';
import { PNG, type ColorType } from 'pngjs';
import type { ImageShape } from './dataset.js';
import { DatasetError } from './errors.js';

/** Channels of an interleaved 8-bit image: gray, RGB or RGBA. */
export type PngChannels = 1 | 3 | 4;

/** An 8-bit image with interleaved channels (`[height, width, channels]`, row-major). */
export interface RasterImage {
  pixels: Uint8Array;
  width: number;
  height: number;
  channels: PngChannels;
}

/** Options of {@link imageGrid} / {@link gridPng}. */
export interface GridOptions {
  /** Images per row (torchvision's `nrow`). Default 8. */
  nrow?: number;
  /** Pixels of padding between images and around the grid. Default 2. */
  padding?: number;
  /** Padding value in image units ([-1, 1], so -1 = black, 1 = white). Default -1. */
  padValue?: number;
}

const PNG_SIGNATURE = [0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a];
const COLOR_TYPE: Record<PngChannels, ColorType> = { 1: 0, 3: 2, 4: 6 };

/** True when `bytes` start with the 8-byte PNG signature. */
export function isPng(bytes: Uint8Array): boolean {
  if (bytes.length < PNG_SIGNATURE.length) return false;
  return PNG_SIGNATURE.every((b, i) => bytes[i] === b);
}

/**
 * Encodes 8-bit interleaved pixels (`[height, width, channels]`) as a PNG:
 * channels 1 → grayscale, 3 → RGB, 4 → RGBA. Returns the file bytes.
 */
export function encodePng(pixels: Uint8Array, width: number, height: number, channels: PngChannels): Uint8Array {
  if (!Number.isInteger(width) || !Number.isInteger(height) || width < 1 || height < 1) {
    throw new RangeError(`encodePng: width and height must be positive integers, got ${width}x${height}`);
  }
  const colorType = COLOR_TYPE[channels];
  if (colorType === undefined) throw new RangeError(`encodePng: channels must be 1, 3 or 4, got ${channels}`);
  if (pixels.length !== width * height * channels) {
    throw new RangeError(`encodePng: expected ${width}x${height}x${channels} = ${width * height * channels} bytes, got ${pixels.length}`);
  }
  const png = new PNG({ width: 1, height: 1 });
  png.width = width;
  png.height = height;
  png.data = Buffer.from(pixels.buffer, pixels.byteOffset, pixels.length);
  const out = PNG.sync.write(png, { colorType, inputColorType: colorType, inputHasAlpha: channels === 4, bitDepth: 8 });
  return new Uint8Array(out.buffer, out.byteOffset, out.length);
}

/**
 * Decodes PNG bytes to 8-bit interleaved pixels. Grayscale without alpha gives
 * 1 channel, colour or palette without alpha gives 3, anything with alpha
 * (including a tRNS chunk) gives 4 (RGBA). 16-bit images are scaled to 8 bits.
 * Throws DatasetError naming `file` (default `<png>`) for non-PNG or corrupt data.
 */
export function decodePng(bytes: Uint8Array, file = '<png>'): RasterImage {
  if (!isPng(bytes)) throw new DatasetError(file, 'not a PNG file (missing PNG signature)');
  let decoded: ReturnType<typeof PNG.sync.read>;
  try {
    decoded = PNG.sync.read(Buffer.from(bytes.buffer, bytes.byteOffset, bytes.length));
  } catch (err) {
    throw new DatasetError(file, `corrupt PNG: ${err instanceof Error ? err.message : String(err)}`, { cause: err });
  }
  const { width, height } = decoded;
  const rgba = decoded.data;
  const channels: PngChannels = decoded.alpha ? 4 : decoded.color || decoded.palette ? 3 : 1;
  if (channels === 4) return { pixels: new Uint8Array(rgba.buffer, rgba.byteOffset, width * height * 4), width, height, channels };
  const n = width * height;
  const pixels = new Uint8Array(n * channels);
  for (let i = 0; i < n; i++) {
    for (let c = 0; c < channels; c++) pixels[i * channels + c] = rgba[i * 4 + c];
  }
  return { pixels, width, height, channels };
}

/** Maps one value in [-1, 1] to a byte: `round((x + 1) * 127.5)` clamped to [0, 255]; NaN → 0. */
export function toUint8(x: number): number {
  const v = Math.round((x + 1) * 127.5);
  return v >= 255 ? 255 : v > 0 ? v : 0;
}

/** Element-wise {@link toUint8}: floats in [-1, 1] → bytes (layout unchanged). */
export function toUint8Image(values: ArrayLike<number>): Uint8Array {
  const out = new Uint8Array(values.length);
  for (let i = 0; i < values.length; i++) out[i] = toUint8(values[i]);
  return out;
}

/** Inverse of {@link toUint8}: a byte v → v / 127.5 - 1. */
export function fromUint8Image(bytes: ArrayLike<number>): Float32Array {
  const out = new Float32Array(bytes.length);
  for (let i = 0; i < bytes.length; i++) out[i] = bytes[i] / 127.5 - 1;
  return out;
}

/**
 * Tiles a batch of channel-first images in [-1, 1] (`shape = [count, channels, h, w]`,
 * channels 1, 3 or 4) into one 8-bit interleaved image, like torchvision's
 * `make_grid`: `min(nrow, count)` images per row, `ceil(count / nrow)` rows,
 * `padding` pixels between images and around the border, filled with `padValue`.
 * The grid is `cols·(w+padding)+padding` wide and `rows·(h+padding)+padding` high.
 */
export function imageGrid(images: Float32Array, shape: ImageShape | readonly number[], options: GridOptions = {}): RasterImage {
  const [count, channels, h, w] = shape as ImageShape;
  if (shape.length !== 4) throw new RangeError(`imageGrid: shape must be [count, channels, height, width], got [${shape.join(', ')}]`);
  if (channels !== 1 && channels !== 3 && channels !== 4) throw new RangeError(`imageGrid: channels must be 1, 3 or 4, got ${channels}`);
  if (!(count >= 1 && h >= 1 && w >= 1)) throw new RangeError(`imageGrid: need at least one non-empty image, got shape [${shape.join(', ')}]`);
  if (images.length !== count * channels * h * w) {
    throw new RangeError(`imageGrid: shape [${shape.join(', ')}] needs ${count * channels * h * w} values, got ${images.length}`);
  }
  const { nrow = 8, padding = 2, padValue = -1 } = options;
  if (!Number.isInteger(nrow) || nrow < 1) throw new RangeError(`imageGrid: nrow must be a positive integer, got ${nrow}`);
  if (!Number.isInteger(padding) || padding < 0) throw new RangeError(`imageGrid: padding must be a non-negative integer, got ${padding}`);
  const cols = Math.min(nrow, count);
  const rows = Math.ceil(count / cols);
  const width = cols * (w + padding) + padding;
  const height = rows * (h + padding) + padding;
  const pixels = new Uint8Array(width * height * channels).fill(toUint8(padValue));
  const plane = h * w;
  for (let k = 0; k < count; k++) {
    const top = Math.floor(k / cols) * (h + padding) + padding;
    const left = (k % cols) * (w + padding) + padding;
    const base = k * channels * plane;
    for (let y = 0; y < h; y++) {
      let dst = ((top + y) * width + left) * channels;
      const row = base + y * w;
      for (let x = 0; x < w; x++) {
        for (let c = 0; c < channels; c++) pixels[dst + c] = toUint8(images[row + c * plane + x]);
        dst += channels;
      }
    }
  }
  return { pixels, width, height, channels };
}

/** {@link imageGrid} encoded as PNG bytes. */
export function gridPng(images: Float32Array, shape: ImageShape | readonly number[], options: GridOptions = {}): Uint8Array {
  const grid = imageGrid(images, shape, options);
  return encodePng(grid.pixels, grid.width, grid.height, grid.channels);
}

/**
 * Writes {@link gridPng} to `path` (creating parent folders). Returns the
 * grid's pixel size.
 */
export function saveGridPng(
  path: string,
  images: Float32Array,
  shape: ImageShape | readonly number[],
  options: GridOptions = {},
): { width: number; height: number } {
  const grid = imageGrid(images, shape, options);
  mkdirSync(dirname(path), { recursive: true });
  writeFileSync(path, encodePng(grid.pixels, grid.width, grid.height, grid.channels));
  return { width: grid.width, height: grid.height };
}
