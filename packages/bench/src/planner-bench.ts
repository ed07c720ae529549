/**
 * The planner part of the GPU benchmark: on a trained model, the exact
 * sequential sampler against the plans of @tarflow/metrics' planner (objective
 * `time`, timed on the backend it runs on, and objective `depth`), each timed
 * and compared with the sequential samples from the same noise and labels.
 * It also samples a larger batch per strategy and returns the images, so the
 * Fréchet distance can be computed where the classifier and the real digits
 * are (studies/images-fd.ts).
 */
import { tf, seededNoise, type ImageBatch } from '@tarflow/tensor';
import { cycleLabels, type TarFlow } from '@tarflow/model';
import { planStrategy, type Objective, type Plan, type PlanOptions } from '@tarflow/metrics';
import { formatStrategy, type GuessTable, type SamplingStrategy } from '@tarflow/solvers';
import { median } from './measure.js';
import type { PlannerBench, PlannerRow } from './results.js';

export interface PlannerBenchOptions {
  /** Samples per timed run (and the batch the plans are for). */
  batch: number;
  /** Samples per strategy for the Fréchet distance (0: none). */
  fdBatch: number;
  guidance: number;
  temperature: number;
  seed: number;
  /** Timed runs per strategy, after one warm-up run. */
  repeats: number;
  /** More planner options (calibration size, tolerances tried, …); the objective, batch, guidance, temperature and seed are set here. */
  plan?: Omit<PlanOptions, 'objective' | 'batch' | 'guidance' | 'temperature' | 'seed' | 'labels' | 'onProgress'>;
  /** No new step starts after this time (ms since the epoch). */
  deadline: number;
  log: (line: string) => void;
}



/** Images per row name ([N, C, H, W] values) and the labels they were drawn for. */
export interface PlannerImages {
  labels: Int32Array;
  shape: [number, number, number, number];
  images: Record<string, Float32Array>;
}

class BudgetSpent extends Error {}

const round = (x: number, d = 10) => Math.round(x * d) / d;

/** Times the sequential sampler and the planner's plans on one model. */
export async function benchPlanner(name: string, model: TarFlow, o: PlannerBenchOptions): Promise<{ bench: PlannerBench; images: PlannerImages | null }> {
  const K = model.config.num_classes;
  const T = model.tokens;
  const D = model.patchDim;
  const labelsFor = (n: number, offset: number) => (K > 0 ? cycleLabels(n, K, offset) : new Int32Array(n).fill(-1));
  const noise = seededNoise(o.seed, [...Array(o.batch).keys()], T, D);
  const labels = tf.tensor1d(labelsFor(o.batch, 0), 'int32');
  const fdLabelValues = labelsFor(o.fdBatch, 0);
  const fdNoise = o.fdBatch > 0 ? seededNoise(o.seed + 1, [...Array(o.fdBatch).keys()], T, D) : null;
  const fdLabels = tf.tensor1d(fdLabelValues, 'int32');
  const guidance = K > 0 && o.guidance > 0 ? { scale: o.guidance } : undefined;
  const sampling = { labels: K > 0 ? labels : undefined, guidance, temperature: o.temperature };
  const bench: PlannerBench = { model: name, batch: o.batch, fdBatch: o.fdBatch, guidance: o.guidance, temperature: o.temperature, rows: [], skipped: [] };
  const { in_channels: C, img_size: S } = model.config;
  const images: PlannerImages = { labels: fdLabelValues, shape: [o.fdBatch, C, S, S], images: {} };
  let reference: ImageBatch | null = null;
  let sequentialMs: number | null = null;

  const timeStrategy = async (rowName: string, strategy: SamplingStrategy | undefined, guessTable: GuessTable | undefined, text: string, extra: Partial<PlannerRow>) => {
    const times: number[] = [];
    let row: PlannerRow | null = null;
    for (let rep = 0; rep <= o.repeats; rep++) {
      if (rep > 0 && Date.now() > o.deadline) break;
      const t0 = performance.now();
      const r = model.sample(noise, { ...sampling, strategy, guessTable });
      await r.images.data();
      const ms = performance.now() - t0;
      if (rep === 0) {
        if (!strategy) reference = tf.keep(tf.clone(r.images)) as ImageBatch;
        const [mean, max] = tf.tidy(() => {
          const d = tf.abs(tf.sub(r.images, reference!));
          return [tf.mean(d).dataSync()[0], tf.max(d).dataSync()[0]];
        });
        row = {
          name: rowName,
          strategy: text,
          depth: r.report.depth,
          sequentialDepth: r.report.sequentialDepth,
          timesMs: [],
          medianMs: 0,
          speedup: null,
          meanAbsDiff: mean,
          maxAbsDiff: max,
          fallbacks: r.report.fallbacks,
          ...extra,
        };
        o.log(`  ${name} ${rowName}: warm-up ${ms.toFixed(0)} ms (depth ${r.report.depth}, mean |Δ| ${mean.toExponential(2)})`);
      } else {
        times.push(ms);
      }
      r.images.dispose();
    }
    if (!row || times.length === 0) {
      bench.skipped.push({ name: rowName, reason: 'time budget spent after the warm-up run' });
      return;
    }
    const med = median(times);
    if (!strategy) sequentialMs = med;
    (row as PlannerRow).timesMs = times.map((t) => round(t));
    (row as PlannerRow).medianMs = round(med);
    (row as PlannerRow).speedup = sequentialMs ? round(sequentialMs / med, 100) : null;
    bench.rows.push(row);
    o.log(`  ${name} ${rowName}: median ${med.toFixed(1)} ms over ${times.length} runs`);
    if (fdNoise && Date.now() < o.deadline) {
      const f = model.sample(fdNoise, { labels: K > 0 ? fdLabels : undefined, guidance, temperature: o.temperature, strategy, guessTable });
      images.images[rowName] = (await f.images.data()) as Float32Array;
      f.images.dispose();
    }
  };

  try {
    await timeStrategy('sequential', undefined, undefined, 'sequential', {});
    for (const objective of ['time', 'depth'] as Objective[]) {
      const rowName = `planner, objective ${objective}`;
      if (Date.now() > o.deadline) {
        bench.skipped.push({ name: rowName, reason: 'time budget spent' });
        continue;
      }
      const t0 = performance.now();
      let plan: Plan;
      try {
        plan = planStrategy(model, {
          objective,
          batch: o.batch,
          guidance,
          temperature: o.temperature,
          seed: o.seed + 2,
          ...o.plan,
          onProgress: (m) => {
            o.log(`  ${name} plan (${objective}): ${m}`);
            // Planning is one synchronous call: its progress reports are where it can stop.
            if (Date.now() > o.deadline) throw new BudgetSpent();
          },
        });
      } catch (e) {
        if (!(e instanceof BudgetSpent)) throw e;
        bench.skipped.push({ name: rowName, reason: `time budget spent while planning (${((performance.now() - t0) / 1000).toFixed(0)} s)` });
        continue;
      }
      const planMs = performance.now() - t0;
      o.log(`  ${name} plan (${objective}): ${formatStrategy(plan.strategy, { compact: true })} in ${(planMs / 1000).toFixed(1)} s`);
      await timeStrategy(rowName, plan.strategy, plan.guessTable, formatStrategy(plan.strategy, { compact: true }), {
        planMs: round(planMs),
        predicted: { depth: plan.predicted.depth, ms: plan.predicted.ms, sequentialMs: plan.predicted.sequentialMs, meanAbsDiffBound: plan.predicted.meanAbsDiffBound },
      });
    }
  } finally {
    tf.dispose([noise, labels, fdLabels, ...(fdNoise ? [fdNoise] : []), ...(reference ? [reference] : [])]);
  }
  return { bench, images: Object.keys(images.images).length > 0 ? images : null };
}
