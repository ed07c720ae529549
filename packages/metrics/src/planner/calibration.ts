/**
 * Phase 2: the calibration batch. Solve it exactly, block by block (sampling
 * order), keeping each block's input; measure CRM and IGM; and give the later
 * phases `evaluate`, which runs a whole strategy on the same noise and judges
 * it against the exact samples.
 */
import { tf, tfSeed, type ImageBatch, type PatchSeq } from '@tarflow/tensor';
import { cycleLabels, scaleNoise } from '@tarflow/model';
import { solveBlock, type GuessTable, type SamplingStrategy } from '@tarflow/solvers';
import { convergenceMetrics, type BlockConvergence, type ConvergenceMetrics } from '../convergence.js';
import { compare, type Quality } from './compare.js';
import type { PlanContext } from './context.js';

export interface Calibration {
  noise: PatchSeq;
  labels?: tf.Tensor1D;
  /** Each block's exact input, in sampling order. */
  inputs: PatchSeq[];
  /** The exact samples. */
  reference: ImageBatch;
  metrics: ConvergenceMetrics;
  /** Per-block metrics in sampling order. */
  bySampling: BlockConvergence[];
  /** Wall ms of the exact pass (what one more end-to-end trial costs, about). */
  exactMs: number;
  /** Runs a whole strategy on the calibration batch against the exact samples. */
  evaluate(strategy: SamplingStrategy, guessTable?: GuessTable): Quality & { depth: number; depths: number[] };
  dispose(): void;
}

export function calibrate(ctx: PlanContext): Calibration {
  const { model, calibration: N, tokens: T, blocks: nBlocks } = ctx;
  const K = model.config.num_classes;
  const owned: tf.Tensor[] = [];
  try {
    const given = ctx.labels;
    const labels = given
      ? (tf.tidy(() => tf.gather(given, tf.tensor1d(Array.from({ length: N }, (_, i) => i % given.shape[0]), 'int32'))) as tf.Tensor1D)
      : K > 0
        ? tf.tensor1d(cycleLabels(N, K), 'int32')
        : undefined;
    if (labels) owned.push(labels);
    const noise = tf.randomNormal([N, T, model.patchDim], 0, 1, 'float32', tfSeed(ctx.seed)) as PatchSeq;
    owned.push(noise);

    ctx.progress('exact calibration pass');
    const t0 = performance.now();
    const inputs: PatchSeq[] = [];
    let x = scaleNoise(model, noise, ctx.temperature);
    for (let k = 0; k < nBlocks; k++) {
      const index = nBlocks - 1 - k;
      const zp = model.permuteForBlock(index, x);
      const r = solveBlock(model.samplingMap(index, labels, ctx.guidance, ctx.engine), zp, { kind: 'sequential' });
      inputs.push(zp);
      owned.push(zp, r.x);
      x.dispose();
      x = model.permuteForBlock(index, r.x);
    }
    const reference = model.unpatchify(x);
    x.dispose();
    owned.push(reference);
    reference.dataSync(); // finish the pass before reading the clock
    const exactMs = performance.now() - t0;

    ctx.progress('CRM and IGM');
    const metrics = convergenceMetrics(model, ctx.calibrationImages ?? reference);
    return {
      noise,
      labels,
      inputs,
      reference,
      metrics,
      bySampling: [...metrics.blocks].sort((a, b) => a.samplingIndex - b.samplingIndex),
      exactMs,
      evaluate(strategy, guessTable) {
        const r = model.sample(noise, { labels, guidance: ctx.guidance, engine: ctx.engine, strategy, temperature: ctx.temperature, ...(guessTable ? { guessTable } : {}) });
        const q = compare(r.images, reference, ctx.batch);
        r.images.dispose();
        return { ...q, depth: r.report.depth, depths: r.report.blocks.map((b) => b.depth) };
      },
      dispose: () => tf.dispose(owned),
    };
  } catch (e) {
    tf.dispose(owned);
    throw e;
  }
}
