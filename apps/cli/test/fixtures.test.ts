/**
 * End to end against the reference fixtures: `tarflow sample` with the
 * fixture's noise (and labels) reproduces its sequential and GS-Jacobi
 * samples, and `tarflow metrics --json` its CRM and IGM.
 */
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { tf } from '@tarflow/tensor';
import { compare, fixturesDir, loadFixture, useBackend, type Fixture } from '@tarflow/test-fixtures';
import { readTensor, tarflow, tempDir, writeTensors } from './helpers.js';

const FIXTURES = ['tiny-uncond', 'tiny-cond'];

/** The fixture's per-block GS-Jacobi settings as a strategy (JSON for --strategy). */
function fixtureStrategy(c: { num_gs: number[]; max_jacobi: number[]; guess: number[] }, tokens: number): unknown[] {
  return c.num_gs.map((g, i) =>
    g === 0 || g === tokens
      ? { kind: 'sequential' }
      : { kind: 'jacobi', modules: g, maxIterations: c.max_jacobi[i], guess: c.guess[i] === 0 ? 'noise' : 'zeros' },
  );
}

/** The fixture's guidance settings as flags. */
function guidanceFlags(s: { guidance: number; guide: string; annealed_guidance: boolean; attn_temp: number }): string[] {
  if (!(s.guidance > 0)) return [];
  const on = s.guide === 'alpha and gamma' ? 'both' : s.guide === 'alpha' ? 'alpha' : 'gamma';
  return ['--guidance', String(s.guidance), '--guide', on, ...(s.annealed_guidance ? ['--annealed'] : []), '--attn-temp', String(s.attn_temp)];
}

function expectWithin(f: Fixture, file: string, key: string): void {
  const { data, shape } = readTensor(file, 'sample');
  const got = tf.tensor(data, shape);
  const { worst, maxErr } = compare(f, got, key);
  got.dispose();
  expect(worst, `${key}: max abs error ${maxErr}`).toBeLessThanOrEqual(0);
}

describe.each(FIXTURES)('%s', (name) => {
  const f = loadFixture(name);
  const checkpoint = join(fixturesDir(), `${name}.safetensors`);
  let tmp: ReturnType<typeof tempDir>;
  let inputs: string[];

  beforeAll(async () => {
    await useBackend('cpu'); // only to compare results here; the CLI runs its own backend
    tmp = tempDir();
    const noise = join(tmp.dir, 'noise.safetensors');
    writeTensors(noise, { noise: f.expected.tensors.get('noise')! });
    inputs = ['--checkpoint', checkpoint, '--noise', noise];
    if (f.expected.tensors.has('labels')) {
      const labels = join(tmp.dir, 'labels.safetensors');
      writeTensors(labels, { labels: f.expected.tensors.get('labels')! }); // int64, as the reference writes it
      inputs.push('--labels-file', labels);
    }
    writeTensors(join(tmp.dir, 'x.safetensors'), { x: f.expected.tensors.get('forward.x')! });
  });
  afterAll(() => tmp.cleanup());

  it('sample reproduces sequential.sample', async () => {
    const out = join(tmp.dir, 'sequential.safetensors');
    const r = await tarflow(['sample', ...inputs, ...guidanceFlags(f.spec.cases.sequential), '--solver', 'sequential', '--out', out, '--json']);
    expect(r.code, r.stderr).toBe(0);
    const report = JSON.parse(r.stdout).report;
    expect(report.depth).toBe(report.sequentialDepth);
    expectWithin(f, out, 'sequential.sample');
  });

  const cases = Object.keys(f.spec.cases).filter((k) => k.startsWith('gsj.'));
  it.each(cases)('sample --strategy … --reference-semantics reproduces %s', async (key) => {
    const c = f.spec.cases[key];
    const out = join(tmp.dir, `${key}.safetensors`);
    const strategy = JSON.stringify(fixtureStrategy(c, f.spec.T));
    const r = await tarflow([
      'sample', ...inputs, ...guidanceFlags(f.spec.cases.sequential),
      '--strategy', strategy, '--reference-semantics', '--no-divergence-guard', '--out', out,
    ]);
    expect(r.code, r.stderr).toBe(0);
    expectWithin(f, out, key);
  });

  it('metrics --json reproduces metrics.crm (last column) and metrics.igm', async () => {
    const r = await tarflow(['metrics', '--checkpoint', checkpoint, '--images', join(tmp.dir, 'x.safetensors'), '--json']);
    expect(r.code, r.stderr).toBe(0);
    const m = JSON.parse(r.stdout) as { crm: number[]; igm: number[][] };
    const crm = readTensor(join(fixturesDir(), `${name}.expected.safetensors`), 'metrics.crm').data;
    const igm = readTensor(join(fixturesDir(), `${name}.expected.safetensors`), 'metrics.igm').data;
    const blocks = f.spec.config.num_blocks;
    expect(m.crm).toHaveLength(blocks);
    expect(m.igm).toHaveLength(blocks);
    for (let i = 0; i < blocks; i++) {
      expect(Math.abs(m.crm[i] - crm[i * 4 + 3])).toBeLessThanOrEqual(f.tol(crm[i * 4 + 3]));
      for (let g = 0; g < 2; g++) expect(Math.abs(m.igm[i][g] - igm[i * 2 + g])).toBeLessThanOrEqual(f.tol(igm[i * 2 + g]));
    }
  });
});
