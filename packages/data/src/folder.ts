/**
 * Image datasets from a folder of PNG files.
 */
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { basename, join, resolve } from 'node:path';
import { createDataset, type ImageDataset } from './dataset.js';
import { DatasetError } from './errors.js';
import { decodePng, type RasterImage } from './png.js';
import { centerCropSquare, resizePlanar, type ResizeMethod } from './resize.js';

/** Options of {@link loadPngFolder}. */
export interface PngFolderOptions {
  /** Output side length: every image is centre-cropped to a square and resized to `size`×`size`. */
  size: number;
  /** 1 (grayscale, ITU-R 601 luma 0.299 R + 0.587 G + 0.114 B) or 3 (RGB). Default 3. */
  channels?: 1 | 3;
  /**
   * `subfolders`: every immediate subfolder is a class (class index = position
   * in the sorted list of subfolder names, which become `classNames`); its PNGs,
   * at any depth, are that class. `none` (default): every PNG at any depth,
   * unlabelled (numClasses 1, all labels 0).
   */
  labels?: 'subfolders' | 'none';
  /** Resampling: `auto` (default: area when shrinking, bilinear when enlarging), `area` or `bilinear`. */
  resize?: ResizeMethod;
  /** Dataset name. Default: the folder's base name. */
  name?: string;
}

/**
 * Loads every PNG under `dir` into an {@link ImageDataset} of
 * `[count, channels, size, size]` in [-1, 1].
 *
 * Files are taken in sorted (code-unit) path order, so the result is the same
 * on every machine. Names starting with `.` (e.g. `.DS_Store`) are ignored;
 * any other file that is not a valid `.png` image is an error, not skipped.
 * Alpha is dropped (colour values kept as stored, like PIL's `convert('RGB')`).
 *
 * Throws DatasetError naming the file or folder for: a missing folder, a folder
 * with no PNGs, an empty class subfolder, a file outside the class subfolders
 * (with `labels: 'subfolders'`), a non-PNG file, or a corrupt PNG.
 */
export function loadPngFolder(dir: string, options: PngFolderOptions): ImageDataset {
  const { size, channels = 3, labels: labelMode = 'none', resize = 'auto' } = options;
  if (!Number.isInteger(size) || size < 1) throw new RangeError(`loadPngFolder: size must be a positive integer, got ${size}`);
  if (channels !== 1 && channels !== 3) throw new RangeError(`loadPngFolder: channels must be 1 or 3, got ${String(channels)}`);
  if (labelMode !== 'subfolders' && labelMode !== 'none') throw new RangeError(`loadPngFolder: labels must be 'subfolders' or 'none', got ${String(labelMode)}`);
  const root = resolve(dir);
  checkFolder(root);

  const files: string[] = [];
  const fileLabels: number[] = [];
  let classNames: string[] | undefined;
  if (labelMode === 'subfolders') {
    classNames = [];
    for (const entry of listEntries(root)) {
      const path = join(root, entry);
      if (!statSync(path).isDirectory()) {
        throw new DatasetError(path, `file outside a class subfolder (labels: 'subfolders' expects ${root}/<class>/<image>.png)`);
      }
      const found = collectPngs(path);
      if (found.length === 0) throw new DatasetError(path, 'class subfolder contains no PNG images');
      const label = classNames.length;
      classNames.push(entry);
      for (const f of found) {
        files.push(f);
        fileLabels.push(label);
      }
    }
    if (classNames.length === 0) throw new DatasetError(root, "folder is empty: labels: 'subfolders' needs one subfolder of PNG images per class");
  } else {
    for (const f of collectPngs(root)) {
      files.push(f);
      fileLabels.push(0);
    }
    if (files.length === 0) throw new DatasetError(root, 'folder contains no PNG images');
  }

  const per = channels * size * size;
  const images = new Float32Array(files.length * per);
  files.forEach((file, i) => {
    const raster = decodePng(readFileSync(file), file);
    const planar = toPlanar(raster, channels);
    const { data, size: side } = centerCropSquare(planar, channels, raster.height, raster.width);
    const resized = side === size ? data : resizePlanar(data, channels, side, side, size, size, resize);
    const at = i * per;
    for (let k = 0; k < per; k++) images[at + k] = resized[k] / 127.5 - 1;
  });

  return createDataset({
    name: options.name ?? basename(root),
    images,
    labels: Int32Array.from(fileLabels),
    channels,
    height: size,
    width: size,
    numClasses: classNames?.length ?? 1,
    ...(classNames ? { classNames } : {}),
  });
}

function checkFolder(path: string): void {
  let isDir: boolean;
  try {
    isDir = statSync(path).isDirectory();
  } catch {
    throw new DatasetError(path, 'folder not found');
  }
  if (!isDir) throw new DatasetError(path, 'not a folder');
}

/** Sorted entry names of a folder, without dot-files. */
function listEntries(dir: string): string[] {
  return readdirSync(dir)
    .filter((name) => !name.startsWith('.'))
    .sort();
}

/** Every file under `dir` (recursive, sorted); any file that is not named `*.png` is an error. */
function collectPngs(dir: string): string[] {
  const out: string[] = [];
  for (const entry of listEntries(dir)) {
    const path = join(dir, entry);
    const st = statSync(path);
    if (st.isDirectory()) out.push(...collectPngs(path));
    else if (!entry.toLowerCase().endsWith('.png')) throw new DatasetError(path, 'not a PNG file (every file in an image folder must be a .png image)');
    else out.push(path);
  }
  return out;
}

/** Interleaved 8-bit pixels → planar floats in [0, 255] with the wanted channel count. */
function toPlanar(img: RasterImage, channels: 1 | 3): Float32Array {
  const n = img.width * img.height;
  const src = img.pixels;
  const sc = img.channels;
  const out = new Float32Array(channels * n);
  if (channels === 1) {
    for (let i = 0; i < n; i++) {
      const p = i * sc;
      out[i] = sc === 1 ? src[p] : (299 * src[p] + 587 * src[p + 1] + 114 * src[p + 2]) / 1000;
    }
  } else {
    for (let i = 0; i < n; i++) {
      const p = i * sc;
      for (let c = 0; c < 3; c++) out[c * n + i] = src[sc === 1 ? p : p + c];
    }
  }
  return out;
}
