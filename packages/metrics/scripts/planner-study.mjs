#!/usr/bin/env node
/**
 * Planner study: measures the depth/quality trade-off of Jacobi-style
 * strategies on a model, to calibrate the planner's thresholds, and compares
 * sequential, plain Jacobi, a paper-style hand strategy and the planner.
 *
 *   node packages/metrics/scripts/planner-study.mjs --checkpoint model.safetensors \
 *     [--classifier clf.safetensors] [--count 200] [--guidance 2] [--temperature 1] [--tolerances 0.3,0.1] [--modules 1,2]
 *     [--json out.json] [--md out.md] [--budgets 13,2,2,2;16,2,2,2] [--budgets-only]
 *
 * --budgets adds fixed-budget plain Jacobi strategies (iterations per block in
 * sampling order, no early stop, guess by IGM): the least depth at which
 * parity holds, independent of any stopping rule. --budgets-only skips the
 * tolerance sweep, the comparison rows and the planner; --planner-only keeps
 * only the sequential row and the planner's (calibrated on --calibration
 * samples, default 32, of its own noise, for a batch of --count).
 *
 * Needs `pnpm build` first (it imports the built packages).
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { tf } from '@tarflow/tensor';
import '@tensorflow/tfjs-backend-wasm';
import { loadModel } from '@tarflow/model';
import { formatSamplingStrategy, parseNotation } from '@tarflow/solvers';
import { convergenceMetrics, planStrategy, sampleQuality, PLANNER_DEFAULTS } from '../dist/index.js';
import { classifierWithRealStats } from './mnist-fd.mjs';

const { values: args } = parseArgs({
  options: {
    checkpoint: { type: 'string' },
    classifier: { type: 'string' },
    count: { type: 'string', default: '200' },
    guidance: { type: 'string', default: '0' },
    temperature: { type: 'string', default: '1' },
    annealed: { type: 'boolean', default: false },
    backend: { type: 'string', default: 'wasm' },
    seed: { type: 'string', default: '7' },
    json: { type: 'string' },
    md: { type: 'string' },
    name: { type: 'string' },
    tolerances: { type: 'string' },
    modules: { type: 'string', default: '1,2,4' },
    budgets: { type: 'string' },
    'budgets-only': { type: 'boolean', default: false },
    'planner-only': { type: 'boolean', default: false },
    calibration: { type: 'string', default: '32' },
  },
});
if (!args.checkpoint) {
  console.error('planner-study: --checkpoint is required');
  process.exit(2);
}
await tf.setBackend(args.backend);
const model = loadModel(new Uint8Array(readFileSync(args.checkpoint)));
const N = Number(args.count);
const T = model.tokens;
const K = model.config.num_classes;
const temperature = Number(args.temperature);
const guidance = Number(args.guidance) > 0 ? { scale: Number(args.guidance), annealed: args.annealed } : undefined;
const labels = K > 0 ? tf.tensor1d(Array.from({ length: N }, (_, i) => i % K), 'int32') : undefined;
const noise = tf.randomNormal([N, T, model.patchDim], 0, 1, 'float32', Number(args.seed));
const log = (...m) => console.error('[study]', ...m);

// Classifier features of real images (held-out MNIST) for the Fréchet distance.
const { clf, realStats } = classifierWithRealStats(args.classifier);

function run(label, strategy) {
  const t0 = performance.now();
  const r = model.sample(noise, { labels, guidance, strategy, temperature });
  const ms = performance.now() - t0;
  return { label, strategy: strategy ? formatSamplingStrategy(strategy) : 'sequential', images: r.images, depth: r.report.depth, fallbacks: r.report.fallbacks, ms };
}
function measure(row, reference) {
  const q = sampleQuality({
    samples: row.images,
    reference,
    labels,
    features: clf ? (x) => clf.features(x) : undefined,
    realStats: realStats ?? undefined,
    classify: clf ? (x) => clf.classify(x) : undefined,
  });
  return { label: row.label, strategy: row.strategy, depth: row.depth, fallbacks: row.fallbacks, ms: Math.round(row.ms), meanAbsDiff: q.meanAbsDiff, maxAbsDiff: q.maxAbsDiff, fd: q.fd, accuracy: q.accuracy };
}

log(`model T=${T}, blocks=${model.blocks.length}, N=${N}, guidance=${JSON.stringify(guidance ?? null)}, temperature=${temperature}`);
const seq = run('sequential', undefined);
const rows = [measure(seq, seq.images)];

// CRM/IGM on the exact samples (what the planner uses by default).
const metrics = convergenceMetrics(model, tf.slice(seq.images, 0, Math.min(N, 64)));
const bySampling = [...metrics.blocks].sort((a, b) => a.samplingIndex - b.samplingIndex);
const guessOf = (k) => (bySampling[k].igm[1] < bySampling[k].igm[0] ? 'zeros' : 'noise');
const toughest = bySampling.reduce((a, b) => (b.crm > a.crm ? b : a)).samplingIndex;

// Fixed budgets: iterations per block (sampling order), no early stop.
const budgets = [];
for (const spec of args.budgets ? args.budgets.split(';') : []) {
  const its = spec.split(',').map(Number);
  if (its.length !== model.blocks.length || its.some((n) => !Number.isInteger(n) || n < 1)) {
    console.error(`planner-study: --budgets entry "${spec}" must list ${model.blocks.length} positive integers`);
    process.exit(2);
  }
  const strategy = its.map((n, k) => ({ kind: 'jacobi', modules: 1, maxIterations: n, guess: guessOf(k) }));
  const r = run(`budgets ${its.join('/')}`, strategy);
  const m = measure(r, seq.images);
  r.images.dispose();
  budgets.push({ iterations: its, ...m });
  log(`budgets ${its.join('/')}: depth ${m.depth}, mean|Δ| ${m.meanAbsDiff?.toExponential(2)}, max|Δ| ${m.maxAbsDiff?.toFixed(3)}, FD ${m.fd?.toFixed(3)}`);
}

const sweep = [];
const plans = {};
if (!args['budgets-only']) {
  // Sweep: tolerance × (GS modules on the toughest block).
  const sweepTolerances = args.tolerances ? args.tolerances.split(',').map(Number) : PLANNER_DEFAULTS.tolerances;
  const sweepModules = args.modules.split(',').map(Number);
  for (const tol of args['planner-only'] ? [] : sweepTolerances) {
    for (const G of sweepModules) {
      const strategy = model.blocks.map((_, k) => ({ kind: 'jacobi', modules: k === toughest ? G : 1, maxIterations: T, tolerance: tol, guess: guessOf(k) }));
      const r = run(`tol ${tol}, G=${G} on block ${toughest}`, strategy);
      const m = measure(r, seq.images);
      r.images.dispose();
      sweep.push({ tolerance: tol, modules: G, ...m });
      log(`sweep tol=${tol} G=${G}: depth ${m.depth}, mean|Δ| ${m.meanAbsDiff?.toExponential(2)}, FD ${m.fd?.toFixed(3)}`);
    }
  }

  // The comparison table.
  if (!args['planner-only']) {
    const jac = run('plain Jacobi (tol 1e-3)', model.blocks.map(() => ({ kind: 'jacobi', modules: 1, maxIterations: T - 1, tolerance: 1e-3 })));
    rows.push(measure(jac, seq.images));
    jac.images.dispose();
    const hand = Math.max(2, Math.round(Math.sqrt(T)));
    const handStrategy = parseNotation(`[${toughest}-${Math.min(8, T - 1)}-${hand}-${hand}]`, model.blocks.length);
    const h = run('paper-style hand strategy', handStrategy);
    rows.push(measure(h, seq.images));
    h.images.dispose();
  }
  for (const objective of ['depth', 'time']) {
    const t0 = performance.now();
    // Planned for the batch it is judged on (N samples in one call); calibrated on its own noise.
    const plan = planStrategy(model, { objective, guidance, temperature, labels, batch: N, calibration: Number(args.calibration), seed: 1, onProgress: (m) => log(`planner ${objective}: ${m}`) });
    const planMs = performance.now() - t0;
    const p = run(`planner (${objective})`, plan.strategy);
    rows.push({ ...measure(p, seq.images), planMs: Math.round(planMs) });
    p.images.dispose();
    plans[objective] = { text: plan.text, blocks: plan.blocks.map((b) => ({ k: b.samplingIndex, choice: b.choice, depth: b.depth, reason: b.reason })), predicted: plan.predicted };
    log(`planner ${objective}: ${plan.text}`);
  }
}
seq.images.dispose();

const result = {
  model: args.name ?? args.checkpoint,
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
if (args.json) writeFileSync(args.json, JSON.stringify(result, null, 2));

const f = (v, d = 4) => (v === undefined || v === null ? '—' : typeof v === 'number' ? (Math.abs(v) < 1e-3 && v !== 0 ? v.toExponential(1) : v.toFixed(d)) : String(v));
const md = [];
md.push(`### ${result.model} (N = ${N}, backend ${result.backend}, guidance ${guidance ? JSON.stringify(guidance) : 'none'}, temperature ${temperature})`, '');
md.push('| block (sampling) | forward | CRM | CRM share | IGM noise | IGM zeros |', '|---|---|---|---|---|---|');
for (const b of [...result.metrics].sort((a, c) => a.sampling - c.sampling)) md.push(`| ${b.sampling} | ${b.forward} | ${f(b.crm, 3)} | ${(b.share * 100).toFixed(1)}% | ${f(b.igm[0], 3)} | ${f(b.igm[1], 3)} |`);
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
for (const r of rows) md.push(`| ${r.label} | \`${r.strategy.length > 60 ? r.strategy.slice(0, 57) + '…' : r.strategy}\` | ${r.depth} | ${(rows[0].depth / r.depth).toFixed(1)}× | ${f(r.meanAbsDiff)} | ${f(r.maxAbsDiff)} | ${f(r.fd, 3)} | ${f(r.accuracy, 3)} | ${r.ms} |`);
const text = md.join('\n') + '\n';
if (args.md) writeFileSync(args.md, text);
process.stdout.write(text);
