/** The comparison with the PyTorch references: our side's solvers and engines, the inputs file, the checkouts, the section. */
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { tf } from '@tarflow/tensor';
import { loadModel, type TarFlow } from '@tarflow/model';
import { parseSafetensors, toFloat32, toInt32 } from '@tarflow/checkpoint';
import { loadFixture, useBackend } from '@tarflow/test-fixtures';
import {
  benchOurs,
  defaultReferencePlan,
  gsjStrategies,
  referenceCheckouts,
  referenceInputsFile,
  renderReferenceSection,
  type ReferencePlan,
  type ReferenceResult,
} from '../src/index.js';

const yieldToWorker = () => new Promise((r) => setTimeout(r, 0));

describe('our side on the tiny conditional fixture (wasm)', () => {
  let model: TarFlow;
  let plan: ReferencePlan;
  const images = new Map<string, Float32Array>();
  beforeAll(async () => {
    await useBackend('wasm');
    model = loadModel(loadFixture('tiny-cond').checkpoint);
    const L = model.blocks.length;
    plan = {
      ...defaultReferencePlan(model, [2]),
      repeats: 1,
      guidance: { scale: 1.5, on: 'both', annealed: false },
      temperature: 0.8,
      jacobiIterations: 2,
      jointIterations: 2,
      gsj: { num_gs: [6, 0, 1, 1], max_jacobi: [2, 1, 2, 2], guess: [0, 0, 1, 0] },
    };
    expect(L).toBe(4);
  });
  afterAll(() => model.dispose());

  it('the default plan splits the first block into modules of equal length and iterates the others', () => {
    const p = defaultReferencePlan(model);
    const G = p.gsj.num_gs[0];
    expect(model.tokens % G).toBe(0);
    expect(G).toBeGreaterThan(1);
    expect(p.gsj.num_gs.slice(1)).toEqual([1, 1, 1]);
    expect(p.batches).toEqual([1, 8, 64]);
  });

  it('reads the reference lists as block strategies (0 = sequential, guess 1 = zeros, tolerance 0 = every iteration)', () => {
    expect(gsjStrategies(plan, model.tokens)).toEqual([
      { kind: 'jacobi', modules: 6, maxIterations: 2, tolerance: 0, guess: 'noise' },
      { kind: 'sequential' },
      { kind: 'jacobi', modules: 1, maxIterations: 2, tolerance: 0, guess: 'zeros' },
      { kind: 'jacobi', modules: 1, maxIterations: 2, tolerance: 0, guess: 'noise' },
    ]);
  });

  it.each(['plain', 'fused'] as const)('%s: every solver runs its fixed depth, and nothing leaks', async (engine) => {
    await yieldToWorker();
    const before = tf.memory().numTensors;
    const rows = await benchOurs(model, engine, plan, (B, solver, x) => images.set(`${engine}:${solver}:${B}`, x.dataSync().slice() as Float32Array));
    expect(tf.memory().numTensors).toBe(before);
    const T = model.tokens;
    expect(rows).toHaveLength(1);
    expect(rows[0]).toMatchObject({ engine, backend: 'wasm', batch: 2, sequentialDepth: 4 * (T - 1), jacobiDepth: 4 * 2, gsjDepth: 6 * 2 + (T - 1) + 2 + 2, jointDepth: 2 });
    for (const k of ['sequentialMs', 'jacobiMs', 'gsjMs', 'jointMs'] as const) expect(rows[0][k]).toBeGreaterThan(0);
  });

  it('the fused and plain engines make the same images from the same noise', () => {
    for (const solver of ['sequential', 'jacobi', 'gsj']) {
      const a = images.get(`plain:${solver}:2`)!;
      const b = images.get(`fused:${solver}:2`)!;
      expect(a.length).toBe(2 * 3 * 12 * 12);
      let worst = 0;
      for (let i = 0; i < a.length; i++) worst = Math.max(worst, Math.abs(a[i] - b[i]) / Math.max(1, Math.abs(a[i])));
      expect(worst).toBeLessThanOrEqual(1e-5);
    }
  });

  it('writes the noise and labels of each batch for the reference script', () => {
    const p = { ...plan, batches: [1, 3] };
    const before = tf.memory().numTensors;
    const file = parseSafetensors(referenceInputsFile(model, p));
    expect(tf.memory().numTensors).toBe(before);
    expect([...file.tensors.keys()].sort()).toEqual(['labels_b1', 'labels_b3', 'noise_b1', 'noise_b3']);
    expect(file.tensors.get('noise_b3')!.shape).toEqual([3, model.tokens, model.patchDim]);
    expect(file.tensors.get('labels_b3')!.dtype).toBe('I64');
    expect(Array.from(toInt32(file.tensors.get('labels_b3')!))).toEqual([0, 1, 2]);
    // Sample i's noise does not depend on the batch it is in (seededNoise).
    const one = toFloat32(file.tensors.get('noise_b1')!);
    expect(Array.from(toFloat32(file.tensors.get('noise_b3')!).subarray(0, one.length))).toEqual(Array.from(one));
  });
});

describe('referenceCheckouts', () => {
  const dir = mkdtempSync(join(tmpdir(), 'tarflow-refs-'));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it('takes an ml-tarflow checkout, or a folder holding both checkouts, and says what is missing', () => {
    expect(() => referenceCheckouts(dir)).toThrow(/neither an ml-tarflow checkout/);
    mkdirSync(join(dir, 'ml-tarflow'));
    writeFileSync(join(dir, 'ml-tarflow', 'transformer_flow.py'), '');
    expect(referenceCheckouts(dir)).toEqual({ tarflow: join(dir, 'ml-tarflow'), gsJacobi: undefined });
    expect(referenceCheckouts(join(dir, 'ml-tarflow'))).toEqual({ tarflow: join(dir, 'ml-tarflow') });
    mkdirSync(join(dir, 'GS-Jacobi_for_TarFlow'));
    writeFileSync(join(dir, 'GS-Jacobi_for_TarFlow', 'GS_Jacobi_sampling.py'), '');
    expect(referenceCheckouts(dir)).toEqual({ tarflow: join(dir, 'ml-tarflow'), gsJacobi: join(dir, 'GS-Jacobi_for_TarFlow') });
  });
});

describe('renderReferenceSection', () => {
  it('says why it was skipped', () => {
    const md = renderReferenceSection({ skipped: 'no checkout of the references was given' });
    expect(md).toContain('## Against the PyTorch references');
    expect(md).toContain('Skipped: no checkout of the references was given');
  });

  it('gives our wall times over torch, pass costs in sequential steps, and the image differences', () => {
    const r: ReferenceResult = {
      started: '2026-01-02T03:04:05.000Z',
      loadavg: [2, 1.5, 1],
      plan: {
        batches: [1, 64], repeats: 3, guidance: { scale: 3, on: 'both', annealed: false }, temperature: 0.5,
        jacobiIterations: 4, jointIterations: 6, gsj: { num_gs: [7, 1, 1, 1], max_jacobi: [2, 4, 4, 4], guess: [0, 0, 0, 0] }, iterativeMaxBatch: { cpu: 8 },
      },
      ours: [
        { engine: 'fused', backend: 'wasm', batch: 1, sequentialMs: 200, sequentialDepth: 192, jacobiMs: 100, jacobiDepth: 16, gsjMs: 130, gsjDepth: 26, jointMs: 60, jointDepth: 6, maxAbsDiff: { sequential: 2e-5, jacobi: 3e-5, gsj: 1e-5 } },
        { engine: 'fused', backend: 'cpu', batch: 64, sequentialMs: 4000, sequentialDepth: 192, maxAbsDiff: { sequential: 4e-5 } },
      ],
      torch: {
        torch: '1.13.1', threads: 1, sdpa_polyfill: true, sequential_depth: 192,
        batches: [
          { batch: 1, sequential_ms: 400, gs_seq_ms: 384, gs_seq_max_abs_diff: 0, jacobi_ms: 160, jacobi_depth: 16, gsj_ms: 200, gsj_depth: 26 },
          { batch: 64, sequential_ms: 2000, gs_seq_ms: 2000, jacobi_ms: 3000, jacobi_depth: 16, gsj_ms: 3000, gsj_depth: 26 },
        ],
      },
      skipped: [],
    };
    const md = renderReferenceSection(r);
    // Sequential: 200 / 400 at batch 1, 4000 / 2000 at batch 64; the largest |Δ| of the batch.
    expect(md).toMatch(/\| 1 \| 400 ms \| 200 ms \| – \| 0\.50× \| – \| 2\.00e-5 \|/);
    expect(md).toMatch(/\| 64 \| 2\.00 s \| – \| 4\.00 s \| – \| 2\.00× \| 4\.00e-5 \|/);
    // Torch's Jacobi pass: (160 / 16) / (384 / 192) = 5 steps; ours (100 / 16) / (200 / 192) = 6 steps, joint (60 / 6) / (200 / 192) = 9.6.
    expect(md).toContain('| 1 | torch (GS-Jacobi code) | 384 ms | 160 ms (5.0) |');
    expect(md).toContain('| 1 | ours fused (wasm) | 200 ms | 100 ms (6.0) | 130 ms (4.8) | 60.0 ms (9.6) | 0.63× | 0.65× |');
    expect(md).toContain('| 64 | ours fused (cpu) | 4.00 s | – | – | – | – | – |');
    expect(md).toContain('`GS7×2 J4 J4 J4`');
    expect(md).toContain('On cpu the iterative solvers are timed up to batch 8 only');
    expect(md).toContain("max |Δ| of our Jacobi images against the reference's 3.00e-5");
  });
});
