/**
 * `tarflow merge`: joins the .safetensors outputs of `sample --shard i/n`
 * runs into one file (or PNG grid), after checking that they are the shards
 * of one run — same model, seed, total, solver and settings — and that
 * together they cover every sample exactly once.
 */
import { resolve } from 'node:path';
import { toFloat32 } from '@tarflow/checkpoint';
import { outputKind } from '../args.js';
import { CliError, UsageError } from '../errors.js';
import { intTensor, readSafetensors, writeGrid, writeSamples } from '../files.js';
import { emit, type CommonFlags } from '../output.js';
import { SAMPLES_FORMAT } from './sample.js';

export interface MergeFlags extends CommonFlags {
  out: string;
  nrow?: number;
}

interface ShardFile {
  path: string;
  run: string;
  seed: string;
  total: number;
  index: number;
  count: number;
  start: number;
  n: number;
  images: Float32Array;
  shape: number[];
  labels: Int32Array | null;
}

async function readShard(path: string): Promise<ShardFile> {
  const file = await readSafetensors(path, 'shard');
  const m = file.metadata;
  if (m.format !== SAMPLES_FORMAT) {
    throw new CliError(`shard ${path} was not written by 'tarflow sample' (metadata format is ${m.format === undefined ? 'missing' : `'${m.format}'`})`);
  }
  for (const key of ['run', 'seed', 'total', 'shard', 'start', 'count']) {
    if (m[key] === undefined) throw new CliError(`shard ${path}: metadata '${key}' is missing`);
  }
  const sm = /^(\d+)\/(\d+)$/.exec(m.shard);
  if (!sm) throw new CliError(`shard ${path}: metadata shard '${m.shard}' is not i/n`);
  const raw = file.tensors.get('sample');
  if (!raw) throw new CliError(`shard ${path} has no tensor 'sample'`);
  if (raw.shape.length !== 4) throw new CliError(`shard ${path}: tensor 'sample' has shape [${raw.shape.join(', ')}], expected [B, C, H, W]`);
  const n = Number(m.count);
  if (raw.shape[0] !== n) throw new CliError(`shard ${path}: metadata says ${n} samples but tensor 'sample' holds ${raw.shape[0]}`);
  return {
    path,
    run: m.run,
    seed: m.seed,
    total: Number(m.total),
    index: Number(sm[1]),
    count: Number(sm[2]),
    start: Number(m.start),
    n,
    images: toFloat32(raw, 'sample'),
    shape: [...raw.shape],
    labels: file.tensors.has('labels') ? intTensor(file, 'labels', path, 'shard', [n]) : null,
  };
}

export async function mergeCommand(paths: string[], flags: MergeFlags): Promise<void> {
  const kind = outputKind(flags.out);
  if (paths.length === 0) throw new UsageError('merge needs the shard files to join');
  const shards: ShardFile[] = [];
  for (const p of paths) shards.push(await readShard(p));
  const first = shards[0];
  for (const s of shards.slice(1)) {
    const differs = (what: string, a: unknown, b: unknown) => {
      if (a !== b) throw new CliError(`${s.path} does not belong with ${first.path}: different ${what} (${String(b)} vs ${String(a)})`);
    };
    differs('seed', first.seed, s.seed);
    differs('total sample count', first.total, s.total);
    differs('number of shards', first.count, s.count);
    differs('image shape', first.shape.slice(1).join('×'), s.shape.slice(1).join('×'));
    differs('run settings (model, noise, labels, solver, guidance)', first.run, s.run);
  }
  const byIndex = new Map<number, ShardFile>();
  for (const s of shards) {
    const dup = byIndex.get(s.index);
    if (dup) throw new CliError(`shard ${s.index}/${s.count} is given twice (${dup.path} and ${s.path})`);
    byIndex.set(s.index, s);
  }
  const missing = Array.from({ length: first.count }, (_, i) => i + 1).filter((i) => !byIndex.has(i));
  if (missing.length > 0) {
    throw new CliError(`incomplete run: missing shard${missing.length > 1 ? 's' : ''} ${missing.map((i) => `${i}/${first.count}`).join(', ')}`);
  }
  const ordered = [...byIndex.values()].sort((a, b) => a.start - b.start);
  let at = 0;
  for (const s of ordered) {
    if (s.start !== at) throw new CliError(`shard ${s.path} starts at sample ${s.start} but the shards before it end at ${at}`);
    at += s.n;
  }
  if (at !== first.total) throw new CliError(`the shards hold ${at} samples but the run has ${first.total}`);

  const per = first.shape.slice(1).reduce((a, b) => a * b, 1);
  const images = new Float32Array(first.total * per);
  const hasLabels = ordered.every((s) => s.labels);
  const labels = hasLabels ? new Int32Array(first.total) : null;
  for (const s of ordered) {
    images.set(s.images, s.start * per);
    if (labels) labels.set(s.labels!, s.start);
  }
  const shape = [first.total, ...first.shape.slice(1)];
  if (kind === 'png') {
    await writeGrid(flags.out, images, shape, flags.nrow ?? Math.ceil(Math.sqrt(first.total)));
  } else {
    await writeSamples(flags.out, images, shape, labels, {
      format: SAMPLES_FORMAT,
      run: first.run,
      seed: first.seed,
      total: String(first.total),
      shard: '1/1',
      start: '0',
      count: String(first.total),
    });
  }
  emit(
    flags,
    { command: 'merge', shards: ordered.map((s) => s.path), samples: first.total, out: resolve(flags.out) },
    () => `merged ${ordered.length} shard${ordered.length === 1 ? '' : 's'} (${first.total} samples) into ${flags.out}`,
  );
}
