import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { selectBackend } from '@tarflow/backends';
import { tf } from '@tarflow/tensor';
import { loadModel, saveModel, stateDict, type TarFlow } from '@tarflow/model';
import { isPng } from '@tarflow/data';
import {
  checkpointPaths,
  listCheckpoints,
  readCheckpoint,
  trainTarFlow,
  TrainingError,
  type AdamWState,
  type TrainTarFlowOptions,
} from '../src/index.js';
import { TINY_CONFIG, tempDir, tinyDataset } from './helpers.js';

const tmp = tempDir('tarflow-train-');
beforeAll(async () => {
  await selectBackend('wasm');
});
afterAll(() => tmp.remove());

const base = (outDir: string): TrainTarFlowOptions => ({
  config: TINY_CONFIG,
  dataset: tinyDataset(),
  outDir,
  steps: 8,
  batchSize: 8,
  lr: 3e-3,
  warmupSteps: 2,
  checkpointEvery: 3,
  keepCheckpoints: 5,
  seed: 7,
});

function weights(model: TarFlow): Map<string, Float32Array> {
  const out = new Map<string, Float32Array>();
  for (const [name, t] of stateDict(model)) out.set(name, (t.dataSync() as Float32Array).slice());
  return out;
}

describe('trainTarFlow', () => {
  it('lowers the loss of a tiny model, leaks no tensors per step, and writes loadable checkpoints and PNG grids', async () => {
    const outDir = join(tmp.dir, 'fit');
    const counts: number[] = [];
    const r = await trainTarFlow({
      ...base(outDir),
      steps: 30,
      checkpointEvery: 15,
      sampleEvery: 15,
      onProgress: () => counts.push(tf.memory().numTensors),
    });
    const mean = (a: number[]) => a.reduce((x, y) => x + y, 0) / a.length;
    expect(mean(r.losses.slice(-5))).toBeLessThan(mean(r.losses.slice(0, 5)) - 0.1);
    // Identical tensor counts after every step (checkpoints and grids included).
    expect(new Set(counts).size).toBe(1);
    expect(r.finished).toBe(true);
    expect(await listCheckpoints(outDir)).toEqual([30, 15]);
    const loaded = loadModel(new Uint8Array(readFileSync(checkpointPaths(outDir, 30).model)));
    const a = weights(loaded);
    const b = weights(r.model);
    for (const [name, w] of b) expect(a.get(name)).toEqual(w);
    expect(isPng(new Uint8Array(readFileSync(join(outDir, 'samples', 'step-0000015.png'))))).toBe(true);
    loaded.dispose();
    r.model.dispose();
  });

  it('is deterministic by seed', async () => {
    const a = await trainTarFlow({ ...base(join(tmp.dir, 'det-a')), steps: 4, checkpointEvery: 4 });
    const b = await trainTarFlow({ ...base(join(tmp.dir, 'det-b')), steps: 4, checkpointEvery: 4 });
    const c = await trainTarFlow({ ...base(join(tmp.dir, 'det-c')), steps: 4, checkpointEvery: 4, seed: 8 });
    expect(b.losses).toEqual(a.losses);
    expect(c.losses).not.toEqual(a.losses);
    for (const r of [a, b, c]) r.model.dispose();
  });

  it('resumes a killed run from its last checkpoint with the same optimizer state, continuing exactly as an uninterrupted run', async () => {
    // The uninterrupted reference run.
    const whole = await trainTarFlow(base(join(tmp.dir, 'whole')));

    // The same run, stopped ("killed") before step 6: nothing is written on the
    // way out, so the last checkpoint on disk is the one of step 3.
    const dir = join(tmp.dir, 'killed');
    const saved = new Map<number, AdamWState>();
    const controller = new AbortController();
    const killed = await trainTarFlow({
      ...base(dir),
      signal: controller.signal,
      onProgress: (p) => p.step === 5 && controller.abort(),
      onCheckpoint: ({ step, optimizer }) => saved.set(step, optimizer.getState()),
    });
    expect(killed.step).toBe(5);
    expect(killed.finished).toBe(false);
    expect(await listCheckpoints(dir)).toEqual([3]);
    killed.model.dispose();

    // A kill between the two files of the step-6 checkpoint leaves a model file
    // without its sidecar (and maybe a temporary file); both are ignored.
    writeFileSync(checkpointPaths(dir, 6).model, new Uint8Array([1, 2, 3]));
    writeFileSync(checkpointPaths(dir, 4).model, new Uint8Array([1, 2, 3]));
    writeFileSync(join(dir, 'checkpoints', '.step-0000006.train.safetensors.123.tmp'), new Uint8Array(10));

    let resumedState: AdamWState | null = null;
    const resumed = await trainTarFlow({
      ...base(dir),
      resume: true,
      onResume: ({ step, optimizer }) => {
        expect(step).toBe(3);
        resumedState = optimizer.getState();
      },
    });
    expect(resumed.resumedFrom).toBe(3);
    // Checkpoints 6 and 8 were written (the orphan of step 6 was replaced); keepCheckpoints 5 keeps 3, 6, 8.
    expect(await listCheckpoints(dir)).toEqual([8, 6, 3]);
    expect(existsSync(checkpointPaths(dir, 4).model)).toBe(false); // orphans older than the newest checkpoint are pruned
    // The optimizer state after loading is the one the killed run saved at step 3.
    expect(resumedState).toEqual(saved.get(3));
    // The continued run takes exactly the uninterrupted run's steps 4..8.
    expect(resumed.losses).toEqual(whole.losses.slice(3));
    const a = weights(whole.model);
    const b = weights(resumed.model);
    for (const [name, w] of a) expect(b.get(name)).toEqual(w);
    // So are the optimizer states at the end.
    const endA = await readCheckpoint(checkpointPaths(join(tmp.dir, 'whole'), 8).state);
    const endB = await readCheckpoint(checkpointPaths(dir, 8).state);
    expect(endB.optimizer).toEqual(endA.optimizer);
    for (const r of [whole, resumed]) r.model.dispose();
    endA.model.dispose();
    endB.model.dispose();
  });

  it('stops after a given step with a checkpoint and resumes from it', async () => {
    const dir = join(tmp.dir, 'sessions');
    const first = await trainTarFlow({ ...base(dir), stopAfter: 4 });
    expect(first.step).toBe(4);
    expect(first.finished).toBe(false);
    expect(await listCheckpoints(dir)).toEqual([4, 3]);
    first.model.dispose();
    const second = await trainTarFlow(base(dir));
    expect(second.resumedFrom).toBe(4);
    expect(second.finished).toBe(true);
    second.model.dispose();
  });

  it('refuses to resume with different run settings, naming them', async () => {
    const dir = join(tmp.dir, 'mismatch');
    (await trainTarFlow({ ...base(dir), steps: 3 })).model.dispose();
    await expect(trainTarFlow({ ...base(dir), steps: 3, lr: 1e-3, resume: true })).rejects.toThrow(/different lr \(lr: saved 0\.003, now 0\.001\)/);
    await expect(trainTarFlow({ ...base(join(tmp.dir, 'empty')), resume: true })).rejects.toThrow(TrainingError);
    // More steps only with `extend`.
    await expect(trainTarFlow({ ...base(dir), steps: 5, resume: true })).rejects.toThrow(/different steps/);
    const longer = await trainTarFlow({ ...base(dir), steps: 5, resume: true, extend: true });
    expect(longer.resumedFrom).toBe(3);
    expect(longer.losses).toHaveLength(2);
    longer.model.dispose();
  });

  it('starts from a model file (init) with a fresh optimizer; the file must fit the config and a resume must name the same weights', async () => {
    const trained = await trainTarFlow({ ...base(join(tmp.dir, 'init-src')), steps: 4 });
    const file = join(tmp.dir, 'init-src.safetensors');
    writeFileSync(file, saveModel(trained.model));
    const before = tf.memory().numTensors;
    // A vanishing learning rate (and no prior update): one step leaves the weights where the file put them.
    const dir = join(tmp.dir, 'init');
    const still = { steps: 1, lr: 1e-12, minLr: 0, warmupSteps: 0, updatePrior: false };
    const tuned = await trainTarFlow({ ...base(dir), ...still, init: file });
    expect(tuned.resumedFrom).toBe(0);
    const want = weights(trained.model);
    for (const [name, w] of weights(tuned.model)) {
      const ref = want.get(name)!;
      let err = 0;
      for (let i = 0; i < w.length; i++) err = Math.max(err, Math.abs(w[i] - ref[i]));
      expect(err, name).toBeLessThan(1e-6);
    }
    tuned.model.dispose();
    // The run's definition records the file's weights: resuming with other weights is refused, by name.
    const other = join(tmp.dir, 'init-other.safetensors');
    const fresh = await trainTarFlow({ ...base(join(tmp.dir, 'init-other')), steps: 1 });
    writeFileSync(other, saveModel(fresh.model));
    fresh.model.dispose();
    await expect(trainTarFlow({ ...base(dir), ...still, init: other, resume: true })).rejects.toThrow(/different init/);
    await expect(trainTarFlow({ ...base(join(tmp.dir, 'init-bad')), config: { ...TINY_CONFIG, channels: 32, head_dim: 16 }, init: file })).rejects.toThrow(
      /init: .* has a different config \(channels: file 16, run 32; head_dim: file 8, run 16\)/,
    );
    await expect(trainTarFlow({ ...base(join(tmp.dir, 'init-missing')), init: join(tmp.dir, 'nope.safetensors') })).rejects.toThrow(/init: cannot read/);
    expect(tf.memory().numTensors).toBe(before);
    trained.model.dispose();
  });

  it('checks the dataset against the model before training', async () => {
    await expect(trainTarFlow({ ...base(join(tmp.dir, 'size')), config: { ...TINY_CONFIG, img_size: 16 } })).rejects.toThrow(
      /dataset 'tiny' has images 1×8×8 but the model expects 1×16×16/,
    );
    expect(existsSync(join(tmp.dir, 'size'))).toBe(false);
  });
});
