/**
 * Planner study: the depth/quality trade-off of Jacobi-style strategies on a
 * model, to calibrate the planner's thresholds, and a comparison of
 * sequential, plain Jacobi, a paper-style hand strategy and the planner.
 * Results are in docs/planner.md.
 *
 * --budgets adds fixed-budget plain Jacobi strategies (iterations per block in
 * sampling order, no early stop, guess by IGM): the least depth at which
 * parity holds, independent of any stopping rule. --budgets-only skips the
 * tolerance sweep, the comparison rows and the planner; --planner-only keeps
 * only the sequential row and the planner's (calibrated on --calibration
 * samples of its own noise, for a batch of --count, or of --batch: then the
 * planner's rows are drawn in batches of that size, as a user's would be, and
 * their depth is the mean over the batches).
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { tf, type ImageBatch } from '@tarflow/tensor';
import { selectBackend } from '@tarflow/backends';
import { loadModel, type GuidanceSettings } from '@tarflow/model';
import { formatStrategy, parseStrategy, type GuessTable, type InitialGuess, type JacobiStrategy, type SamplingStrategy } from '@tarflow/solvers';
import { convergenceMetrics, planStrategy, sampleQuality, PLANNER_DEFAULTS, type Plan } from '@tarflow/metrics';
import { studyArgs } from './args.js';
import { classifierWithRealStats } from './mnist-fd.js';

const args = studyArgs({
  usage: 'node --import tsx studies/planner-study.ts --checkpoint FILE [options]',
  description: 'Measures the depth/quality trade-off of Jacobi-style strategies and compares them with the planner; prints markdown tables.',
  options: {
    checkpoint: { type: 'string', help: 'TarFlow safetensors to study (required)' },
    classifier: { type: 'string', help: 'classifier safetensors: adds FD and accuracy columns' },
    dataset: { type: 'string', default: 'mnist', help: "held-out images for FD: 'mnist' (1,000 test digits) or 'fashion-mnist' (first 1,000 test images)" },
    count: { type: 'string', default: '200', help: 'samples' },
    guidance: { type: 'string', default: '0', help: 'classifier-free guidance scale (0: none)' },
    annealed: { type: 'boolean', help: 'anneal the guidance scale' },
    temperature: { type: 'string', default: '1', help: 'sampling temperature' },
    backend: { type: 'string', default: 'wasm', help: 'tfjs backend (auto, webgpu, wasm, cpu)' },
    seed: { type: 'string', default: '7', help: 'noise seed' },
    json: { type: 'string', help: 'write the results as JSON to this file' },
    md: { type: 'string', help: 'write the markdown to this file' },
    name: { type: 'string', help: 'model name in the report (default: the checkpoint path)' },
    tolerances: { type: 'string', help: 'sweep tolerances, comma-separated (default: the planner\'s)' },
    modules: { type: 'string', default: '1,2,4', help: 'GS modules on the toughest block in the sweep, comma-separated' },
    budgets: { type: 'string', help: 'fixed budgets: iterations per block in sampling order, e.g. 13,2,2,2;16,2,2,2' },
    'budgets-only': { type: 'boolean', help: 'only the fixed budgets' },
    'planner-only': { type: 'boolean', help: 'only the sequential row and the planner' },
    calibration: { type: 'string', default: '32', help: "samples the planner calibrates on" },
    'per-block': { type: 'boolean', help: "also the depth planner's best plan without the joint solve (block by block)" },
    batch: { type: 'string', help: 'the batch the planner plans for and its rows are drawn in (default: --count, one batch); depth is then the mean over the batches' },
  },
});
const a = args.values;
if (!a.checkpoint) args.fail('planner-study: --checkpoint is required');
const N = args.number('count', true);
const planBatch = a.batch !== undefined ? args.number('batch', true) : N;
const temperature = args.number('temperature');
const scale = args.number('guidance');
await selectBackend(args.backend());
const model = loadModel(new Uint8Array(readFileSync(a.checkpoint!)));
const T = model.tokens;
const K = model.config.num_classes;
const guidance: GuidanceSettings | undefined = scale > 0 ? { scale, annealed: a.annealed } : undefined;
const labels = K > 0 ? tf.tensor1d(Array.from({ length: N }, (_, i) => i % K), 'int32') : undefined;
const noise = tf.randomNormal([N, T, model.patchDim], 0, 1, 'float32', args.number('seed', true)) as tf.Tensor3D;
const log = (...m: unknown[]) => console.error('[study]', ...m);

// Classifier features of real held-out images (--dataset) for the Fréchet distance.
if (a.dataset !== 'mnist' && a.dataset !== 'fashion-mnist') throw new Error(`--dataset: '${a.dataset}' is not one of mnist, fashion-mnist`);
const fd = a.classifier ? classifierWithRealStats(a.classifier, a.dataset) : null;

interface Run {
  label: string;
  strategy: string;
  images: ImageBatch;
  /** Depth of the solve, or the mean over its batches. */
  depth: number;
  /** Each batch's depth, where the row was drawn in batches. */
  depths?: number[];
  fallbacks: number;
  ms: number;
}
function run(label: string, strategy: SamplingStrategy | undefined, guessTable?: GuessTable, batch = N): Run {
  const t0 = performance.now();
  const parts: ImageBatch[] = [];
  const depths: number[] = [];
  let fallbacks = 0;
  for (let a = 0; a < N; a += batch) {
    const n = Math.min(batch, N - a);
    const z = n === N ? noise : (tf.slice(noise, a, n) as tf.Tensor3D);
    const l = labels && n !== N ? (tf.slice(labels, a, n) as tf.Tensor1D) : labels;
    const r = model.sample(z, { labels: l, guidance, strategy, guessTable, temperature });
    if (z !== noise) tf.dispose([z, ...(l ? [l] : [])]);
    parts.push(r.images);
    depths.push(r.report.depth);
    fallbacks += r.report.fallbacks;
  }
  const images = parts.length === 1 ? parts[0] : (tf.concat(parts, 0) as ImageBatch);
  if (parts.length > 1) tf.dispose(parts);
  const ms = performance.now() - t0;
  const depth = depths.reduce((x, y) => x + y, 0) / depths.length;
  return { label, strategy: strategy ? formatStrategy(strategy) : 'sequential', images, depth, ...(depths.length > 1 ? { depths } : {}), fallbacks, ms };
}
function measure(row: Run, reference: ImageBatch) {
  const q = sampleQuality({
    samples: row.images,
    reference,
    labels,
    features: fd ? (x) => fd.clf.features(x) : undefined,
    realStats: fd?.realStats,
    classify: fd ? (x) => fd.clf.classify(x) : undefined,
  });
  return { label: row.label, strategy: row.strategy, depth: row.depth, depths: row.depths, fallbacks: row.fallbacks, ms: Math.round(row.ms), meanAbsDiff: q.meanAbsDiff, maxAbsDiff: q.maxAbsDiff, fd: q.fd, accuracy: q.accuracy };
}
type Row = ReturnType<typeof measure> & { planMs?: number };

log(`model T=${T}, blocks=${model.blocks.length}, N=${N}, guidance=${JSON.stringify(guidance ?? null)}, temperature=${temperature}`);
const seq = run('sequential', undefined);
const rows: Row[] = [measure(seq, seq.images)];

// CRM/IGM on the exact samples (what the planner uses by default).
const calibration = tf.slice(seq.images, 0, Math.min(N, 64)) as ImageBatch;
const metrics = convergenceMetrics(model, calibration);
calibration.dispose();
const bySampling = [...metrics.blocks].sort((x, y) => x.samplingIndex - y.samplingIndex);
const guessOf = (k: number): InitialGuess => (bySampling[k].igm[1] < bySampling[k].igm[0] ? 'zeros' : 'noise');
const toughest = bySampling.reduce((x, y) => (y.crm > x.crm ? y : x)).samplingIndex;

// Fixed budgets: iterations per block (sampling order), no early stop.
const budgets: (Row & { iterations: number[] })[] = [];
for (const spec of a.budgets ? a.budgets.split(';') : []) {
  const its = spec.split(',').map(Number);
  if (its.length !== model.blocks.length || its.some((n) => !Number.isInteger(n) || n < 1)) {
    args.fail(`planner-study: --budgets entry "${spec}" must list ${model.blocks.length} positive integers`);
  }
  const strategy = its.map((n, k): JacobiStrategy => ({ kind: 'jacobi', modules: 1, maxIterations: n, guess: guessOf(k) }));
  const r = run(`budgets ${its.join('/')}`, strategy);
  const m = measure(r, seq.images);
  r.images.dispose();
  budgets.push({ iterations: its, ...m });
  log(`budgets ${its.join('/')}: depth ${m.depth}, mean|Δ| ${m.meanAbsDiff?.toExponential(2)}, max|Δ| ${m.maxAbsDiff?.toFixed(3)}, FD ${m.fd?.toFixed(3)}`);
}

const sweep: (Row & { tolerance: number; modules: number })[] = [];
const plans: Record<string, { text: string; blocks: { k: number; choice: string; depth: number; reason: string }[]; predicted: Plan['predicted'] }> = {};
if (!a['budgets-only']) {
  // Sweep: tolerance × (GS modules on the toughest block).
  const sweepTolerances = a.tolerances ? args.numbers('tolerances') : PLANNER_DEFAULTS.tolerances;
  const sweepModules = args.numbers('modules');
  for (const tol of a['planner-only'] ? [] : sweepTolerances) {
    for (const G of sweepModules) {
      const strategy = model.blocks.map((_, k): JacobiStrategy => ({ kind: 'jacobi', modules: k === toughest ? G : 1, maxIterations: T, tolerance: tol, guess: guessOf(k) }));
      const r = run(`tol ${tol}, G=${G} on block ${toughest}`, strategy);
      const m = measure(r, seq.images);
      r.images.dispose();
      sweep.push({ tolerance: tol, modules: G, ...m });
      log(`sweep tol=${tol} G=${G}: depth ${m.depth}, mean|Δ| ${m.meanAbsDiff?.toExponential(2)}, FD ${m.fd?.toFixed(3)}`);
    }
  }

  // The comparison table.
  if (!a['planner-only']) {
    const jac = run('plain Jacobi (tol 1e-3)', model.blocks.map((): JacobiStrategy => ({ kind: 'jacobi', modules: 1, maxIterations: T - 1, tolerance: 1e-3 })));
    rows.push(measure(jac, seq.images));
    jac.images.dispose();
    const hand = Math.max(2, Math.round(Math.sqrt(T)));
    const h = run('paper-style hand strategy', parseStrategy(`[${toughest}-${Math.min(8, T - 1)}-${hand}-${hand}]`, model.blocks.length, T));
    rows.push(measure(h, seq.images));
    h.images.dispose();
  }
  const planners = [
    { key: 'depth', objective: 'depth' as const, label: 'planner (depth)' },
    ...(a['per-block'] ? [{ key: 'depth, per block', objective: 'depth' as const, label: 'planner (depth, block by block)', joint: false }] : []),
    { key: 'time', objective: 'time' as const, label: 'planner (time)' },
  ];
  for (const { key, objective, label, joint } of planners) {
    const t0 = performance.now();
    // Planned for the batch it is judged on (N samples in one call, or --batch); calibrated on its own noise.
    const plan = planStrategy(model, { objective, guidance, temperature, labels, batch: planBatch, calibration: args.number('calibration', true), seed: 1, joint, onProgress: (m) => log(`${label}: ${m}`) });
    const planMs = performance.now() - t0;
    const p = run(label, plan.strategy, plan.guessTable, planBatch);
    rows.push({ ...measure(p, seq.images), planMs: Math.round(planMs) });
    p.images.dispose();
    plans[key] = { text: plan.text, blocks: plan.blocks.map((b) => ({ k: b.samplingIndex, choice: b.choice, depth: b.depth, reason: b.reason })), predicted: plan.predicted };
    log(`${label}: ${plan.text}`);
  }
}
seq.images.dispose();

const result = {
  model: a.name ?? a.checkpoint,
  backend: tf.getBackend(),
  count: N,
  guidance: guidance ?? null,
  temperature,
  metrics: metrics.blocks.map((b) => ({ forward: b.forwardIndex, sampling: b.samplingIndex, crm: b.crm, share: b.crmShare, igm: b.igm })),
  toughest,
  sweep,
  budgets,
  rows,
  plans,
};
if (a.json) writeFileSync(a.json, JSON.stringify(result, null, 2));

const f = (v: number | string | undefined | null, d = 4) =>
  v === undefined || v === null ? '—' : typeof v === 'number' ? (Math.abs(v) < 1e-3 && v !== 0 ? v.toExponential(1) : v.toFixed(d)) : String(v);
const md: string[] = [];
md.push(`### ${result.model} (N = ${N}, backend ${result.backend}, guidance ${guidance ? JSON.stringify(guidance) : 'none'}, temperature ${temperature})`, '');
md.push('| block (sampling) | forward | CRM | CRM share | IGM noise | IGM zeros |', '|---|---|---|---|---|---|');
for (const b of [...result.metrics].sort((x, y) => x.sampling - y.sampling)) md.push(`| ${b.sampling} | ${b.forward} | ${f(b.crm, 3)} | ${(b.share * 100).toFixed(1)}% | ${f(b.igm[0], 3)} | ${f(b.igm[1], 3)} |`);
if (sweep.length > 0) {
  md.push('', `Trade-off sweep (plain Jacobi everywhere, G modules on the toughest block ${toughest}, guess by IGM):`, '');
  md.push('| tolerance | G | depth | mean \\|Δ\\| | max \\|Δ\\| | FD | accuracy |', '|---|---|---|---|---|---|---|');
  for (const s of sweep) md.push(`| ${s.tolerance} | ${s.modules} | ${s.depth} | ${f(s.meanAbsDiff)} | ${f(s.maxAbsDiff)} | ${f(s.fd, 3)} | ${f(s.accuracy, 3)} |`);
}
if (budgets.length > 0) {
  md.push('', 'Fixed budgets (plain Jacobi, iterations per block in sampling order, no early stop, guess by IGM):', '');
  md.push('| iterations | depth | vs sequential | mean \\|Δ\\| | max \\|Δ\\| | FD | accuracy |', '|---|---|---|---|---|---|---|');
  for (const b of budgets) md.push(`| ${b.iterations.join(' / ')} | ${b.depth} | ${(rows[0].depth / b.depth).toFixed(1)}× | ${f(b.meanAbsDiff)} | ${f(b.maxAbsDiff)} | ${f(b.fd, 3)} | ${f(b.accuracy, 3)} |`);
}
md.push('', 'Comparison:', '');
md.push('| sampler | strategy | depth | vs sequential | mean \\|Δ\\| | max \\|Δ\\| | FD | accuracy | wall ms |', '|---|---|---|---|---|---|---|---|---|');
const depthText = (r: Row) => (r.depths ? `${+r.depth.toFixed(1)} (${Math.min(...r.depths)}–${Math.max(...r.depths)} over ${r.depths.length} batches)` : `${r.depth}`);
for (const r of rows) md.push(`| ${r.label} | \`${r.strategy.length > 60 ? r.strategy.slice(0, 57) + '…' : r.strategy}\` | ${depthText(r)} | ${(rows[0].depth / r.depth).toFixed(1)}× | ${f(r.meanAbsDiff)} | ${f(r.maxAbsDiff)} | ${f(r.fd, 3)} | ${f(r.accuracy, 3)} | ${r.ms} |`);
const text = md.join('\n') + '\n';
if (a.md) writeFileSync(a.md, text);
process.stdout.write(text);
