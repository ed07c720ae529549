/**
 * File input and output of the commands: clear errors for missing or corrupt
 * inputs, and outputs that appear whole or not at all (written to a temporary
 * file and renamed, via @tarflow/checkpoint's atomic writers).
 */
import { mkdir, readFile } from 'node:fs/promises';
import { dirname, resolve } from 'node:path';
import {
  f32Tensor,
  i64Tensor,
  parseSafetensors,
  toFloat32,
  toInt32,
  type RawTensor,
  type SafetensorsFile,
} from '@tarflow/checkpoint';
import { writeFileAtomic, writeSafetensorsFile } from '@tarflow/checkpoint/node';
import { gridPng } from '@tarflow/data';
import { CliError, messageOf } from './errors.js';

/** Reads a whole file; `what` names it in errors ("checkpoint", "--noise file"). */
export async function readBytes(path: string, what: string): Promise<Uint8Array> {
  try {
    return new Uint8Array(await readFile(path));
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    if (code === 'ENOENT') throw new CliError(`${what} ${path}: no such file`);
    if (code === 'EISDIR') throw new CliError(`${what} ${path}: is a directory, not a file`);
    if (code === 'EACCES') throw new CliError(`${what} ${path}: permission denied`);
    throw new CliError(`${what} ${path}: ${messageOf(e)}`);
  }
}

/** Reads and parses a safetensors file. */
export async function readSafetensors(path: string, what: string): Promise<SafetensorsFile> {
  const bytes = await readBytes(path, what);
  try {
    return parseSafetensors(bytes);
  } catch (e) {
    throw new CliError(`${what} ${path} is not a valid safetensors file: ${messageOf(e)}`);
  }
}

function tensorOf(file: SafetensorsFile, name: string, path: string, what: string): RawTensor {
  const t = file.tensors.get(name);
  if (!t) {
    const have = [...file.tensors.keys()];
    throw new CliError(`${what} ${path} has no tensor '${name}' (it holds ${have.length ? have.map((n) => `'${n}'`).join(', ') : 'no tensors'})`);
  }
  return t;
}

function checkShape(t: RawTensor, name: string, path: string, what: string, expected: Array<number | null>): void {
  const ok = t.shape.length === expected.length && expected.every((d, i) => d === null || d === t.shape[i]);
  if (!ok) {
    const want = `[${expected.map((d) => (d === null ? '?' : d)).join(', ')}]`;
    throw new CliError(`${what} ${path}: tensor '${name}' has shape [${t.shape.join(', ')}], expected ${want}`);
  }
}

/** A float tensor of a file, converted to float32, with its shape checked (null = any size). */
export function floatTensor(
  file: SafetensorsFile,
  name: string,
  path: string,
  what: string,
  expected: Array<number | null>,
): { data: Float32Array; shape: number[] } {
  const t = tensorOf(file, name, path, what);
  if (!['F32', 'F64', 'F16', 'BF16'].includes(t.dtype)) {
    throw new CliError(`${what} ${path}: tensor '${name}' has dtype ${t.dtype}, expected a float type (F32)`);
  }
  checkShape(t, name, path, what, expected);
  return { data: toFloat32(t, name), shape: [...t.shape] };
}

/** An integer tensor (int64 or int32) of a file, as int32. */
export function intTensor(file: SafetensorsFile, name: string, path: string, what: string, expected: Array<number | null>): Int32Array {
  const t = tensorOf(file, name, path, what);
  if (!['I64', 'I32', 'I16', 'I8', 'U8'].includes(t.dtype)) {
    throw new CliError(`${what} ${path}: tensor '${name}' has dtype ${t.dtype}, expected an integer type (I64 or I32)`);
  }
  checkShape(t, name, path, what, expected);
  try {
    return toInt32(t, name);
  } catch (e) {
    throw new CliError(`${what} ${path}: ${messageOf(e)}`);
  }
}

async function ensureDir(path: string): Promise<void> {
  await mkdir(dirname(resolve(path)), { recursive: true });
}

/** Writes bytes atomically, creating the parent folder. */
export async function writeOutput(path: string, bytes: Uint8Array): Promise<void> {
  await ensureDir(path);
  await writeFileAtomic(path, bytes);
}

/** Writes images [n, C, H, W] in [-1, 1] as a PNG grid with `nrow` images per row. */
export async function writeGrid(path: string, images: Float32Array, shape: number[], nrow: number): Promise<void> {
  await writeOutput(path, gridPng(images, shape, { nrow: Math.max(1, Math.min(nrow, shape[0])) }));
}

/** Writes float32 images as tensor `sample` (and int labels as `labels`, int64) with metadata. */
export async function writeSamples(
  path: string,
  images: Float32Array,
  shape: number[],
  labels: Int32Array | null,
  metadata: Record<string, string>,
): Promise<void> {
  await ensureDir(path);
  const tensors: Record<string, RawTensor> = { sample: f32Tensor(shape, images) };
  if (labels) tensors.labels = i64Tensor([labels.length], labels);
  await writeSafetensorsFile(path, tensors, metadata);
}
