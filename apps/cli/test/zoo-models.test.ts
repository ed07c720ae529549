/**
 * `--model`: the zoo's models by name (mnist, the default; fashion-mnist), a
 * checkpoint file by path, and one-line errors for anything else.
 */
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { fixturesDir } from '@tarflow/test-fixtures';
import { tarflow } from './helpers.js';

const COND = join(fixturesDir(), 'tiny-cond.safetensors');

describe.concurrent('sample --model', () => {
  it('fashion-mnist samples the zoo model at its recommended settings', async () => {
    const r = await tarflow(['sample', '--model', 'fashion-mnist', '--batch', '2', '--labels', '7,9', '--solver', 'sequential', '--json']);
    expect(r.code, r.stderr).toBe(0);
    const j = JSON.parse(r.stdout);
    expect(j.model.source).toBe('fashion-mnist');
    expect(j.model.config.num_classes).toBe(10);
    expect(j.report.depth).toBe(4 * 48);
    const human = await tarflow(['sample', '--model', 'fashion-mnist', '--batch', '1', '--solver', 'sequential']);
    expect(human.code, human.stderr).toBe(0);
    expect(human.stdout).toMatch(/^fashion-mnist model \(@tarflow\/zoo\)/);
    expect(human.stdout).toMatch(/one denoising step/);
  });

  it('mnist is the default model', async () => {
    const [named, plain] = await Promise.all([
      tarflow(['sample', '--model', 'mnist', '--batch', '1', '--solver', 'sequential', '--json']),
      tarflow(['sample', '--batch', '1', '--solver', 'sequential', '--json']),
    ]);
    expect(named.code, named.stderr).toBe(0);
    expect(plain.code, plain.stderr).toBe(0);
    expect(JSON.parse(named.stdout).model).toEqual(JSON.parse(plain.stdout).model);
    expect(JSON.parse(named.stdout).model.source).toBe('default');
  });

  it('a file path still works', async () => {
    const r = await tarflow(['sample', '--model', COND, '--batch', '1', '--json']);
    expect(r.code, r.stderr).toBe(0);
    expect(JSON.parse(r.stdout).model.source).toBe(COND);
  });

  it('an unknown name is a one-line usage error that lists the names', async () => {
    const r = await tarflow(['sample', '--model', 'cifar10', '--batch', '1']);
    expect(r.code).toBe(2);
    expect(r.stderr.trim().split('\n')).toEqual(["tarflow sample: error: --model cifar10: not a model of the zoo (mnist, fashion-mnist) nor a checkpoint file"]);
  });

  it('a missing file named by path says so', async () => {
    const r = await tarflow(['plan', '--model', join(fixturesDir(), 'nope.safetensors')]);
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/nope\.safetensors.*no such file/);
  });

  it('--model and --checkpoint together are refused', async () => {
    const r = await tarflow(['metrics', '--model', 'fashion-mnist', '--checkpoint', COND]);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/--model .* cannot be used with option '--checkpoint/);
  });
});
