/**
 * The sampling benchmark behind scripts/gpu-bench.sh: times the exact
 * sequential sampler against plain Jacobi and GS-Jacobi strategies on the
 * active tfjs backend, and checks the reference conformance cases there.
 * Everything it measures is a library call (loadModel, model.sample,
 * parseStrategy/parseNotation); this file only repeats, times and reports.
 */
import { tf } from '@tarflow/tensor';
import { parseSafetensors } from '@tarflow/checkpoint';
import { loadModel, type TarFlow } from '@tarflow/model';
import { formatNotation, parseStrategy, type Strategy } from '@tarflow/solvers';
import { caseNames, FixtureSession, type FixtureFiles } from './cases.js';
import { compareWithReference, parseTolerance } from './compare.js';
import { renderPlannerMarkdown, type PlannerBench } from './bench-planner.js';
import { median, type TimedRow } from './timing.js';

/**
 * Strategies timed by default: the exact sequential sampler, plain Jacobi
 * with 8 iterations per block, and GS-Jacobi on the first sampled block
 * ([Stack-GS-J-Else] notation) or on the first two.
 */
export const DEFAULT_STRATEGIES = ['sequential', 'jacobi-8', '[0-4-8-8]', '[0/1-4-8-4]'];

export interface BenchOptions {
  /** Timed runs per strategy (after one untimed warm-up run that compiles shaders). */
  repeats: number;
  /** Samples per run. */
  batch: number;
  strategies: string[];
  /** Seed of the noise (and of the labels' order for conditional models). */
  seed: number;
  /** Classifier-free guidance scale for conditional models (0: none). */
  guidance: number;
  /** No new run starts once this much time has passed since `startedAt`. */
  deadline: number;
  /** Sample with model.sampleAsync (reads awaited) instead of model.sample (reads synchronous). */
  asyncReads?: boolean;
  /** Progress lines. */
  log: (line: string) => void;
}

/** One strategy's row; `name` as given (e.g. 'jacobi-8', '[0-4-8-8]'). */
export interface StrategyTiming extends TimedRow {
  /** Largest |image − sequential image|. */
  maxAbsDiffVsSequential: number | null;
}

export interface ModelBench {
  model: string;
  config: Record<string, unknown>;
  tokens: number;
  blocks: number;
  batch: number;
  results: StrategyTiming[];
  /** Strategies not timed, with why. */
  skipped: Array<{ name: string; reason: string }>;
}

/**
 * A strategy from its bench name: 'sequential', 'jacobi' (T − 1 iterations),
 * 'jacobi-N' (plain Jacobi, N iterations per block), [Stack-GS-J-Else]
 * notation or JSON, as parseStrategy reads them.
 */
export function benchStrategy(name: string, model: TarFlow): Strategy {
  const m = /^jacobi-(\d+)$/.exec(name.trim());
  if (m) {
    const n = Number(m[1]);
    if (n < 1) throw new Error(`strategy ${name}: the iteration count must be at least 1`);
    return model.blocks.map(() => ({ kind: 'jacobi' as const, modules: 1, maxIterations: n }));
  }
  return parseStrategy(name, model.blocks.length, model.tokens);
}

/** A strategy in a few words: 'sequential', its notation, 'plain Jacobi, N iterations per block', or JSON. */
export function describeStrategy(s: Strategy): string {
  if (s.every((b) => b.kind === 'sequential')) return 'sequential';
  const notation = formatNotation(s);
  if (notation) return notation;
  const first = s[0];
  if (first.kind === 'jacobi' && s.every((b) => b.kind === 'jacobi' && b.modules === 1 && b.maxIterations === first.maxIterations && b.tolerance === first.tolerance)) {
    return `plain Jacobi, ${first.maxIterations} iterations per block`;
  }
  return JSON.stringify(s);
}

/** Seeded noise [B, T, D] and, for a conditional model, labels cycling through its classes. */
function inputs(model: TarFlow, batch: number, seed: number): { noise: tf.Tensor3D; labels?: tf.Tensor1D } {
  const noise = tf.randomNormal([batch, model.tokens, model.patchDim], 0, 1, 'float32', seed) as tf.Tensor3D;
  const K = model.config.num_classes;
  if (K === 0) return { noise };
  return { noise, labels: tf.tensor1d(Array.from({ length: batch }, (_, i) => (i + seed) % K), 'int32') };
}

/** Times every strategy on one model. */
export async function benchModel(name: string, model: TarFlow, o: BenchOptions): Promise<ModelBench> {
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
      let strategy: Strategy;
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
        const options = { labels, guidance, strategy };
        const r = o.asyncReads ? await model.sampleAsync(noise, options) : model.sample(noise, options);
        await r.images.data(); // the run ends when its images are on the CPU
        const ms = performance.now() - t0;
        depth = r.report.depth;
        sequentialDepth = r.report.sequentialDepth;
        fallbacks = r.report.fallbacks;
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
export async function benchCheckpoint(name: string, bytes: Uint8Array, o: BenchOptions): Promise<ModelBench> {
  const model = loadModel(bytes);
  try {
    return await benchModel(name, model, o);
  } finally {
    model.dispose();
  }
}

export interface ConformanceRow {
  fixture: string;
  case: string;
  ok: boolean;
  /** Largest |output − reference| over the case's outputs. */
  maxAbsError: number;
  /** The first output outside tolerance, if any. */
  failure?: string;
  ms: number;
}

/** Runs every reference case of a fixture on the active backend and compares at its tolerance. */
export async function conformance(files: FixtureFiles, deadline: number, log: (l: string) => void): Promise<ConformanceRow[]> {
  const eps = parseTolerance(files.spec.tolerance);
  const expected = parseSafetensors(files.expected);
  const session = new FixtureSession(files);
  const rows: ConformanceRow[] = [];
  try {
    for (const c of caseNames(files.spec)) {
      if (Date.now() > deadline) break;
      const r = await session.run(c);
      const cmps = Object.entries(r.outputs).map(([k, v]) => compareWithReference(expected, k, v, eps));
      const bad = cmps.find((x) => !x.ok);
      const row: ConformanceRow = {
        fixture: files.name,
        case: c,
        ok: !bad,
        maxAbsError: Math.max(...cmps.map((x) => x.maxAbsError)),
        ms: Math.round(r.wallMs),
        ...(bad ? { failure: `${bad.key}: max abs error ${bad.maxAbsError} at [${bad.worstAt.index}] (got ${bad.worstAt.got}, reference ${bad.worstAt.ref})` } : {}),
      };
      rows.push(row);
      log(`  conformance ${files.name} ${c}: ${row.ok ? 'ok' : 'OUTSIDE TOLERANCE'} (max abs error ${row.maxAbsError.toExponential(2)})`);
    }
  } finally {
    session.dispose();
  }
  return rows;
}

export interface BenchReport {
  status: 'ok' | 'no-adapter' | 'error';
  /** Why the run did not happen (status 'no-adapter' or 'error'). */
  reason?: string;
  backend: string;
  backendDetail: string;
  notes: string[];
  node: string;
  startedAt: string;
  wallS: number;
  options: { repeats: number; batch: number; strategies: string[]; seed: number; guidance: number; asyncReads: boolean };
  models: ModelBench[];
  /** Checkpoints that could not be benchmarked (not a TarFlow model, …), with why. */
  skippedModels: Array<{ model: string; reason: string }>;
  conformance: ConformanceRow[];
  /** The planner's plans against the sequential sampler, per trained model. */
  planner: PlannerBench[];
}

function fmt(x: number | null, digits = 1): string {
  return x === null ? '–' : x.toFixed(digits);
}

/** The report as Markdown (one table per model, then the conformance cases). */
export function renderMarkdown(r: BenchReport): string {
  const lines: string[] = [];
  lines.push(`# TarFlow sampling benchmark (${r.startedAt})`, '');
  lines.push(`- status: **${r.status}**${r.reason ? ` — ${r.reason}` : ''}`);
  lines.push(`- backend: ${r.backend} — ${r.backendDetail || 'not set up'}`);
  for (const n of r.notes) lines.push(`- note: ${n}`);
  const runs = `${r.options.repeats} timed run${r.options.repeats === 1 ? '' : 's'}`;
  const reads = r.options.asyncReads ? 'model.sampleAsync' : 'model.sample (synchronous reads)';
  lines.push(`- Node ${r.node}; ${runs} per strategy after one warm-up; batch ${r.options.batch}; seed ${r.options.seed}; guidance ${r.options.guidance}; ${reads}`);
  lines.push(`- total wall time ${r.wallS.toFixed(0)} s`, '');
  for (const m of r.models) {
    lines.push(`## ${m.model} (T = ${m.tokens}, ${m.blocks} blocks, channels ${m.config.channels}, batch ${m.batch})`, '');
    lines.push('| strategy | as solved | depth | median ms | speed-up vs sequential | max abs diff vs sequential | fallbacks |');
    lines.push('| --- | --- | --- | --- | --- | --- | --- |');
    for (const s of m.results) {
      lines.push(
        `| ${s.name} | \`${s.strategy}\` | ${s.depth} / ${s.sequentialDepth} | ${fmt(s.medianMs)} | ${s.speedup === null ? '–' : `${s.speedup.toFixed(2)}×`} | ${s.maxAbsDiffVsSequential === null ? '–' : s.maxAbsDiffVsSequential.toExponential(2)} | ${s.fallbacks} |`,
      );
    }
    if (m.skipped.length > 0) lines.push('', ...m.skipped.map((s) => `- not timed: ${s.name} (${s.reason})`));
    lines.push('');
  }
  for (const p of r.planner) lines.push(...renderPlannerMarkdown(p));
  if (r.skippedModels.length > 0) lines.push(...r.skippedModels.map((m) => `- model ${m.model} not benchmarked: ${m.reason}`), '');
  if (r.conformance.length > 0) {
    lines.push('## Reference conformance on this backend', '');
    lines.push('| fixture | case | result | max abs error | ms |', '| --- | --- | --- | --- | --- |');
    for (const c of r.conformance) {
      lines.push(`| ${c.fixture} | ${c.case} | ${c.ok ? 'ok' : `**outside tolerance**: ${c.failure}`} | ${c.maxAbsError.toExponential(2)} | ${c.ms} |`);
    }
    lines.push('');
  }
  return lines.join('\n');
}
