/**
 * `tarflow merge`: joins the .safetensors outputs of `sample --shard i/n`
 * runs into one file (or PNG grid), after checking that they are the shards
 * of one run — same model, seed, total, solver and settings — and that
 * together they cover every sample exactly once. Shards with non-finite
 * pixels, a non-float `sample` tensor or labels the run could not have drawn
 * are refused; the output may not be one of the shards.
 */
import { resolve } from 'node:path';
import { outputKind } from '../args.js';
import { CliError, UsageError } from '../errors.js';
import { checkImages, floatTensor, intTensor, outputSet, readSafetensors } from '../files.js';
import { emit, type CommonFlags } from '../output.js';
import { fileInteger, LIMITS } from '../validate.js';
import { SAMPLES_FORMAT } from './sample.js';

export interface MergeFlags extends CommonFlags {
  out: string;
  nrow?: number;
}

/** Largest merged tensor, in float32 values (2 GiB). */
const MAX_MERGED_VALUES = 2 ** 29;

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
  const where = `shard ${path}`;
  const sm = /^(\d+)\/(\d+)$/.exec(m.shard);
  if (!sm) throw new CliError(`${where}: metadata shard '${m.shard.slice(0, 40)}' is not i/n`);
  const count = fileInteger(sm[2], { min: 1, max: LIMITS.samples }, where, 'the shard count in metadata shard');
  const index = fileInteger(sm[1], { min: 1, max: count }, where, 'the shard index in metadata shard');
  const total = fileInteger(m.total, { min: 1, max: LIMITS.samples }, where, "metadata 'total'");
  const n = fileInteger(m.count, { min: 1, max: total }, where, "metadata 'count'");
  const start = fileInteger(m.start, { min: 0, max: total - n }, where, "metadata 'start'");
  const sample = floatTensor(file, 'sample', path, 'shard', [null, null, null, null]);
  if (sample.shape[0] !== n) throw new CliError(`${where}: metadata says ${n} samples but tensor 'sample' holds ${sample.shape[0]}`);
  checkImages(sample.data, sample.shape, where);
  return {
    path,
    run: m.run,
    seed: m.seed,
    total,
    index,
    count,
    start,
    n,
    images: sample.data,
    shape: sample.shape,
    labels: file.tensors.has('labels') ? intTensor(file, 'labels', path, 'shard', [n]) : null,
  };
}

/** How the run's labels were chosen, from its recorded identity: 'list:0,1,2', 'cycle', 'random', 'none', 'file:…'. */
function labelsRule(run: string): string | null {
  try {
    const labels = (JSON.parse(run) as { labels?: unknown }).labels;
    return typeof labels === 'string' ? labels : null;
  } catch {
    return null;
  }
}

/**
 * Checks merged labels against the way the run chose them: a listed cycle
 * must repeat exactly, classes in turn must be g mod K, random classes are
 * >= 0; any label is >= -1 (unconditional).
 */
function checkLabels(labels: Int32Array, rule: string | null, ordered: ShardFile[]): void {
  const shardOf = (g: number) => ordered.find((s) => g >= s.start && g < s.start + s.n)!.path;
  const bad = (g: number, why: string) => new CliError(`shard ${shardOf(g)}: label ${labels[g]} of sample ${g} ${why}`);
  const list = rule?.startsWith('list:') ? rule.slice(5).split(',').map(Number) : null;
  const classes = rule === 'cycle' ? labels.reduce((a, b) => Math.max(a, b), 0) + 1 : 0;
  for (let g = 0; g < labels.length; g++) {
    const l = labels[g];
    if (l < -1) throw bad(g, 'is not a class (labels are class indices, or -1 for unconditional)');
    if (list && list.every(Number.isInteger) && l !== list[g % list.length]) throw bad(g, `does not match the run's label list ${rule!.slice(5)}`);
    if (rule === 'cycle' && l !== g % classes) throw bad(g, 'breaks the run\'s classes-in-turn labels');
    if (rule === 'random' && l < 0) throw bad(g, 'is not a class the run could have drawn');
  }
}

export async function mergeCommand(paths: string[], flags: MergeFlags): Promise<void> {
  const kind = outputKind(flags.out);
  if (paths.length === 0) throw new UsageError('merge needs the shard files to join');
  const outputs = await outputSet([{ path: flags.out, flag: '--out' }], paths.map((path) => ({ path, flag: 'shard' })));
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
  if (first.total * per > MAX_MERGED_VALUES) {
    throw new CliError(`the merged run would hold ${first.total} images of ${per} values, more than the ${MAX_MERGED_VALUES} values (2 GiB) merge builds in memory`);
  }
  const images = new Float32Array(first.total * per);
  const hasLabels = ordered.every((s) => s.labels);
  const labels = hasLabels ? new Int32Array(first.total) : null;
  for (const s of ordered) {
    images.set(s.images, s.start * per);
    if (labels) labels.set(s.labels!, s.start);
  }
  if (labels) checkLabels(labels, labelsRule(first.run), ordered);
  const shape = [first.total, ...first.shape.slice(1)];
  if (kind === 'png') {
    await outputs.grid(flags.out, images, shape, flags.nrow ?? Math.ceil(Math.sqrt(first.total)));
  } else {
    await outputs.samples(flags.out, images, shape, labels, {
      format: SAMPLES_FORMAT,
      run: first.run,
      seed: first.seed,
      total: String(first.total),
      shard: '1/1',
      start: '0',
      count: String(first.total),
    });
  }
  await outputs.commit();
  emit(
    flags,
    { command: 'merge', shards: ordered.map((s) => s.path), samples: first.total, out: resolve(flags.out) },
    () => `merged ${ordered.length} shard${ordered.length === 1 ? '' : 's'} (${first.total} samples) into ${flags.out}`,
  );
}
