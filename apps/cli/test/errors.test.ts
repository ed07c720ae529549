/**
 * Bad input gives a clear one-line error, a non-zero exit, and no output
 * file (not even a temporary one).
 */
import { copyFileSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { f32Tensor, i64Tensor } from '@tarflow/checkpoint';
import { fixturesDir } from '@tarflow/test-fixtures';
import { filesIn, tarflow, tempDir, writeTensors } from './helpers.js';

const COND = join(fixturesDir(), 'tiny-cond.safetensors');
const UNCOND = join(fixturesDir(), 'tiny-uncond.safetensors');

describe.concurrent('errors', () => {
  let tmp: ReturnType<typeof tempDir>;
  let inputs: string;
  let outDir: string;
  beforeAll(() => {
    tmp = tempDir();
    inputs = join(tmp.dir, 'inputs');
    outDir = join(tmp.dir, 'out');
    mkdirSync(inputs);
    mkdirSync(outDir);
    const bytes = readFileSync(COND);
    writeFileSync(join(inputs, 'truncated.safetensors'), bytes.subarray(0, Math.floor(bytes.length / 2)));
    writeFileSync(join(inputs, 'garbage.safetensors'), 'this is not a checkpoint');
    copyFileSync(join(fixturesDir(), 'tiny-uncond.pth'), join(inputs, 'model.pth'));
    const pth = readFileSync(join(inputs, 'model.pth'));
    writeFileSync(join(inputs, 'truncated.pth'), pth.subarray(0, Math.floor(pth.length * 0.7)));
    writeTensors(join(inputs, 'noise-wrong.safetensors'), { noise: f32Tensor([2, 16, 4], new Float32Array(128)) });
    writeTensors(join(inputs, 'noise-misnamed.safetensors'), { z: f32Tensor([2, 36, 12], new Float32Array(2 * 36 * 12)) });
    writeTensors(join(inputs, 'labels-bad.safetensors'), { labels: i64Tensor([2], [0, 9]) });
  });
  afterAll(() => tmp.cleanup());

  const out = (name: string) => join(outDir, name);

  const cases: Array<[string, () => string[], RegExp, number]> = [
    ['an unknown flag', () => ['sample', '--checkpoint', COND, '--bogus', '--out', out('a.png')], /unknown option '--bogus'/, 2],
    ['a bad number', () => ['sample', '--checkpoint', COND, '--batch', 'many', '--out', out('a.png')], /--batch <n>.*'many' is invalid/, 2],
    ['a negative tolerance', () => ['sample', '--checkpoint', COND, '--solver', 'jacobi', '--tolerance', '-1', '--out', out('a.png')], /--tolerance/, 2],
    ['an unknown solver', () => ['sample', '--checkpoint', COND, '--solver', 'magic', '--out', out('a.png')], /--solver.*magic/, 2],
    ['bad strategy notation', () => ['sample', '--checkpoint', COND, '--strategy', '[0-4-8]', '--out', out('a.png')], /--strategy: cannot parse strategy/, 2],
    ['a strategy naming a missing block', () => ['sample', '--checkpoint', COND, '--strategy', '[7-4-8-2]', '--out', out('a.png')], /block 7 does not exist/, 2],
    ['bad strategy JSON', () => ['sample', '--checkpoint', COND, '--strategy', '[{"kind":"jacobi"}]', '--out', out('a.png')], /--strategy: strategy has 1 block entries/, 2],
    ['an unknown label', () => ['sample', '--checkpoint', COND, '--labels', '0,5', '--out', out('a.png')], /unknown label 5/, 2],
    ['labels for an unconditional model', () => ['sample', '--checkpoint', UNCOND, '--labels', '1', '--out', out('a.png')], /unconditional/, 2],
    ['labels-file with an unknown label', () => ['sample', '--checkpoint', COND, '--batch', '2', '--labels-file', join(inputs, 'labels-bad.safetensors'), '--out', out('a.png')], /unknown label 9/, 2],
    ['a truncated checkpoint', () => ['sample', '--checkpoint', join(inputs, 'truncated.safetensors'), '--out', out('a.png')], /checkpoint .*truncated\.safetensors.*out of range|truncated/, 1],
    ['a garbage checkpoint', () => ['sample', '--checkpoint', join(inputs, 'garbage.safetensors'), '--out', out('a.png')], /checkpoint .*garbage\.safetensors/, 1],
    ['a missing checkpoint', () => ['sample', '--checkpoint', join(inputs, 'nope.safetensors'), '--out', out('a.png')], /no such file/, 1],
    ['noise of the wrong shape', () => ['sample', '--checkpoint', COND, '--noise', join(inputs, 'noise-wrong.safetensors'), '--out', out('a.png')], /tensor 'noise' has shape \[2, 16, 4\], expected \[\?, 36, 12\]/, 1],
    ['a noise file without tensor noise', () => ['sample', '--checkpoint', COND, '--noise', join(inputs, 'noise-misnamed.safetensors'), '--out', out('a.png')], /has no tensor 'noise'/, 1],
    ['an output of unknown type', () => ['sample', '--checkpoint', COND, '--out', out('a.jpg')], /must end in \.png or \.safetensors/, 2],
    ['a bad shard', () => ['sample', '--checkpoint', COND, '--shard', '0/2', '--out', out('a.safetensors')], /shard index must be between 1 and 2/, 2],
    ['metrics without images', () => ['metrics', '--checkpoint', COND, '--json'], /needs a calibration batch/, 2],
    ['metrics on a truncated checkpoint', () => ['metrics', '--checkpoint', join(inputs, 'truncated.safetensors'), '--images', join(inputs, 'noise-wrong.safetensors')], /checkpoint/, 1],
    ['convert of a truncated .pth', () => ['convert', join(inputs, 'truncated.pth'), '--out', out('c.safetensors')], /cannot convert/, 1],
    ['convert of a missing file', () => ['convert', join(inputs, 'nope.pth'), '--out', out('c.safetensors')], /no such file/, 1],
    ['convert to a non-safetensors name', () => ['convert', join(inputs, 'model.pth'), '--out', out('c.bin')], /must end in \.safetensors/, 2],
    ['merge of a non-sample file', () => ['merge', join(inputs, 'noise-wrong.safetensors'), '--out', out('m.safetensors')], /not written by 'tarflow sample'/, 1],
    ['an unknown command', () => ['frobnicate'], /unknown command 'frobnicate'/, 2],
  ];

  it.each(cases)('%s', async (_what, args, message, code) => {
    const r = await tarflow(args());
    expect(r.code, r.stderr).toBe(code);
    expect(r.stderr).toMatch(message);
    expect(r.stdout).toBe('');
    expect(filesIn(outDir)).toEqual([]);
  });
});
