/**
 * Phase 2: the calibration batch. Solve it exactly, block by block (sampling
 * order), keeping each block's input; measure CRM and IGM; and give the later
 * phases `evaluate`, which runs a whole strategy on the same noise — in
 * batches of the plan's batch size, as it will run — and judges it against
 * the exact samples.
 */
import { tf, tfSeed, type ImageBatch, type PatchSeq } from '@tarflow/tensor';
import { cycleLabels, scaleNoise, type SampleResult } from '@tarflow/model';
import { solveBlock, type BlockReport, type GuessTable, type SamplingStrategy } from '@tarflow/solvers';
import { convergenceMetrics, type BlockConvergence, type ConvergenceMetrics } from '../convergence.js';
import { differences, joinDifferences, quality, type Differences, type Quality } from './compare.js';
import { cycledLabels, type PlanContext } from './context.js';

export interface CalibrationBatch {
  noise: PatchSeq;
  labels?: tf.Tensor1D;
  reference: ImageBatch;
}

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
  /**
   * The calibration samples in batches of the plan's batch size (one batch
   * where there are no more samples than that): every trial solve runs on
   * these, since a residual-stopped solve's result depends on its batch.
   */
  batches: CalibrationBatch[];
  /** Samples one calibration batch with a strategy at the plan's settings (what every trial and timing runs). */
  sample(batch: CalibrationBatch, strategy: SamplingStrategy, guessTable?: GuessTable): SampleResult;
  /**
   * Runs a whole strategy on the calibration batches against the exact
   * samples: the quality over all samples, the depth per batch (mean over the
   * batches; `depths` per block), and each batch's block reports (sampling order).
   */
  evaluate(strategy: SamplingStrategy, guessTable?: GuessTable): Quality & { depth: number; depths: number[]; reports: BlockReport[][] };
  dispose(): void;
}

export function calibrate(ctx: PlanContext): Calibration {
  const { model, calibration: N, tokens: T, blocks: nBlocks } = ctx;
  const K = model.config.num_classes;
  const owned: tf.Tensor[] = [];
  try {
    const given = ctx.labels;
    const labels = given
      ? cycledLabels(given, N)
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
    const batches: CalibrationBatch[] = [];
    for (let a = 0; a < N; a += ctx.batch) {
      const n = Math.min(ctx.batch, N - a);
      if (n === N) {
        batches.push({ noise, labels, reference });
        break;
      }
      const part: CalibrationBatch = {
        noise: tf.slice(noise, a, n) as PatchSeq,
        labels: labels ? (tf.slice(labels, a, n) as tf.Tensor1D) : undefined,
        reference: tf.slice(reference, a, n) as ImageBatch,
      };
      owned.push(part.noise, part.reference, ...(part.labels ? [part.labels] : []));
      batches.push(part);
    }
    const sample = (b: CalibrationBatch, strategy: SamplingStrategy, guessTable?: GuessTable) =>
      model.sample(b.noise, { labels: b.labels, guidance: ctx.guidance, engine: ctx.engine, strategy, temperature: ctx.temperature, ...(guessTable ? { guessTable } : {}) });
    return {
      noise,
      labels,
      inputs,
      reference,
      metrics,
      bySampling: [...metrics.blocks].sort((a, b) => a.samplingIndex - b.samplingIndex),
      exactMs,
      batches,
      sample,
      evaluate(strategy, guessTable) {
        const diffs: Differences[] = [];
        const reports: BlockReport[][] = [];
        let depth = 0;
        for (const b of batches) {
          const r = sample(b, strategy, guessTable);
          diffs.push(differences(r.images, b.reference));
          r.images.dispose();
          reports.push(r.report.blocks);
          depth += r.report.depth;
        }
        // Depth per batch, a mean over the batches (to a tenth).
        const meanOver = (f: (blocks: BlockReport[]) => number) => Math.round((10 * reports.reduce((a, blocks) => a + f(blocks), 0)) / reports.length) / 10;
        return {
          ...quality(joinDifferences(diffs), ctx.batch),
          depth: Math.round((10 * depth) / batches.length) / 10,
          depths: reports[0].map((_, k) => meanOver((blocks) => blocks[k].depth)),
          reports,
        };
      },
      dispose: () => tf.dispose(owned),
    };
  } catch (e) {
    tf.dispose(owned);
    throw e;
  }
}
