/**
 * The named-strategy part of the GPU benchmark (scripts/gpu-bench.sh): times
 * the exact sequential sampler against plain Jacobi and GS-Jacobi strategies
 * on the active tfjs backend. Everything it measures is a library call
 * (loadModel, model.sample, parseStrategy); this file only repeats, times
 * and compares with the sequential images.
 */
import { tf, tfSeed } from '@tarflow/tensor';
import { cycleLabels, loadModel, type SamplingEngine, type TarFlow } from '@tarflow/model';
import { describeStrategy, parseStrategy, type SamplingStrategy } from '@tarflow/solvers';
import { median } from './measure.js';
import type { ModelBench } from './results.js';

/**
 * Strategies timed by default: the exact sequential sampler, plain Jacobi
 * with 8 iterations per block, and GS-Jacobi on the first sampled block
 * ([Stack-GS-J-Else] notation) or on the first two.
 */
export const DEFAULT_STRATEGIES = ['sequential', 'jacobi:8', '[0-4-8-8]', '[0/1-4-8-4]'];

export interface ModelBenchOptions {
  /** Timed runs per strategy (after one untimed warm-up run that compiles shaders). */
  repeats: number;
  /** Samples per run. */
  batch: number;
  strategies: string[];
  /** Seed of the noise (and of the labels' order for conditional models). */
  seed: number;
  /** Classifier-free guidance scale for conditional models (0: none). */
  guidance: number;
  /** No new run starts after this time (ms since the epoch). */
  deadline: number;
  /** Sample with model.sampleAsync (reads awaited) instead of model.sample (reads synchronous). */
  asyncReads?: boolean;
  /** The sampling engine (the model's default, 'auto', when not given). */
  engine?: SamplingEngine;
  /** Progress lines. */
  log: (line: string) => void;
}

/**
 * A strategy from its bench name, any text parseStrategy reads: 'sequential',
 * 'jacobi:8' (plain Jacobi, 8 iterations per block), [Stack-GS-J-Else]
 * notation, 'joint:N' or JSON.
 */
export function benchStrategy(name: string, model: TarFlow): SamplingStrategy {
  return parseStrategy(name, model.blocks.length, model.tokens);
}

/** Seeded noise [B, T, D] and, for a conditional model, labels cycling through its classes. */
function inputs(model: TarFlow, batch: number, seed: number): { noise: tf.Tensor3D; labels?: tf.Tensor1D } {
  const noise = tf.randomNormal([batch, model.tokens, model.patchDim], 0, 1, 'float32', tfSeed(seed)) as tf.Tensor3D;
  const K = model.config.num_classes;
  if (K === 0) return { noise };
  return { noise, labels: tf.tensor1d(cycleLabels(batch, K, seed), 'int32') };
}

/** Times every strategy on one model. */
export async function benchModel(name: string, model: TarFlow, o: ModelBenchOptions): Promise<ModelBench> {
  const out: ModelBench = {
    model: name,
    config: { ...model.config },
    tokens: model.tokens,
    blocks: model.blocks.length,
    batch: o.batch,
    results: [],
    skipped: [],
  };
  const { noise, labels } = inputs(model, o.batch, o.seed);
  const guidance = labels && o.guidance > 0 ? { scale: o.guidance } : undefined;
  let reference: tf.Tensor | null = null;
  let sequentialMedian: number | null = null;
  const names = o.strategies.includes('sequential') ? ['sequential', ...o.strategies.filter((s) => s !== 'sequential')] : o.strategies;
  try {
    for (const sname of names) {
      if (Date.now() > o.deadline) {
        out.skipped.push({ name: sname, reason: 'time budget spent' });
        continue;
      }
      let strategy: SamplingStrategy;
      try {
        strategy = benchStrategy(sname, model);
      } catch (e) {
        out.skipped.push({ name: sname, reason: (e as Error).message });
        continue;
      }
      const times: number[] = [];
      let depth = 0;
      let sequentialDepth = 0;
      let fallbacks = 0;
      let diff: number | null = null;
      for (let rep = 0; rep <= o.repeats; rep++) {
        if (rep > 0 && Date.now() > o.deadline) break;
        const t0 = performance.now();
        const options = { labels, guidance, strategy, ...(o.engine ? { engine: o.engine } : {}) };
        const r = o.asyncReads ? await model.sampleAsync(noise, options) : model.sample(noise, options);
        await r.images.data(); // the run ends when its images are on the CPU
        const ms = performance.now() - t0;
        depth = r.report.depth;
        sequentialDepth = r.report.sequentialDepth;
        fallbacks = r.report.fallbacks;
        out.engine = r.report.engine.name + (r.report.engine.reason ? ` (${r.report.engine.reason})` : '');
        if (rep === 0) {
          // Warm-up: compiles the shaders; its images are the comparison value.
          if (sname === 'sequential') reference = tf.keep(tf.clone(r.images));
          else if (reference) {
            const d = tf.tidy(() => tf.max(tf.abs(tf.sub(r.images, reference!))));
            diff = (await d.data())[0];
            d.dispose();
          }
          o.log(`  ${name} ${sname}: warm-up ${ms.toFixed(0)} ms (depth ${depth})`);
        } else {
          times.push(ms);
        }
        r.images.dispose();
      }
      if (times.length === 0) {
        out.skipped.push({ name: sname, reason: 'time budget spent after the warm-up run' });
        continue;
      }
      const med = median(times);
      if (sname === 'sequential') sequentialMedian = med;
      out.results.push({
        name: sname,
        strategy: describeStrategy(strategy),
        depth,
        sequentialDepth,
        timesMs: times.map((t) => Math.round(t * 10) / 10),
        medianMs: Math.round(med * 10) / 10,
        speedup: sequentialMedian ? Math.round((sequentialMedian / med) * 100) / 100 : null,
        maxAbsDiffVsSequential: sname === 'sequential' ? 0 : diff,
        fallbacks,
      });
      o.log(`  ${name} ${sname}: median ${med.toFixed(1)} ms over ${times.length} runs, depth ${depth}/${sequentialDepth}`);
    }
  } finally {
    tf.dispose([noise, labels ?? [], reference ?? []]);
  }
  return out;
}

/** Loads a model from safetensors bytes and benchmarks it. */
export async function benchCheckpoint(name: string, bytes: Uint8Array, o: ModelBenchOptions): Promise<ModelBench> {
  const model = loadModel(bytes);
  try {
    return await benchModel(name, model, o);
  } finally {
    model.dispose();
  }
}
