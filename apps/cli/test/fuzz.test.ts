/**
 * Hostile input, many cases: for each, the command fails with a non-zero exit,
 * one error line in the user's terms (no stack trace, nothing of JavaScript's
 * own vocabulary), within a time bound, and creates or changes no file.
 *
 * Cases are rows of tables: fixed cases (CASES, each with the exit code and
 * the message it must give), seeded random flag values (FLAG_VALUES drawn by
 * the seed below), and the flag parsers driven in-process with seeded random
 * text. To add a case, add a row.
 */
import { execFileSync } from 'node:child_process';
import { copyFileSync, mkdirSync, readdirSync, readFileSync, statSync, symlinkSync, writeFileSync } from 'node:fs';
import { join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import { InvalidArgumentError } from 'commander';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { f32Tensor, i64Tensor, parseSafetensors, serializeSafetensors, type RawTensor } from '@tarflow/checkpoint';
import { mulberry32 } from '@tarflow/tensor/random';
import { fixturesDir } from '@tarflow/test-fixtures';
import { intArg, labelsArg, numberArg, shardArg } from '../src/args.js';
import { LIMITS } from '../src/validate.js';
import { tarflow, tempDir, writeTensors } from './helpers.js';
import { EXPLAINED, INTERNAL, QUOTED } from './hostile.js';

const SEED = 20251206;
const COND = join(fixturesDir(), 'tiny-cond.safetensors');
/** The repository's benchmark report: the valid report the broken ones are made from. */
const BENCH_JSON = fileURLToPath(new URL('../../../docs/benchmarks.json', import.meta.url));
/** tiny-cond: 3×12×12 images, T = 36 tokens of D = 12 values, 5 classes. */
const [C, S, T, D] = [3, 12, 36, 12];
/** No case may take longer than this (a hang is a failure). */
const CASE_LIMIT_MS = 60_000;

/** Commander's hint after a flag error: not part of the message. */
const HELP_HINT = '(add --help for usage)';

interface Case {
  name: string;
  args: (dir: string, work: string) => string[];
  /** Expected exit code (1 or 2). */
  code: 1 | 2;
  message: RegExp;
}

const shardMeta = (over: Record<string, string> = {}) => ({
  format: 'tarflow-samples',
  run: JSON.stringify({ model: 'm', labels: 'list:0,1' }),
  seed: '0',
  total: '2',
  shard: '1/1',
  start: '0',
  count: '2',
  ...over,
});
const images = (n: number, value = 0.25) => new Float32Array(n * C * S * S).fill(value);

/** Input files of the cases, written once into `inputs/` (read-only to every case). */
function writeInputs(dir: string): void {
  const at = (name: string) => join(dir, name);
  copyFileSync(COND, at('model.safetensors'));
  // The model with one weight not a number, and with an infinite noise_std (JSON's 1e999 reads as Infinity).
  const model = parseSafetensors(new Uint8Array(readFileSync(COND)));
  const [name, first] = [...model.tensors.entries()].find(([n, t]) => t.dtype === 'F32' && /weight/.test(n))!;
  const poisoned = new Float32Array(first.data.slice().buffer);
  poisoned[0] = NaN;
  writeFileSync(at('model-nan.safetensors'), serializeSafetensors(new Map([...model.tensors, [name, f32Tensor(first.shape, poisoned)]]), model.metadata));
  const config = model.metadata.config.replace(/"noise_std":\s*[^,}]+/, '"noise_std": 1e999');
  writeFileSync(at('model-inf-noise.safetensors'), serializeSafetensors(model.tensors, { ...model.metadata, config }));
  writeFileSync(at('text.safetensors'), 'text');
  writeFileSync(at('empty.safetensors'), '');
  mkdirSync(at('folder'));
  mkdirSync(at('folder.png'));
  mkdirSync(at('folder.md'));
  mkdirSync(at('folder.safetensors'));
  execFileSync('mkfifo', [at('pipe.safetensors')]);
  execFileSync('mkfifo', [at('pipe.png')]);
  symlinkSync(at('model.safetensors'), at('model-link.safetensors'));
  const nanNoise = new Float32Array(2 * T * D).fill(0.1);
  nanNoise[5] = NaN;
  writeTensors(at('noise-nan.safetensors'), { noise: f32Tensor([2, T, D], nanNoise) });
  writeTensors(at('noise-empty.safetensors'), { noise: f32Tensor([0, T, D], new Float32Array(0)) });
  writeTensors(at('noise.safetensors'), { noise: f32Tensor([2, T, D], new Float32Array(2 * T * D).fill(0.1)) });
  writeTensors(at('noise-int.safetensors'), { noise: { dtype: 'I32', shape: [2, T, D], data: new Uint8Array(2 * T * D * 4) } });
  writeTensors(at('labels-99.safetensors'), { labels: i64Tensor([2], [0, 99]) });
  const withNaN = images(2);
  withNaN[300] = NaN;
  writeTensors(at('images-nan.safetensors'), { x: f32Tensor([2, C, S, S], withNaN) });
  writeTensors(at('images-inf.safetensors'), { x: f32Tensor([2, C, S, S], images(2, Infinity)) });
  writeTensors(at('images-255.safetensors'), { x: f32Tensor([2, C, S, S], images(2, 255)) });
  writeTensors(at('images-1e6.safetensors'), { x: f32Tensor([2, C, S, S], images(2, 1e6)) });
  writeTensors(at('images-ok.safetensors'), { x: f32Tensor([2, C, S, S], images(2, 0.5)) });
  const shard = (name: string, tensors: Record<string, RawTensor>, meta: Record<string, string> = {}) => writeTensors(at(name), tensors, shardMeta(meta));
  shard('shard-ok.safetensors', { sample: f32Tensor([2, C, S, S], images(2)), labels: i64Tensor([2], [0, 1]) });
  shard('shard-nan.safetensors', { sample: f32Tensor([2, C, S, S], withNaN), labels: i64Tensor([2], [0, 1]) });
  shard('shard-int.safetensors', { sample: { dtype: 'I32', shape: [2, C, S, S], data: new Uint8Array(2 * C * S * S * 4) } });
  shard('shard-label99.safetensors', { sample: f32Tensor([2, C, S, S], images(2)), labels: i64Tensor([2], [0, 99]) });
  shard('shard-total-nan.safetensors', { sample: f32Tensor([2, C, S, S], images(2)) }, { total: 'NaN' });
  shard('shard-total-huge.safetensors', { sample: f32Tensor([2, C, S, S], images(2)) }, { total: '1e300' });
  shard('shard-start-neg.safetensors', { sample: f32Tensor([2, C, S, S], images(2)) }, { start: '-2' });
  shard('shard-2of2.safetensors', { sample: f32Tensor([1, C, S, S], images(1)) }, { total: '3', shard: '2/2', start: '1', count: '1' });
  shard('shard-other-total.safetensors', { sample: f32Tensor([1, C, S, S], images(1)) }, { total: '4', shard: '1/2', start: '0', count: '1' });
  // Saved benchmark reports for bench --render: the real one, and broken ones.
  const report = JSON.parse(readFileSync(BENCH_JSON, 'utf8')) as { started: string; results: Array<{ sideBySide: Array<Record<string, unknown>> }> };
  writeFileSync(at('report.json'), JSON.stringify(report));
  writeFileSync(at('report-null.json'), 'null');
  writeFileSync(at('report-empty-object.json'), '{}');
  writeFileSync(at('report-list.json'), '[]');
  writeFileSync(at('report-results-7.json'), JSON.stringify({ ...report, results: 7 }));
  writeFileSync(at('report-truncated.json'), JSON.stringify(report).slice(0, 1000));
  writeFileSync(at('report-binary.json'), Buffer.from(Array.from({ length: 512 }, (_, i) => (i * 131 + 200) % 256)));
  writeFileSync(at('report-blank.json'), '');
  writeFileSync(at('report-no-results.json'), JSON.stringify({ ...report, results: [] }));
  writeFileSync(at('report-bad-date.json'), JSON.stringify({ ...report, started: 'yesterday' }));
  const noWall = structuredClone(report);
  delete noWall.results[0].sideBySide[0].wallMs;
  writeFileSync(at('report-no-wall.json'), JSON.stringify(noWall));
  const textWall = structuredClone(report);
  textWall.results[0].sideBySide[1].wallMs = 'fast';
  writeFileSync(at('report-text-wall.json'), JSON.stringify(textWall));
  const badPlanning = { ...report, planning: { measured: report.started, cores: 2, rows: [{ backend: 'wasm', batch: 1, sequential: { wallS: 1, strategy: 'sequential' }, empty: { wallS: 1, strategy: 'sequential' }, shipped: { wallS: 1, strategy: 'sequential', meanAbsDiff: 0 } }] } };
  writeFileSync(at('report-planning-no-diff.json'), JSON.stringify(badPlanning));
  symlinkSync(at('report.json'), at('report-link.md'));
  // A .pth cut short, a text file as a dataset, a folder of no images.
  writeFileSync(at('cut.pth'), readFileSync(join(fixturesDir(), 'tiny-uncond.pth')).subarray(0, 4000));
  writeFileSync(at('notes.txt'), 'not images');
  mkdirSync(at('no-images'));
  writeTensors(at('images-shape.safetensors'), { x: f32Tensor([2, 1, 5, 5], new Float32Array(50)) });
  writeTensors(at('noise-shape.safetensors'), { noise: f32Tensor([2, 7, 3], new Float32Array(42)) });
}

const CASES: Case[] = [
  // Outputs that would destroy inputs, or each other.
  { name: 'sample --out naming its --checkpoint', args: (d) => ['sample', '--checkpoint', join(d, 'model.safetensors'), '--out', join(d, 'model.safetensors')], code: 2, message: /--out .* is the --checkpoint file/ },
  { name: 'sample --out naming its --checkpoint through a link', args: (d) => ['sample', '--checkpoint', join(d, 'model.safetensors'), '--out', join(d, 'model-link.safetensors')], code: 2, message: /is the --checkpoint file/ },
  { name: 'sample --out naming its --checkpoint through ..', args: (d) => ['sample', '--checkpoint', join(d, 'model.safetensors'), '--out', join(d, 'folder', '..', 'model.safetensors')], code: 2, message: /is the --checkpoint file/ },
  { name: 'sample --out naming its --noise file', args: (d) => ['sample', '--checkpoint', COND, '--noise', join(d, 'noise.safetensors'), '--out', join(d, 'noise.safetensors')], code: 2, message: /is the --noise file/ },
  { name: 'sample --out naming its --labels-file', args: (d) => ['sample', '--checkpoint', COND, '--labels-file', join(d, 'labels-99.safetensors'), '--out', join(d, 'labels-99.safetensors')], code: 2, message: /is the --labels-file file/ },
  { name: 'sample --out and --trace the same file', args: (_d, w) => ['sample', '--checkpoint', COND, '--out', join(w, 'a.png'), '--trace', join(w, 'a.png')], code: 2, message: /--trace and --out name the same file/ },
  { name: 'sample --out and --trace the same file by two names', args: (_d, w) => ['sample', '--checkpoint', COND, '--out', join(w, 'a.png'), '--trace', join(w, '.', 'x', '..', 'a.png')], code: 2, message: /name the same file/ },
  { name: 'sample --out an existing folder', args: (d) => ['sample', '--checkpoint', COND, '--out', join(d, 'folder.png')], code: 2, message: /is a directory/ },
  { name: 'sample --out under a file', args: (d) => ['sample', '--checkpoint', COND, '--out', join(d, 'text.safetensors', 'a.png')], code: 2, message: /is not a folder/ },
  { name: 'sample --out an existing FIFO', args: (d) => ['sample', '--checkpoint', COND, '--out', join(d, 'pipe.png')], code: 2, message: /pipe\.png: exists and is not a regular file/ },
  { name: 'merge --out naming one of its shards', args: (d) => ['merge', join(d, 'shard-ok.safetensors'), '--out', join(d, 'shard-ok.safetensors')], code: 2, message: /--out .* is the shard file/ },
  { name: 'convert --out naming its input', args: (d) => ['convert', join(d, 'model.safetensors'), '--out', join(d, 'model.safetensors')], code: 2, message: /differ|is the|input/ },
  // Files that are not regular files, or not what they claim.
  { name: 'a device as checkpoint', args: (_d, w) => ['sample', '--checkpoint', '/dev/zero', '--out', join(w, 'a.png')], code: 1, message: /checkpoint \/dev\/zero: is a device, not a regular file/ },
  { name: 'a FIFO as checkpoint', args: (d, w) => ['sample', '--checkpoint', join(d, 'pipe.safetensors'), '--out', join(w, 'a.png')], code: 1, message: /is a pipe \(FIFO\), not a regular file/ },
  { name: 'a folder as checkpoint', args: (d, w) => ['sample', '--checkpoint', join(d, 'folder'), '--out', join(w, 'a.png')], code: 1, message: /is a directory, not a file/ },
  { name: 'a missing checkpoint', args: (d, w) => ['sample', '--checkpoint', join(d, 'nope.safetensors'), '--out', join(w, 'a.png')], code: 1, message: /no such file/ },
  { name: 'a text file as checkpoint', args: (d, w) => ['sample', '--checkpoint', join(d, 'text.safetensors'), '--out', join(w, 'a.png')], code: 1, message: /checkpoint .*text\.safetensors/ },
  { name: 'an empty checkpoint', args: (d, w) => ['sample', '--checkpoint', join(d, 'empty.safetensors'), '--out', join(w, 'a.png')], code: 1, message: /checkpoint .*empty\.safetensors/ },
  { name: 'a device as --noise', args: (_d, w) => ['sample', '--checkpoint', COND, '--noise', '/dev/zero', '--out', join(w, 'a.png')], code: 1, message: /--noise file \/dev\/zero: is a device/ },
  { name: 'a device as --images', args: () => ['metrics', '--checkpoint', COND, '--images', '/dev/zero'], code: 1, message: /--images file \/dev\/zero: is a device/ },
  { name: 'convert of a FIFO', args: (d, w) => ['convert', join(d, 'pipe.safetensors'), '--out', join(w, 'c.safetensors')], code: 1, message: /checkpoint .*pipe\.safetensors: is a pipe/ },
  { name: 'a FIFO as shard', args: (d, w) => ['merge', join(d, 'pipe.safetensors'), '--out', join(w, 'm.safetensors')], code: 1, message: /shard .*pipe\.safetensors: is a pipe/ },
  { name: 'noise of no samples', args: (d, w) => ['sample', '--checkpoint', COND, '--noise', join(d, 'noise-empty.safetensors'), '--out', join(w, 'a.png')], code: 1, message: /noise-empty\.safetensors: the run has no samples/ },
  { name: 'integer noise', args: (d, w) => ['sample', '--checkpoint', COND, '--noise', join(d, 'noise-int.safetensors'), '--out', join(w, 'a.png')], code: 1, message: /dtype I32, expected a float type/ },
  // Non-finite and out-of-range values.
  { name: 'NaN noise samples NaN images, written nowhere', args: (d, w) => ['sample', '--checkpoint', COND, '--noise', join(d, 'noise-nan.safetensors'), '--out', join(w, 'a.safetensors')], code: 1, message: /non-finite values/ },
  { name: 'metrics of a model with a weight not a number', args: (d) => ['metrics', '--checkpoint', join(d, 'model-nan.safetensors'), '--images', join(d, 'images-1e6.safetensors').replace('1e6', 'ok')], code: 1, message: /not finite|non-finite/ },
  { name: 'sample of a model with a weight not a number', args: (d, w) => ['sample', '--checkpoint', join(d, 'model-nan.safetensors'), '--batch', '2', '--out', join(w, 'a.png')], code: 1, message: /not finite|non-finite/ },
  { name: 'denoising with an infinite noise_std', args: (d, w) => ['sample', '--checkpoint', join(d, 'model-inf-noise.safetensors'), '--batch', '2', '--denoise', '--out', join(w, 'a.png')], code: 1, message: /noise_std|non-finite|not finite/ },
  { name: 'metrics on NaN images', args: (d) => ['metrics', '--checkpoint', COND, '--images', join(d, 'images-nan.safetensors')], code: 1, message: /1 non-finite value of 864 \(first .* at image 0, channel 2, row 1, column 0\)/ },
  { name: 'metrics on infinite images', args: (d) => ['metrics', '--checkpoint', COND, '--images', join(d, 'images-inf.safetensors')], code: 1, message: /864 non-finite values of 864/ },
  { name: 'metrics on images in 0…255', args: (d) => ['metrics', '--checkpoint', COND, '--images', join(d, 'images-255.safetensors')], code: 1, message: /864 values of 864 outside the data range/ },
  { name: 'metrics on images at 1e6', args: (d) => ['metrics', '--checkpoint', COND, '--images', join(d, 'images-1e6.safetensors')], code: 1, message: /outside the data range/ },
  { name: 'plan on NaN images', args: (d) => ['plan', '--checkpoint', COND, '--images', join(d, 'images-nan.safetensors')], code: 1, message: /non-finite value/ },
  { name: 'merge of NaN pixels', args: (d, w) => ['merge', join(d, 'shard-nan.safetensors'), '--out', join(w, 'm.safetensors')], code: 1, message: /shard .*shard-nan\.safetensors: 1 non-finite value/ },
  { name: 'merge of an int32 sample tensor', args: (d, w) => ['merge', join(d, 'shard-int.safetensors'), '--out', join(w, 'm.safetensors')], code: 1, message: /tensor 'sample' has dtype I32, expected a float type/ },
  { name: 'merge of label 99', args: (d, w) => ['merge', join(d, 'shard-label99.safetensors'), '--out', join(w, 'm.png')], code: 1, message: /label 99 of sample 1 does not match the run's label list 0,1/ },
  { name: 'merge of a shard whose total is not a number', args: (d, w) => ['merge', join(d, 'shard-total-nan.safetensors'), '--out', join(w, 'm.safetensors')], code: 1, message: /metadata 'total' must be an integer from 1 to \d+ \(it is '\w+'\)/ },
  { name: 'merge of a shard with a huge total', args: (d, w) => ['merge', join(d, 'shard-total-huge.safetensors'), '--out', join(w, 'm.safetensors')], code: 1, message: /metadata 'total' must be an integer/ },
  { name: 'merge of a shard starting before 0', args: (d, w) => ['merge', join(d, 'shard-start-neg.safetensors'), '--out', join(w, 'm.safetensors')], code: 1, message: /metadata 'start' must be an integer/ },
  { name: 'merge of shards of different runs', args: (d, w) => ['merge', join(d, 'shard-2of2.safetensors'), join(d, 'shard-other-total.safetensors'), '--out', join(w, 'm.safetensors')], code: 1, message: /different total sample count \(4 vs 3\)/ },
  // Sizes.
  { name: 'sample --batch 1e8', args: (_d, w) => ['sample', '--checkpoint', COND, '--batch', '1e8', '--out', join(w, 'a.png')], code: 2, message: /'1e8' is invalid\. expected an integer from 1 to 1000000/ },
  { name: 'sample --batch 100000000', args: (_d, w) => ['sample', '--checkpoint', COND, '--batch', '100000000', '--out', join(w, 'a.png')], code: 2, message: /expected an integer from 1 to 1000000/ },
  { name: 'plan --batch 1000000000', args: () => ['plan', '--checkpoint', COND, '--batch', '1000000000'], code: 2, message: /expected an integer from 1 to 4096/ },
  { name: 'convert with --num-blocks 100000000', args: (d, w) => ['convert', join(d, 'model.safetensors'), '--num-blocks', '100000000', '--out', join(w, 'c.safetensors')], code: 2, message: /expected an integer from 1 to 1024/ },
  { name: 'sample --chunk 0', args: (_d, w) => ['sample', '--checkpoint', COND, '--chunk', '0', '--out', join(w, 'a.png')], code: 2, message: /--chunk/ },
  { name: 'train --label-drop 2', args: (_d, w) => ['train', '--out-dir', join(w, 't'), '--label-drop', '2'], code: 2, message: /expected a number from 0 to 1/ },
  { name: 'sample --guidance Infinity', args: (_d, w) => ['sample', '--checkpoint', COND, '--guidance', 'Infinity', '--out', join(w, 'a.png')], code: 2, message: /expected a number from 0 to 1000/ },
  { name: 'sample --seed 2^32', args: (_d, w) => ['sample', '--checkpoint', COND, '--seed', '4294967296', '--out', join(w, 'a.png')], code: 2, message: /expected an integer from 0 to 4294967295/ },
  { name: 'sample --labels 99999999999999999999', args: (_d, w) => ['sample', '--checkpoint', COND, '--labels', '99999999999999999999', '--out', join(w, 'a.png')], code: 2, message: /class indices must be small integers/ },
  { name: 'sample --shard 1/2000000', args: (_d, w) => ['sample', '--checkpoint', COND, '--shard', '1/2000000', '--out', join(w, 'a.safetensors')], code: 2, message: /at most 1000000 shards/ },
  // Out-of-range strategies.
  { name: 'sample --strategy [0-100-12-10]', args: (_d, w) => ['sample', '--checkpoint', COND, '--strategy', '[0-100-12-10]', '--out', join(w, 'a.png')], code: 2, message: /at most 35 modules/ },
  { name: 'sample --solver gs-jacobi --modules 1000', args: (_d, w) => ['sample', '--checkpoint', COND, '--solver', 'gs-jacobi', '--modules', '1000', '--out', join(w, 'a.png')], code: 2, message: /--modules 1000: a block has only T − 1 = 35 positions/ },
  { name: 'sample --iterations 99999999999999999999', args: (_d, w) => ['sample', '--checkpoint', COND, '--solver', 'jacobi', '--iterations', '99999999999999999999', '--out', join(w, 'a.png')], code: 2, message: /--iterations/ },
  { name: 'sample --strategy jacobi:99999999999999999999', args: (_d, w) => ['sample', '--checkpoint', COND, '--strategy', 'jacobi:99999999999999999999', '--out', join(w, 'a.png')], code: 2, message: /above the limit of 1000000/ },
  { name: 'sample --strategy joint:0x10', args: (_d, w) => ['sample', '--checkpoint', COND, '--strategy', 'joint:0x10', '--out', join(w, 'a.png')], code: 2, message: /positive integer in decimal digits/ },
  { name: 'sample --strategy JSON with modules null', args: (_d, w) => ['sample', '--checkpoint', COND, '--strategy', '[{"kind":"jacobi","modules":null,"maxIterations":3},{"kind":"sequential"},{"kind":"sequential"},{"kind":"sequential"}]', '--out', join(w, 'a.png')], code: 2, message: /modules must be a positive integer, got null|block entries/ },
  { name: 'sample --strategy JSON with unknown field maxIteration', args: (_d, w) => ['sample', '--checkpoint', COND, '--strategy', '{"kind":"joint","maxIteration":3}', '--out', join(w, 'a.png')], code: 2, message: /unknown field "maxIteration"/ },
  { name: 'sample --strategy with an unclosed option', args: (_d, w) => ['sample', '--checkpoint', COND, '--strategy', 'jacobi:3 (tol 1e-4', '--out', join(w, 'a.png')], code: 2, message: /cannot parse strategy/ },
  { name: 'sample --labels 99 of 5 classes', args: (_d, w) => ['sample', '--checkpoint', COND, '--labels', '99', '--out', join(w, 'a.png')], code: 2, message: /99/ },
  { name: 'sample --labels-file with label 99', args: (d, w) => ['sample', '--checkpoint', COND, '--labels-file', join(d, 'labels-99.safetensors'), '--out', join(w, 'a.png')], code: 1, message: /99/ },
  { name: 'sample --noise of the wrong shape', args: (d, w) => ['sample', '--checkpoint', COND, '--noise', join(d, 'noise-shape.safetensors'), '--out', join(w, 'a.png')], code: 1, message: /noise-shape\.safetensors/ },
  { name: 'sample --out naming its --checkpoint, JSON output', args: (d) => ['sample', '--checkpoint', join(d, 'model.safetensors'), '--json', '--out', join(d, 'model.safetensors')], code: 2, message: /is the --checkpoint file/ },
  { name: 'sample --trace naming its --checkpoint (not a .png)', args: (d, w) => ['sample', '--checkpoint', join(d, 'model.safetensors'), '--out', join(w, 'a.png'), '--trace', join(d, 'model.safetensors')], code: 2, message: /--trace .*model\.safetensors: the file name must end in \.png/ },
  // bench: bad flags, saved reports that are no report, outputs naming inputs.
  { name: 'bench --render null', args: (d, w) => ['bench', '--render', join(d, 'report-null.json'), '--out', join(w, 'r.md')], code: 1, message: /bench --render: .*report-null\.json is not a benchmark report: the file is null, not an object/ },
  { name: 'bench --render {}', args: (d, w) => ['bench', '--render', join(d, 'report-empty-object.json'), '--out', join(w, 'r.md')], code: 1, message: /is not a benchmark report: started is missing/ },
  { name: 'bench --render []', args: (d, w) => ['bench', '--render', join(d, 'report-list.json'), '--out', join(w, 'r.md')], code: 1, message: /is not a benchmark report: the file is a list, not an object/ },
  { name: 'bench --render a report with results 7', args: (d, w) => ['bench', '--render', join(d, 'report-results-7.json'), '--out', join(w, 'r.md')], code: 1, message: /is not a benchmark report: results is a number, not a list/ },
  { name: 'bench --render truncated JSON', args: (d, w) => ['bench', '--render', join(d, 'report-truncated.json'), '--out', join(w, 'r.md')], code: 1, message: /is not a benchmark report: it is not valid JSON/ },
  { name: 'bench --render a binary file', args: (d, w) => ['bench', '--render', join(d, 'report-binary.json'), '--out', join(w, 'r.md')], code: 1, message: /is not a benchmark report: it is not UTF-8 text/ },
  { name: 'bench --render an empty file', args: (d, w) => ['bench', '--render', join(d, 'report-blank.json'), '--out', join(w, 'r.md')], code: 1, message: /is not a benchmark report: it is empty/ },
  { name: 'bench --render a report of no results', args: (d, w) => ['bench', '--render', join(d, 'report-no-results.json'), '--out', join(w, 'r.md')], code: 1, message: /is not a benchmark report: results is an empty list/ },
  { name: 'bench --render a report started yesterday', args: (d, w) => ['bench', '--render', join(d, 'report-bad-date.json'), '--out', join(w, 'r.md')], code: 1, message: /is not a benchmark report: started is not a date/ },
  { name: 'bench --render a row without its wall time', args: (d, w) => ['bench', '--render', join(d, 'report-no-wall.json'), '--out', join(w, 'r.md')], code: 1, message: /is not a benchmark report: results\[0\]\.sideBySide\[0\]\.wallMs is missing/ },
  { name: 'bench --render a wall time in words', args: (d, w) => ['bench', '--render', join(d, 'report-text-wall.json'), '--out', join(w, 'r.md')], code: 1, message: /results\[0\]\.sideBySide\[1\]\.wallMs is text, not a number/ },
  { name: 'bench --render a planning row without its mean |Δ|', args: (d, w) => ['bench', '--render', join(d, 'report-planning-no-diff.json'), '--out', join(w, 'r.md')], code: 1, message: /is not a benchmark report: planning\.rows\[0\]\.empty\.meanAbsDiff is missing/ },
  { name: 'bench --render a device', args: (_d, w) => ['bench', '--render', '/dev/zero', '--out', join(w, 'r.md')], code: 1, message: /--render file \/dev\/zero: is a device/ },
  { name: 'bench --render a missing file', args: (d, w) => ['bench', '--render', join(d, 'nope.json'), '--out', join(w, 'r.md')], code: 1, message: /no such file/ },
  { name: 'bench --render a folder', args: (d, w) => ['bench', '--render', join(d, 'folder'), '--out', join(w, 'r.md')], code: 1, message: /is a directory/ },
  { name: 'bench --render a FIFO', args: (d, w) => ['bench', '--render', join(d, 'pipe.safetensors'), '--out', join(w, 'r.md')], code: 1, message: /is a pipe/ },
  { name: 'bench --out naming its --render file through a link', args: (d) => ['bench', '--render', join(d, 'report.json'), '--out', join(d, 'report-link.md')], code: 2, message: /--out .* is the --render file/ },
  { name: 'bench --out and --json-out the same file', args: (_d, w) => ['bench', '--quick', '--out', join(w, 'r.md'), '--json-out', join(w, 'r.md')], code: 2, message: /--json-out and --out name the same file/ },
  { name: 'bench --json-out naming its --checkpoint', args: (d, w) => ['bench', '--quick', '--checkpoint', join(d, 'model.safetensors'), '--out', join(w, 'r.md'), '--json-out', join(d, 'model.safetensors')], code: 2, message: /--json-out .* is the --checkpoint file/ },
  { name: 'bench --out not markdown', args: (_d, w) => ['bench', '--quick', '--out', join(w, 'r.txt')], code: 2, message: /must end in \.md/ },
  { name: 'bench --out an existing folder', args: (d) => ['bench', '--render', join(d, 'report.json'), '--out', join(d, 'folder.md')], code: 2, message: /--out .*folder\.md: is a directory/ },
  { name: 'bench --tokens 5 (not a square)', args: (_d, w) => ['bench', '--quick', '--tokens', '5', '--out', join(w, 'r.md')], code: 2, message: /--tokens: 5 is not a square/ },
  { name: 'bench --memory-solvers of an unknown solver', args: (_d, w) => ['bench', '--quick', '--memory-solvers', 'fastest', '--out', join(w, 'r.md')], code: 2, message: /--memory-solvers: unknown solver 'fastest'/ },
  { name: 'bench --batches 0,x', args: (_d, w) => ['bench', '--quick', '--batches', '0,x', '--out', join(w, 'r.md')], code: 2, message: /--batches 0,x: expected a comma list of positive integers/ },
  { name: 'bench --tokens NaN', args: (_d, w) => ['bench', '--quick', '--tokens', 'NaN', '--out', join(w, 'r.md')], code: 2, message: /--tokens/ },
  { name: 'bench --backends gpu', args: (_d, w) => ['bench', '--quick', '--backends', 'gpu', '--out', join(w, 'r.md')], code: 2, message: /unknown backend 'gpu'/ },
  { name: 'bench --fd-count -1', args: (_d, w) => ['bench', '--quick', '--fd-count', '-1', '--out', join(w, 'r.md')], code: 2, message: /--fd-count/ },
  { name: 'bench --memory-batch 1e8', args: (_d, w) => ['bench', '--quick', '--memory-batch', '1e8', '--out', join(w, 'r.md')], code: 2, message: /--memory-batch/ },
  // plan.
  { name: 'plan --images with NaN', args: (d) => ['plan', '--checkpoint', COND, '--images', join(d, 'images-nan.safetensors'), '--batch', '2'], code: 1, message: /non-finite value/ },
  { name: 'plan --save-into a file that is not .safetensors', args: (_d, w) => ['plan', '--checkpoint', COND, '--save-into', join(w, 'plan.txt')], code: 2, message: /--save-into/ },
  { name: 'plan --save-into naming its --images', args: (d) => ['plan', '--checkpoint', COND, '--images', join(d, 'images-ok.safetensors'), '--save-into', join(d, 'images-ok.safetensors')], code: 2, message: /--save-into .* is the --images file/ },
  { name: 'plan --save-into an existing folder', args: (d) => ['plan', '--checkpoint', COND, '--save-into', join(d, 'folder')], code: 2, message: /--save-into/ },
  { name: 'plan --checkpoint a device', args: () => ['plan', '--checkpoint', '/dev/zero'], code: 1, message: /checkpoint \/dev\/zero: is a device/ },
  { name: 'plan --checkpoint a text file', args: (d) => ['plan', '--checkpoint', join(d, 'text.safetensors')], code: 1, message: /text\.safetensors/ },
  { name: 'plan --images of the wrong shape', args: (d) => ['plan', '--checkpoint', COND, '--images', join(d, 'images-shape.safetensors')], code: 1, message: /images-shape\.safetensors|shape/ },
  { name: 'plan --objective fastest', args: () => ['plan', '--checkpoint', COND, '--objective', 'fastest'], code: 2, message: /--objective/ },
  { name: 'plan --count 0', args: () => ['plan', '--checkpoint', COND, '--count', '0'], code: 2, message: /--count/ },
  // train.
  { name: 'train --dataset a missing folder', args: (d, w) => ['train', '--out-dir', join(w, 't'), '--dataset', join(d, 'no-such-folder')], code: 1, message: /no-such-folder/ },
  { name: 'train --dataset a text file', args: (d, w) => ['train', '--out-dir', join(w, 't'), '--dataset', join(d, 'notes.txt')], code: 1, message: /notes\.txt/ },
  { name: 'train --dataset a folder of no images', args: (d, w) => ['train', '--out-dir', join(w, 't'), '--dataset', join(d, 'no-images')], code: 1, message: /no-images/ },
  { name: 'train --dataset a device', args: (_d, w) => ['train', '--out-dir', join(w, 't'), '--dataset', '/dev/zero'], code: 1, message: /\/dev\/zero/ },
  { name: 'train --out-dir a file', args: (d) => ['train', '--out-dir', join(d, 'text.safetensors')], code: 2, message: /--out-dir .*text\.safetensors: exists and is not a folder/ },
  { name: 'train --num-blocks 100000000', args: (_d, w) => ['train', '--out-dir', join(w, 't'), '--num-blocks', '100000000'], code: 2, message: /--num-blocks .*expected an integer from 1 to/ },
  { name: 'train --channels 1e9', args: (_d, w) => ['train', '--out-dir', join(w, 't'), '--channels', '1e9'], code: 2, message: /--channels/ },
  { name: 'train --layers-per-block 1000000000', args: (_d, w) => ['train', '--out-dir', join(w, 't'), '--layers-per-block', '1000000000'], code: 2, message: /--layers-per-block/ },
  { name: 'train --img-size 99999', args: (_d, w) => ['train', '--out-dir', join(w, 't'), '--img-size', '99999'], code: 2, message: /--img-size/ },
  { name: 'train --noise-std Infinity', args: (_d, w) => ['train', '--out-dir', join(w, 't'), '--noise-std', 'Infinity'], code: 2, message: /--noise-std/ },
  { name: 'train --resume a missing file', args: (d, w) => ['train', '--out-dir', join(w, 't'), '--resume', join(d, 'nope.train.safetensors')], code: 1, message: /nope\.train\.safetensors/ },
  { name: 'train --split every', args: (_d, w) => ['train', '--out-dir', join(w, 't'), '--split', 'every'], code: 2, message: /--split/ },
  // metrics.
  { name: 'metrics --images a text file', args: (d) => ['metrics', '--checkpoint', COND, '--images', join(d, 'text.safetensors')], code: 1, message: /--images file .*text\.safetensors/ },
  { name: 'metrics --images missing', args: (d) => ['metrics', '--checkpoint', COND, '--images', join(d, 'nope.safetensors')], code: 1, message: /no such file/ },
  { name: 'metrics --images of the wrong shape', args: (d) => ['metrics', '--checkpoint', COND, '--images', join(d, 'images-shape.safetensors')], code: 1, message: /images-shape\.safetensors|shape/ },
  { name: 'metrics --images with no tensor x', args: (d) => ['metrics', '--checkpoint', COND, '--images', join(d, 'noise.safetensors')], code: 1, message: /noise\.safetensors/ },
  { name: 'metrics --checkpoint a FIFO', args: (d) => ['metrics', '--checkpoint', join(d, 'pipe.safetensors'), '--images', join(d, 'images-ok.safetensors')], code: 1, message: /is a pipe/ },
  { name: 'metrics --norm 3', args: (d) => ['metrics', '--checkpoint', COND, '--norm', '3', '--images', join(d, 'images-ok.safetensors')], code: 2, message: /--norm/ },
  { name: 'metrics --count 0', args: () => ['metrics', '--checkpoint', COND, '--count', '0'], code: 2, message: /--count/ },
  { name: 'metrics --dataset a missing folder', args: (d) => ['metrics', '--checkpoint', COND, '--dataset', join(d, 'no-such-folder')], code: 1, message: /no-such-folder/ },
  // merge.
  { name: 'merge of a text file', args: (d, w) => ['merge', join(d, 'text.safetensors'), '--out', join(w, 'm.safetensors')], code: 1, message: /shard .*text\.safetensors/ },
  { name: 'merge of a missing shard', args: (d, w) => ['merge', join(d, 'nope.safetensors'), '--out', join(w, 'm.safetensors')], code: 1, message: /no such file/ },
  { name: 'merge of a model, not a shard', args: (d, w) => ['merge', join(d, 'model.safetensors'), '--out', join(w, 'm.safetensors')], code: 1, message: /model\.safetensors/ },
  { name: 'merge of one shard twice', args: (d, w) => ['merge', join(d, 'shard-ok.safetensors'), join(d, 'shard-ok.safetensors'), '--out', join(w, 'm.safetensors')], code: 1, message: /shard 1\/1 is given twice/ },
  { name: 'merge --out naming a shard through a link', args: (d) => ['merge', join(d, 'model-link.safetensors'), '--out', join(d, 'model.safetensors')], code: 2, message: /is the shard file/ },
  { name: 'merge --out not .png or .safetensors', args: (d, w) => ['merge', join(d, 'shard-ok.safetensors'), '--out', join(w, 'm.txt')], code: 2, message: /--out/ },
  { name: 'merge of no shards', args: (_d, w) => ['merge', '--out', join(w, 'm.png')], code: 2, message: /shards/ },
  { name: 'merge of a device', args: (_d, w) => ['merge', '/dev/zero', '--out', join(w, 'm.safetensors')], code: 1, message: /\/dev\/zero: is a device/ },
  // convert.
  { name: 'convert --out naming its input through a link', args: (d) => ['convert', join(d, 'model-link.safetensors'), '--out', join(d, 'model.safetensors')], code: 2, message: /is the|input/ },
  { name: 'convert of a text file', args: (d, w) => ['convert', join(d, 'text.safetensors'), '--out', join(w, 'c.safetensors')], code: 1, message: /text\.safetensors/ },
  { name: 'convert of an empty file', args: (d, w) => ['convert', join(d, 'empty.safetensors'), '--out', join(w, 'c.safetensors')], code: 1, message: /empty\.safetensors/ },
  { name: 'convert of a .pth cut short', args: (d, w) => ['convert', join(d, 'cut.pth'), '--out', join(w, 'c.safetensors')], code: 1, message: /cut\.pth/ },
  { name: 'convert of a device', args: (_d, w) => ['convert', '/dev/zero', '--out', join(w, 'c.safetensors')], code: 1, message: /\/dev\/zero: is a device/ },
  { name: 'convert of a missing file', args: (d, w) => ['convert', join(d, 'nope.pth'), '--out', join(w, 'c.safetensors')], code: 1, message: /no such file/ },
  { name: 'convert --out an existing folder', args: (d) => ['convert', join(d, 'model.safetensors'), '--out', join(d, 'folder.safetensors')], code: 2, message: /folder\.safetensors: is a directory/ },
  { name: 'convert --noise-std -1', args: (d, w) => ['convert', join(d, 'model.safetensors'), '--noise-std', '-1', '--out', join(w, 'c.safetensors')], code: 2, message: /--noise-std/ },
];

/** Flags that take numbers, with the command that has them, for the seeded random cases. */
const NUMERIC_FLAGS: Array<[string, string]> = [
  ['sample', '--batch'], ['sample', '--seed'], ['sample', '--chunk'], ['sample', '--guidance'], ['sample', '--temperature'],
  ['sample', '--tolerance'], ['sample', '--modules'], ['sample', '--iterations'], ['sample', '--nrow'], ['sample', '--attn-temp'],
  ['plan', '--batch'], ['plan', '--seed'], ['plan', '--count'], ['metrics', '--count'],
  ['train', '--steps'], ['train', '--batch'], ['train', '--lr'], ['train', '--label-drop'], ['train', '--num-blocks'], ['train', '--noise-std'],
  ['bench', '--repeats'], ['bench', '--batch'], ['bench', '--memory-batch'], ['merge', '--nrow'],
];
/** Values no numeric flag accepts. */
const BAD_NUMBERS = ['', ' ', 'NaN', 'nan', 'Infinity', '-Infinity', 'abc', '1e400', '-1', '-0.5', '0x10', '1,2', '99999999999999999999', '1e8', '1_000', '--', 'undefined', 'null', '[]', '2**40'];

/** Seeded random cases: a numeric flag with a value it must refuse. */
function randomFlagCases(n: number): Case[] {
  const rand = mulberry32(SEED);
  const pick = <X>(xs: X[]) => xs[Math.floor(rand() * xs.length)];
  const out: Case[] = [];
  for (let i = 0; i < n; i++) {
    const [command, flag] = pick(NUMERIC_FLAGS);
    let value = pick(BAD_NUMBERS);
    // Values some flags accept: a negative number is refused by all; these need a flag that refuses them.
    if (value === '1e8' && ['--guidance', '--temperature', '--tolerance', '--lr', '--label-drop', '--attn-temp', '--noise-std'].includes(flag)) value = '-1e8';
    const tail = command === 'merge' ? ['x.safetensors', '--out', 'm.png'] : command === 'train' ? ['--out-dir', 't'] : [];
    out.push({ name: `${command} ${flag} '${value}'`, args: () => [command, ...tail, `${flag}=${value}`], code: 2, message: new RegExp(`${flag.replace(/-/g, '\\-')}`) });
  }
  return out;
}

/** Every file under `dir` with its size and modification time. */
function snapshot(dir: string): string[] {
  const out: string[] = [];
  const walk = (d: string) => {
    for (const e of readdirSync(d, { withFileTypes: true })) {
      const p = join(d, e.name);
      if (e.isDirectory()) walk(p);
      else if (e.isFile()) {
        const s = statSync(p);
        out.push(`${relative(dir, p)} ${s.size} ${s.mtimeMs}`);
      } else out.push(`${relative(dir, p)} (${e.isFIFO() ? 'fifo' : e.isSymbolicLink() ? 'link' : 'other'})`);
    }
  };
  walk(dir);
  return out.sort();
}

/** The message lines of stderr, without commander's help hint. */
function messageLines(stderr: string): string[] {
  return stderr.split('\n').filter((l) => l.trim() !== '' && l.trim() !== HELP_HINT);
}

/** The message with the user's own words removed (a refused value is quoted back, and may be 'NaN'). */
function withoutUserText(line: string, args: string[]): string {
  let s = line;
  for (const a of [...args].sort((x, y) => y.length - x.length)) {
    if (a.length > 0) s = s.split(a).join('');
    const eq = a.indexOf('=');
    if (eq > 0) s = s.split(a.slice(eq + 1)).join('');
  }
  return s.replace(QUOTED, "''").replace(EXPLAINED, '');
}

describe('hostile input', () => {
  let tmp: ReturnType<typeof tempDir>;
  let inputs: string;
  let before: string[];
  beforeAll(() => {
    tmp = tempDir();
    inputs = join(tmp.dir, 'inputs');
    mkdirSync(inputs);
    writeInputs(inputs);
    before = snapshot(inputs);
  });
  afterAll(() => tmp.cleanup());

  const all = [...CASES, ...randomFlagCases(40)];

  it.concurrent.each(all.map((c, i) => [c.name, i] as const))('%s', async (_name, i) => {
    const c = all[i];
    const work = join(tmp.dir, `case-${i}`);
    mkdirSync(work);
    const args = c.args(inputs, work);
    const started = Date.now();
    const r = await tarflow(args, { cwd: work, timeoutMs: CASE_LIMIT_MS });
    expect(Date.now() - started, 'the command did not return in time').toBeLessThan(CASE_LIMIT_MS);
    expect(r.code, r.stderr).toBe(c.code);
    const lines = messageLines(r.stderr);
    expect(lines, r.stderr).toHaveLength(1);
    expect(lines[0]).toMatch(c.message);
    expect(lines[0]).not.toMatch(/^\s+at /);
    expect(withoutUserText(lines[0], args)).not.toMatch(INTERNAL);
    expect(r.stdout).toBe('');
    expect(snapshot(work), 'files left in the working folder').toEqual([]);
  });

  it('left every input file as it was', () => {
    expect(snapshot(inputs)).toEqual(before);
    expect(readFileSync(join(inputs, 'model.safetensors')).equals(readFileSync(COND))).toBe(true);
  });
});

describe('flag parsers on seeded random text', () => {
  const rand = mulberry32(SEED + 1);
  const pieces = ['0', '1', '9', '-', '+', '.', 'e', 'E', ' ', ',', '/', 'x', 'NaN', 'Infinity', '1e308', '00', '4096', '4097', '1000000', '1000001'];
  const text = () => Array.from({ length: 1 + Math.floor(rand() * 5) }, () => pieces[Math.floor(rand() * pieces.length)]).join('');
  const inputs = Array.from({ length: 2000 }, text);

  /** Runs a parser: its value, or the reason it refused (InvalidArgumentError only). */
  function attempt<X>(parse: (s: string) => X, s: string): { value: X } | { reason: string } {
    try {
      return { value: parse(s) };
    } catch (e) {
      expect(e, `parser threw something else on '${s}'`).toBeInstanceOf(InvalidArgumentError);
      return { reason: (e as Error).message };
    }
  }

  it('integers: a value in range, or a reason naming the range', () => {
    const parse = intArg(1, LIMITS.batch);
    let accepted = 0;
    for (const s of inputs) {
      const r = attempt(parse, s);
      if ('value' in r) {
        accepted++;
        expect(Number.isInteger(r.value) && r.value >= 1 && r.value <= LIMITS.batch, `'${s}' → ${r.value}`).toBe(true);
      } else expect(r.reason).toBe('expected an integer from 1 to 4096.');
    }
    expect(accepted).toBeGreaterThan(0);
  });

  it('numbers: a finite value in range, or a reason naming the range', () => {
    const parse = numberArg(0, true, 100);
    let accepted = 0;
    for (const s of inputs) {
      const r = attempt(parse, s);
      if ('value' in r) {
        accepted++;
        expect(Number.isFinite(r.value) && r.value > 0 && r.value <= 100, `'${s}' → ${r.value}`).toBe(true);
      } else expect(r.reason).toBe('expected a number > 0 and <= 100.');
    }
    expect(accepted).toBeGreaterThan(0);
  });

  it('shards and labels: a well-formed value, or a reason without internal words', () => {
    for (const s of inputs) {
      const shard = attempt(shardArg, s);
      if ('value' in shard) expect(shard.value.index >= 1 && shard.value.index <= shard.value.count && shard.value.count <= LIMITS.samples).toBe(true);
      else expect(shard.reason).not.toMatch(INTERNAL);
      const labels = attempt(labelsArg, s);
      if ('value' in labels && labels.value.kind === 'list') expect(labels.value.values.every(Number.isSafeInteger)).toBe(true);
      else if ('reason' in labels) expect(labels.reason).not.toMatch(INTERNAL);
    }
  });
});
