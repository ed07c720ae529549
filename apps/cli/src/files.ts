/**
 * File input and output of the commands: clear errors for missing, corrupt or
 * unreadable inputs (only regular files of bounded size are read), and
 * outputs that appear whole or not at all — every output of a run is checked
 * against its inputs and other outputs before any work, written to a
 * temporary file, and renamed only when all of them were written.
 */
import { constants, type Stats } from 'node:fs';
import { access, mkdir, realpath, stat } from 'node:fs/promises';
import { basename, dirname, join, resolve } from 'node:path';
import {
  f32Tensor,
  i64Tensor,
  parseSafetensors,
  serializeSafetensors,
  toFloat32,
  toInt32,
  type RawTensor,
  type SafetensorsFile,
} from '@tarflow/checkpoint';
import { checkReadableFile, FileReadError, readFileChecked, stageFile, writeAll, writeErrorOf, type StagedFile } from '@tarflow/checkpoint/node';
import { gridPng } from '@tarflow/data';
import { assertFiniteImages, ValueError } from '@tarflow/tensor';
import { CliError, UsageError, messageOf } from './errors.js';

/** Largest input file the commands read (checkpoints included): 2 GiB. */
export const MAX_INPUT_BYTES = 2 * 1024 ** 3;

/** Reads a whole regular file; `what` names it in errors ("checkpoint", "--noise file"). */
export async function readBytes(path: string, what: string, maxBytes = MAX_INPUT_BYTES): Promise<Uint8Array> {
  try {
    return await readFileChecked(path, { maxBytes });
  } catch (e) {
    if (e instanceof FileReadError) throw new CliError(`${what} ${e.message}`);
    throw new CliError(`${what} ${path}: ${messageOf(e)}`);
  }
}

/** Checks, without reading it, that an input a command streams itself is a regular file within the limit. */
export async function checkInputFile(path: string, what: string, maxBytes = MAX_INPUT_BYTES): Promise<void> {
  try {
    await checkReadableFile(path, { maxBytes });
  } catch (e) {
    if (e instanceof FileReadError) throw new CliError(`${what} ${e.message}`);
    throw new CliError(`${what} ${path}: ${messageOf(e)}`);
  }
}

/** Reads and parses a safetensors file. */
export async function readSafetensors(path: string, what: string, bytes?: Uint8Array): Promise<SafetensorsFile> {
  bytes ??= await readBytes(path, what);
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

/** The data range of images: [-1, 1], with room for the training noise and sampling overshoot. */
export const IMAGE_RANGE: readonly [number, number] = [-2, 2];
const IMAGE_RANGE_TEXT = 'the data range [-1, 1] (up to ±2 allowed; images in 0…1 or 0…255 must be rescaled)';

/**
 * Refuses image values that are non-finite or (with `range`) outside the
 * model's data range, naming `what`, how many and where the first one is.
 */
export function checkImages(data: ArrayLike<number>, shape: readonly number[], what: string, options: { range?: boolean } = {}): void {
  try {
    assertFiniteImages({ data, shape }, what, options.range ? { range: IMAGE_RANGE, rangeText: IMAGE_RANGE_TEXT } : {});
  } catch (e) {
    if (e instanceof ValueError) throw new CliError(e.message);
    throw e;
  }
}

/** Refuses sampled images that turned non-finite: such a run is an error, never a written file. */
export function checkSampled(images: Float32Array, shape: readonly number[]): void {
  try {
    assertFiniteImages({ data: images, shape }, 'the sampled images');
  } catch (e) {
    if (!(e instanceof ValueError)) throw e;
    throw new CliError(`sampling failed: ${e.message}; nothing was written (check the checkpoint's weights and noise_std, or lower --guidance or --temperature)`);
  }
}

/** A path a run reads or writes, with the flag (or argument) that named it. */
export interface NamedPath {
  path: string;
  /** How the user named it: '--out', '--checkpoint', 'shard 2'. */
  flag: string;
}

/** The paths of `named` whose value is given (drops undefined ones). */
export function given(named: Record<string, string | undefined>): NamedPath[] {
  return Object.entries(named).flatMap(([flag, path]) => (path === undefined ? [] : [{ flag, path }]));
}

async function statOrNull(path: string): Promise<Stats | null> {
  try {
    return await stat(path);
  } catch {
    return null;
  }
}

/** What identifies a file: device and inode if it exists, else the real path it would get. */
async function identity(path: string): Promise<string> {
  const s = await statOrNull(path);
  if (s) return `inode:${s.dev}:${s.ino}`;
  let dir = resolve(path);
  const rest: string[] = [];
  for (;;) {
    rest.unshift(basename(dir));
    dir = dirname(dir);
    try {
      return `path:${join(await realpath(dir), ...rest)}`;
    } catch {
      if (dirname(dir) === dir) return `path:${resolve(path)}`;
    }
  }
}

/** Refuses an output that cannot be written: an existing non-file, or a folder that is not one or not writable. */
async function checkWritable(out: NamedPath): Promise<void> {
  const s = await statOrNull(out.path);
  if (s && !s.isFile()) {
    throw new UsageError(`${out.flag} ${out.path}: ${s.isDirectory() ? 'is a directory' : 'exists and is not a regular file'}; name a file to write`);
  }
  let dir = dirname(resolve(out.path));
  for (;;) {
    const d = await statOrNull(dir);
    if (d) {
      if (!d.isDirectory()) throw new UsageError(`${out.flag} ${out.path}: cannot write there, ${dir} is not a folder`);
      try {
        await access(dir, constants.W_OK);
      } catch {
        throw new CliError(`cannot write ${out.path}: permission denied in ${dir}`);
      }
      return;
    }
    if (dirname(dir) === dir) return;
    dir = dirname(dir);
  }
}

/**
 * The outputs of one run. `outputSet` checks, before any work starts, that no
 * output is one of the run's inputs or another output (the same file under a
 * different name counts: links, `./`, `..`) and that each can be written.
 * Outputs are then staged (written to temporary files beside their targets)
 * and `commit` renames them all; if any write fails, every staged file is
 * removed and no target is touched.
 */
export class OutputSet {
  private readonly staged: StagedFile[] = [];

  private constructor(readonly outputs: NamedPath[]) {}

  static async create(outputs: NamedPath[], inputs: NamedPath[]): Promise<OutputSet> {
    const seen = new Map<string, NamedPath>();
    for (const input of inputs) {
      const id = await identity(input.path);
      if (!seen.has(id)) seen.set(id, input);
    }
    const inputIds = new Set(seen.keys());
    for (const out of outputs) {
      const id = await identity(out.path);
      const other = seen.get(id);
      if (other) {
        if (inputIds.has(id)) {
          throw new UsageError(`${out.flag} ${out.path} is the ${other.flag} file ${other.path}: the run would overwrite its own input; choose another ${out.flag}`);
        }
        throw new UsageError(`${out.flag} and ${other.flag} name the same file (${out.path}); give them different names`);
      }
      seen.set(id, out);
      await checkWritable(out);
    }
    return new OutputSet(outputs);
  }

  /** Stages `bytes` for `path`; on failure every staged output is removed. */
  async bytes(path: string, bytes: Uint8Array): Promise<void> {
    try {
      await mkdir(dirname(resolve(path)), { recursive: true }).catch((e) => {
        throw writeErrorOf(e, path);
      });
      this.staged.push(await stageFile(path, (fh) => writeAll(fh, bytes)));
    } catch (e) {
      await this.discard();
      throw new CliError(messageOf(e));
    }
  }

  /** Stages images [n, C, H, W] in [-1, 1] as a PNG grid with `nrow` images per row. */
  async grid(path: string, images: Float32Array, shape: number[], nrow: number): Promise<void> {
    await this.bytes(path, gridPng(images, shape, { nrow: Math.max(1, Math.min(nrow, shape[0])) }));
  }

  /** Stages float32 images as tensor `sample` (and int labels as `labels`, int64) with metadata. */
  async samples(path: string, images: Float32Array, shape: number[], labels: Int32Array | null, metadata: Record<string, string>): Promise<void> {
    const tensors: Record<string, RawTensor> = { sample: f32Tensor(shape, images) };
    if (labels) tensors.labels = i64Tensor([labels.length], labels);
    await this.bytes(path, serializeSafetensors(tensors, metadata));
  }

  /** Renames every staged output over its target. */
  async commit(): Promise<void> {
    try {
      for (const f of this.staged) await f.commit();
    } catch (e) {
      await this.discard();
      throw new CliError(messageOf(e));
    }
    this.staged.length = 0;
  }

  /** Removes every staged output that was not committed. */
  async discard(): Promise<void> {
    await Promise.all(this.staged.map((f) => f.discard()));
    this.staged.length = 0;
  }
}

/** Checks a run's outputs against its inputs and each other (see OutputSet). */
export function outputSet(outputs: NamedPath[], inputs: NamedPath[] = []): Promise<OutputSet> {
  return OutputSet.create(outputs, inputs);
}

/** Writes one output file atomically (see OutputSet), creating its folder. */
export async function writeOutput(path: string, bytes: Uint8Array, flag = '--out'): Promise<void> {
  const set = await outputSet([{ path, flag }]);
  await set.bytes(path, bytes);
  await set.commit();
}
