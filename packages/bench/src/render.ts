/**
 * The report of `tarflow bench` (docs/benchmarks.md) from its results: a
 * header, how to read it, one section per backend (side by side, speed-up
 * against batch size and sequence length, memory), how to reproduce it;
 * and the JSON beside it. A re-run keeps the marked end of the report it
 * replaces (keepMarkedSection).
 */
import type { GuessTable } from '@tarflow/solvers';
import { RANDOM_PROJ_OUT_STD } from './backend-bench.js';
import { markdownTable, mib, ms, sci } from './format.js';
import type { BackendResult, BenchEnvironment, BenchReport, MemoryRow, ScalingRow } from './results.js';
import { renderPlanningSection } from './planning-bench.js';
import { renderReferenceSection } from './reference.js';

/**
 * Everything from this line to the end of an existing report survives a
 * re-run: measurements bench cannot make here (e.g. scripts/gpu-bench.sh on a
 * GPU machine) are recorded below it.
 */
export const KEPT_MARKER = '<!-- kept by tarflow bench: everything below this line survives a re-run -->';

/** The new report, followed by the kept part of the report it replaces (`previous`, if any). */
export function keepMarkedSection(report: string, previous: string | null): string {
  const at = previous === null ? -1 : previous.indexOf(KEPT_MARKER);
  return at < 0 ? report : `${report.trimEnd()}\n\n${previous!.slice(at)}`;
}

/**
 * `md` with the section that starts at the line `head` replaced by `text`
 * (up to the next "## " heading); without one, `text` goes before
 * "## Reproduce", else at the end.
 */
export function replaceSection(md: string, head: string, text: string): string {
  const body = text.trimEnd();
  const at = md.indexOf(head);
  if (at >= 0) {
    const end = md.indexOf('\n## ', at + head.length);
    return `${md.slice(0, at)}${body}\n${end < 0 ? '' : md.slice(end)}`;
  }
  const before = md.indexOf('## Reproduce');
  return before < 0 ? `${md.trimEnd()}\n\n${body}\n` : `${md.slice(0, before)}${body}\n\n${md.slice(before)}`;
}

/** The JSON report; a joint plan's guess table (hundreds of KB) is summarised: the report needs its shape, not its values. */
export function reportJson(report: BenchReport): string {
  const slim = (key: string, value: unknown) =>
    (key === 'table' || key === 'guessTable') && value !== null && typeof value === 'object' && Array.isArray((value as { data?: unknown }).data)
      ? { rows: (value as GuessTable).rows, tokens: (value as GuessTable).tokens, dim: (value as GuessTable).dim, values: 'omitted' }
      : value;
  return `${JSON.stringify(report, slim, 2)}\n`;
}

/** The cells both tables share: wall, depth, speed-up, depth reduction, pass cost, mean |Δ|. */
function timingCells(x: { wallMs: number; depth: number; sequentialDepth: number; speedup: number; depthReduction: number; passCost: number; meanAbsDiff?: number }): string[] {
  return [ms(x.wallMs), `${x.depth} / ${x.sequentialDepth}`, `${x.speedup.toFixed(2)}×`, `${x.depthReduction.toFixed(1)}×`, x.passCost.toFixed(1), sci(x.meanAbsDiff)];
}

export function sideBySideTable(r: BackendResult): string {
  const withFd = r.sideBySide.some((x) => x.fd !== undefined);
  const headers = ['strategy', 'notation', 'wall (median)', 'depth', 'speed-up (wall)', 'depth reduction', 'pass cost (steps)', 'mean \\|Δ\\| vs seq', 'max \\|Δ\\|', ...(withFd ? ['FD'] : []), 'fallbacks', 'tfjs peak', 'RSS high-water'];
  const rows = r.sideBySide.map((x) => [
    x.plannedOn ? `${x.name} (planned on ${x.plannedOn})` : x.name,
    `\`${x.strategy.replace(/\|/g, '\\|')}\``,
    ...timingCells(x),
    sci(x.maxAbsDiff),
    ...(withFd ? [x.fd === undefined ? '–' : x.fd.toFixed(2)] : []),
    String(x.fallbacks),
    mib(x.tfPeakBytes),
    mib(x.maxRssBytes),
  ]);
  return markdownTable(headers, rows, ['l', 'l', 'r', 'r', 'r', 'r', 'r', 'r', 'r', ...(withFd ? ['r' as const] : []), 'r', 'r', 'r']);
}

export function scalingTable(rows: ScalingRow[], what: string): string {
  return markdownTable(
    [what, 'solver', 'wall', 'depth', 'speed-up (wall)', 'depth reduction', 'pass cost (steps)', 'mean \\|Δ\\| vs seq'],
    rows.map((x) => [String(x.size), x.solver, ...timingCells(x)]),
    ['r', 'l', 'r', 'r', 'r', 'r', 'r', 'r'],
  );
}

export function memoryTable(rows: MemoryRow[]): string {
  return markdownTable(
    ['solver', 'batch', 'peak RSS', 'under 1 GiB', 'wall', 'depth'],
    rows.map((x) => [x.solver, String(x.batch), x.ok || Number.isFinite(x.maxRssBytes) ? mib(x.maxRssBytes) : `failed: ${x.error ?? ''}`, x.ok ? 'yes' : 'NO', Number.isFinite(x.wallMs) ? ms(x.wallMs) : '–', Number.isFinite(x.depth) ? String(x.depth) : '–']),
    ['l', 'r', 'r', 'l', 'r', 'r'],
  );
}

/** "1.2× at 1, 0.8× at 8, …" for one solver of a scaling table. */
function speedupTrend(rows: ScalingRow[], solver: string): string {
  return rows
    .filter((x) => x.solver === solver)
    .map((x) => `${x.speedup.toFixed(2)}× at ${x.size}`)
    .join(', ');
}

/** "1.7 at 1, 7.6 at 8, …" steps per pass for one solver of a scaling table. */
function passTrend(rows: ScalingRow[], solver: string): string {
  return rows
    .filter((x) => x.solver === solver)
    .map((x) => `${x.passCost.toFixed(1)} at ${x.size}`)
    .join(', ');
}

/**
 * Where the depth plan runs at a batch below the one it was made for: a joint plan's residual rule then judges
 * fewer samples and may stop before the planner's quality target is met. Empty when it never does (or the
 * report does not record the plan's batch).
 */
function belowPlanBatchNote(r: BackendResult): string {
  const planBatch = r.shared.depthPlan?.batch;
  if (planBatch === undefined) return '';
  const runs = [
    ...r.sideBySide.filter((x) => x.name === 'planner, objective depth' && r.profile.batch < planBatch).map((x) => ({ size: r.profile.batch, depth: x.depth, meanAbsDiff: x.meanAbsDiff })),
    ...r.batchScaling.filter((x) => x.solver === 'planner (depth)' && x.size < planBatch),
  ];
  const seen = new Set<number>();
  const below = runs.filter((x) => !seen.has(x.size) && seen.add(x.size));
  if (!below.length) return '';
  return (
    `The depth plan was made for batches of ${planBatch} or more; below that it judges fewer samples' residuals and stops sooner ` +
    `(${below.map((x) => `batch ${x.size}: depth ${x.depth}, mean |Δ| ${sci(x.meanAbsDiff)}`).join('; ')}), ` +
    'which is why `tarflow sample --solver auto` plans again for a batch smaller than a kept plan\'s.'
  );
}

/** One backend's section: side by side, the verdict, FD, the scaling tables and the memory check. */
export function renderBackendSection(r: BackendResult): string {
  const p = r.profile;
  const seq = r.sideBySide[0];
  const others = r.sideBySide.slice(1);
  // A row that runs the sequential sampler (a time plan that chose it) is no iterative strategy: its speed-up is timing noise.
  const iterative = others.filter((x) => x.strategy !== 'sequential');
  const best = (iterative.length ? iterative : others).reduce((a, b) => (b.wallMs < a.wallMs ? b : a));
  const deepest = others.reduce((a, b) => (b.depthReduction > a.depthReduction ? b : a));
  const timePlan = others.find((x) => x.name.endsWith('objective time'));
  const tokensMinusOne = seq.depth / r.model.blocks;
  const jacobi = others[0];
  const passNote =
    `Here one plain-Jacobi pass costs ${jacobi.passCost.toFixed(1)} sequential steps (a block's sequential loop is ${tokensMinusOne} steps), ` +
    `so a strategy wins wall time only when it cuts the depth by more than that factor.`;
  const verdict =
    best.speedup < 1 || best.strategy === 'sequential'
      ? `No iterative strategy beats the sequential loop's ${ms(seq.wallMs)} in wall time on \`${r.backend}\` (the closest is ${best.name} at ${best.speedup.toFixed(2)}×), ` +
        `although ${deepest.name} cuts the depth ${deepest.depthReduction.toFixed(1)}× (${deepest.depth} instead of ${seq.depth} dependent evaluations) — the reduction a GPU turns into speed. ${passNote}`
      : `${best.name} beats the sequential loop's ${ms(seq.wallMs)} in wall time (${best.speedup.toFixed(2)}×). ${passNote} ` +
        `The largest depth reduction is ${deepest.name}'s ${deepest.depthReduction.toFixed(1)}× (depth ${deepest.depth}); check its mean and max |Δ| before taking the speed.`;
  const planning = others.filter((x) => x.planMs !== undefined);
  const batchSolvers = [...new Set(r.batchScaling.map((x) => x.solver))].filter((x) => x !== 'sequential');
  const tokenSolvers = [...new Set(r.tokenScaling.map((x) => x.solver))].filter((x) => x !== 'sequential');
  const belowPlan = belowPlanBatchNote(r);
  return [
    `## Backend \`${r.backend}\``,
    '',
    `Model: ${r.model.description} (file hash ${r.model.hash}). Batch ${p.batch}${r.model.conditional ? ', classes in turn' : ''}` +
      `${r.model.guidance ? `, classifier-free guidance ${r.model.guidance.scale} (the model's recommended setting; every step evaluates both branches)` : ''}` +
      `${r.model.temperature !== undefined && r.model.temperature !== 1 ? `, temperature ${r.model.temperature}` : ''}; ` +
      `wall time is the median of ${p.repeats} run${p.repeats > 1 ? 's' : ''}, after a warm-up run${r.fdReal ? ' and the FD batch' : ''}. ` +
      `The toughest block (largest CRM on ${r.shared.toughest.calibration}${r.shared.backend !== r.backend ? `, measured on ${r.shared.backend}` : ''}) is sampling index ${r.shared.toughest.samplingIndex} ` +
      `(forward ${r.shared.toughest.forwardIndex}, ${(r.shared.toughest.crmShare * 100).toFixed(0)}% of the summed CRM). ` +
      `This backend's measurements took ${ms(r.totalMs)} (${Object.entries(r.phases).filter(([, v]) => v >= 1).map(([k, v]) => `${k} ${ms(v)}`).join(', ')}).`,
    '',
    sideBySideTable(r),
    '',
    verdict +
      (timePlan ? ` The planner's \`time\` objective, which times this backend, chose \`${timePlan.strategy}\`${timePlan.strategy === 'sequential' ? ' (so its row differs from the first only by timing noise)' : ''}.` : '') +
      (planning.length
        ? ` Planning took ${planning.map((x) => `${ms(x.planMs!)} (${x.name.replace('planner, ', '')}${x.plannedOn ? `, on ${x.plannedOn}; a depth plan does not depend on the backend, so it is reused here` : ''})`).join(' and ')}.`
        : '') +
      (belowPlan ? ` ${belowPlan}` : ''),
    ...(r.fdReal
      ? ['', `FD is the Fréchet distance of the MNIST classifier's features of ${r.fdReal.count} samples per strategy to those of ${r.fdReal.reference}. With so few samples it is biased upwards — ${r.fdReal.count} real test digits score ${r.fdReal.floor.toFixed(2)} — so compare rows with each other, not with published FIDs.`]
      : []),
    '',
    `### Speed-up against batch size (same model)`,
    '',
    ...(r.batchScaling.length
      ? [
          'One timed run per row, after the runs above.',
          '',
          scalingTable(r.batchScaling, 'batch'),
          '',
          `Wall-time speed-up over the sequential loop by batch: ${batchSolvers.map((s) => `${s} ${speedupTrend(r.batchScaling, s)}`).join('; ')}. ` +
            `One pass costs, in sequential steps: ${batchSolvers.map((s) => `${s} ${passTrend(r.batchScaling, s)}`).join('; ')}. ` +
            'A single-position step is mostly per-kernel overhead, which does not grow with the batch; a pass is arithmetic, which does — so on a CPU the pass cost climbs towards the T − 1 steps of the whole loop as the batch grows, and the iterative solvers lose their edge. The depth does not depend on the batch beyond the slowest sample\'s convergence.',
        ]
      : [`Not run on \`${r.backend}\` (time budget); see the wasm section (\`--batches 1,2,4\` runs it here).`]),
    '',
    `### Speed-up against sequence length (random models)`,
    '',
    `Randomly initialised models, 4 blocks × 2 layers, 64 channels, 2×2 patches of 1-channel images of side 2·√T, batch ${p.batch}, no guidance; ` +
      `proj_out is drawn with std ${RANDOM_PROJ_OUT_STD} (TarFlow initialises it to zero, which makes every block the identity and Jacobi exact after one pass). ` +
      'Random blocks couple positions weakly, so Jacobi converges in fewer iterations than on a trained model: read these rows for how cost and depth grow with T, not for iteration counts.',
    '',
    scalingTable(r.tokenScaling, 'T'),
    '',
    `Wall-time speed-up by T: ${tokenSolvers.map((s) => `${s} ${speedupTrend(r.tokenScaling, s)}`).join('; ')}. ` +
      `One pass costs, in sequential steps: ${tokenSolvers.map((s) => `${s} ${passTrend(r.tokenScaling, s)}`).join('; ')} — growing with T, as a pass covers T − 1 positions (a GS module fewer).`,
    '',
    `### Memory: a batch of ${p.memoryBatch} from the ${r.model.source === 'default' ? 'default model' : 'model'}`,
    '',
    ...(r.memory.length
      ? [
          'Each row is a fresh `tarflow sample --batch ' + p.memoryBatch + ' --chunk ' + p.memoryBatch + ' --json` process (one model call for the whole batch' +
            (r.model.source === 'default' ? ", with the model's recommended guidance and its denoising step, taken 8 samples at a time" : '') +
            '); peak RSS is its `process.resourceUsage().maxRSS`.',
          '',
          memoryTable(r.memory),
        ]
      : [`Not run on \`${r.backend}\`: a batch of ${p.memoryBatch} takes minutes on this backend; see the wasm section (\`--memory-solvers sequential\` runs it here).`]),
  ].join('\n');
}

/** What a field of a saved report must be: a type, or the fields of an object, or a list of one shape. */
type Shape = 'string' | 'number' | 'boolean' | 'object' | { [field: string]: Shape } | [Shape];

const TIMING: Record<string, Shape> = { wallMs: 'number', depth: 'number', sequentialDepth: 'number', speedup: 'number', depthReduction: 'number', passCost: 'number' };
/** The fields of a BenchReport that renderReport reads (optional ones are checked when present). */
const REPORT: Shape = {
  started: 'string',
  loadavg: ['number'],
  results: [
    {
      backend: 'string',
      profile: { batch: 'number', repeats: 'number', memoryBatch: 'number' },
      model: { description: 'string', hash: 'string', blocks: 'number', source: 'string' },
      sideBySide: [{ name: 'string', strategy: 'string', ...TIMING, times: ['number'], meanAbsDiff: 'number', maxAbsDiff: 'number', fallbacks: 'number', tfPeakBytes: 'number', maxRssBytes: 'number' }],
      shared: { toughest: { calibration: 'string', samplingIndex: 'number', forwardIndex: 'number', crmShare: 'number' }, backend: 'string' },
      batchScaling: [{ label: 'string', size: 'number', solver: 'string', ...TIMING, meanAbsDiff: 'number' }],
      tokenScaling: [{ label: 'string', size: 'number', solver: 'string', ...TIMING, meanAbsDiff: 'number' }],
      memory: [{ solver: 'string', batch: 'number', ok: 'boolean' }],
      phases: 'object',
      totalMs: 'number',
    },
  ],
};

const PLANNING_RUN: Shape = { wallS: 'number', strategy: 'string', meanAbsDiff: 'number' };
/** The fields of a report's planning section (checked when the report has one). */
const PLANNING: Shape = {
  measured: 'string',
  cores: 'number',
  rows: [{ backend: 'string', batch: 'number', sequential: { wallS: 'number', strategy: 'string' }, empty: PLANNING_RUN, shipped: PLANNING_RUN }],
};

/** Why `value` at `path` does not have `shape`, or null. */
function mismatch(value: unknown, shape: Shape, path: string): string | null {
  const kind = value === null ? 'null' : Array.isArray(value) ? 'a list' : typeof value === 'object' ? 'an object' : typeof value === 'string' ? 'text' : `a ${typeof value}`;
  if (Array.isArray(shape)) {
    if (!Array.isArray(value)) return `${path} is ${kind}, not a list`;
    for (let i = 0; i < value.length; i++) {
      const why = mismatch(value[i], shape[0], `${path}[${i}]`);
      if (why) return why;
    }
    return null;
  }
  if (typeof shape === 'object') {
    if (value === null || typeof value !== 'object' || Array.isArray(value)) return `${path || 'the file'} is ${kind}, not an object`;
    for (const [field, inner] of Object.entries(shape)) {
      const why = mismatch((value as Record<string, unknown>)[field], inner, path ? `${path}.${field}` : field);
      if (why) return why;
    }
    return null;
  }
  if (shape === 'object' ? value !== null && typeof value === 'object' && !Array.isArray(value) : typeof value === shape) return null;
  return value === undefined ? `${path} is missing` : `${path} is ${kind}, not ${shape === 'object' ? 'an object' : `a ${shape}`}`;
}

/**
 * A saved report (`tarflow bench --render`), checked field by field before
 * rendering; throws an Error saying which field is missing or of the wrong type.
 */
export function checkBenchReport(value: unknown): BenchReport {
  const why = mismatch(value, REPORT, '');
  if (why) throw new Error(why);
  const report = value as BenchReport;
  if (Number.isNaN(new Date(report.started).getTime())) throw new Error('started is not a date');
  if (report.results.length === 0) throw new Error('results is an empty list');
  if (report.planning !== undefined) {
    const planning = mismatch(report.planning, PLANNING, 'planning');
    if (planning) throw new Error(planning);
  }
  for (const [i, r] of report.results.entries()) {
    if (r.sideBySide.length < 2) throw new Error(`results[${i}].sideBySide has ${r.sideBySide.length} rows, expected the sequential row and at least one other`);
  }
  return report;
}

/** The whole markdown report; `environment` describes the machine when the report does not. */
export function renderReport(report: BenchReport, environment?: BenchEnvironment): string {
  const env = report.environment ?? environment ?? { cpu: 'unknown CPU', cores: 0, node: 'unknown', tfjs: 'unknown' };
  return [
    '# Benchmarks',
    '',
    `Written by \`pnpm bench\` (\`tarflow bench\`) on ${new Date(report.started).toISOString().slice(0, 16).replace('T', ' ')} UTC: ` +
      `${env.cpu}, ${env.cores} cores, Node ${env.node}, tfjs ${env.tfjs}. ` +
      `Load average at the start ${report.loadavg.map((x) => x.toFixed(1)).join(' / ')} — the machine is shared, so wall times carry noise; depth does not.`,
    '',
    '## How to read this',
    '',
    '- **Depth** is the number of dependent network evaluations: T − 1 per block for the sequential sampler, one per Jacobi iteration. ' +
      'It is what a GPU turns into time, because there one parallel pass over all positions costs about as much as one single-position step.',
    '- **On a CPU it is not.** A Jacobi pass evaluates all T − 1 positions of a block: the same arithmetic as the whole sequential KV-cache loop over that block, ' +
      'which evaluates each position once. Where arithmetic dominates, a pass costs about as much as the whole sequential loop, and since Jacobi needs several passes, ' +
      'wall time cannot beat the sequential loop whatever the depth. tfjs adds a fixed cost per kernel, though, which dominates a single-position step at small batches, ' +
      'so on this machine a pass costs far fewer steps than T − 1 at batch 1 and climbs towards it as the batch (or T) grows. ' +
      'The **pass cost** column measures it: the wall time of one dependent evaluation in units of one sequential step. A strategy wins wall time exactly when its depth reduction exceeds its pass cost; ' +
      'on a GPU the pass cost is near 1, so the depth reduction is the speed-up. The planner\'s `time` objective times the backend it runs on and plans for it.',
    '- **Mean |Δ|** compares each strategy\'s images with the sequential sampler\'s from the same noise and labels (pixel range [-1, 1]).',
    '- Plain Jacobi runs to max|Δ| ≤ 1e-4 (at most T − 1 iterations); the hand strategy is paper-style `[Stack-GS-J-Else]`: GS-Jacobi with 4 modules on the block with the largest CRM, plain Jacobi capped at 10 iterations elsewhere, all stopping at the same tolerance.',
    '',
    ...report.results.flatMap((r) => [renderBackendSection(r), '']),
    ...(report.reference ? [renderReferenceSection(report.reference), ''] : []),
    ...(report.planning ? [renderPlanningSection(report.planning), ''] : []),
    '## Reproduce',
    '',
    '```sh',
    'pnpm build && pnpm bench            # wasm and cpu; writes docs/benchmarks.md and docs/benchmarks.json (re-run when the default model changes)',
    'pnpm tarflow bench --backends wasm --batch 16 --out /tmp/b.md   # one backend, other sizes',
    'scripts/reference-bench.sh          # only the section against the PyTorch references (needs python3-torch and the two checkouts)',
    'pnpm tarflow bench --planning-only  # only the planning section (whole-process sample --solver auto against sequential)',
    '```',
    '',
  ].join('\n');
}
