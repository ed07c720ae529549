/**
 * The planning section of `tarflow bench`: what `sample --solver auto` costs
 * and gains as a whole process — model load, planning or plan look-up, and
 * sampling — against `--solver sequential`, per backend and batch, once with
 * an empty plan cache and a model file without plans (auto plans quickly,
 * within the budget of the job), once with the plans shipped in the model
 * file. Each run is its own `tarflow sample` process on the same seeds; the
 * auto rows' mean |Δ| is against the sequential samples of the same noise.
 * Each cell is the median wall time of `repeats` processes, the three kinds
 * taken in turn (sequential, empty, shipped, sequential, …) so that a change
 * in the machine's load reaches all three alike.
 */
import { execFile } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { cpus, loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseSafetensors, toFloat32 } from '@tarflow/checkpoint';
import { formatStrategy, type SamplingStrategy } from '@tarflow/solvers';
import type { PlanningRow, PlanningRun, PlanningSection } from './results.js';

export interface PlanningBenchOptions {
  /** The `tarflow` program (bin/tarflow.js). */
  bin: string;
  backends: string[];
  batches: number[];
  /** A model file with shipped plans; default: the embedded default model. */
  withPlans?: string;
  /** The same model without shipped plans (the empty case). */
  withoutPlans: string;
  /** Processes per cell, the cell's time their median (default 3). */
  repeats?: number;
  onProgress?: (message: string) => void;
}

function run(bin: string, args: string[], env: Record<string, string>): Promise<{ wallS: number; json: Record<string, unknown> }> {
  return new Promise((resolve, reject) => {
    const t0 = performance.now();
    execFile(process.execPath, [bin, ...args], { env: { ...process.env, ...env }, maxBuffer: 256 * 2 ** 20 }, (error, stdout, stderr) => {
      const wallS = (performance.now() - t0) / 1000;
      if (error) reject(new Error(`tarflow ${args.join(' ')} failed: ${stderr.trim().split('\n').at(-1)}`));
      else resolve({ wallS, json: JSON.parse(stdout) });
    });
  });
}

/** A strategy's text in the compact notation where it is JSON (per-block strategies). */
function compact(text: string): string {
  try {
    return formatStrategy(JSON.parse(text) as SamplingStrategy, { compact: true });
  } catch {
    return text;
  }
}

function samplesOf(path: string): Float32Array {
  const t = parseSafetensors(new Uint8Array(readFileSync(path))).tensors.get('sample');
  if (!t) throw new Error(`${path} has no tensor 'sample'`);
  return toFloat32(t, 'sample');
}

function meanAbsDiff(a: Float32Array, b: Float32Array): number {
  let s = 0;
  for (let i = 0; i < a.length; i++) s += Math.abs(a[i] - b[i]);
  return s / a.length;
}

/** Runs the section: three `tarflow sample` processes per backend and batch. */
export async function runPlanningBench(o: PlanningBenchOptions): Promise<PlanningSection> {
  const dir = mkdtempSync(join(tmpdir(), 'tarflow-planning-bench-'));
  const measured = new Date().toISOString();
  const rows: PlanningRow[] = [];
  try {
    for (const backend of o.backends) {
      for (const batch of o.batches) {
        const load = loadavg()[0];
        const one = async (name: string, args: string[]): Promise<PlanningRun & { out: string }> => {
          const out = join(dir, `${backend}-${batch}-${name.replace(/[^a-z0-9-]+/gi, '_')}.safetensors`);
          const cache = mkdtempSync(join(dir, 'cache-')); // an empty plan cache for every run
          o.onProgress?.(`${backend}, batch ${batch}: ${name}`);
          const argv = ['sample', '--backend', backend, '--batch', String(batch), '--seed', '0', '--no-progress', '--json', '--plan-cache', cache, '--out', out, ...args];
          // One retry: a run that failed before it planned anything (a package rebuilt under it) is run again from scratch.
          const r = await run(o.bin, argv, { XDG_CACHE_HOME: cache }).catch(async (e: Error) => {
            o.onProgress?.(`${backend}, batch ${batch}: ${name} failed (${e.message}); once more`);
            await new Promise((done) => setTimeout(done, 20_000));
            return run(o.bin, argv, { XDG_CACHE_HOME: cache });
          });
          const plan = r.json.plan as { source?: string; planningMs?: number } | undefined;
          return { out, wallS: r.wallS, strategy: compact(String(r.json.strategy)), source: plan?.source, planningMs: plan?.planningMs };
        };
        const repeats = o.repeats ?? 3;
        if (!(Number.isInteger(repeats) && repeats >= 1)) throw new Error(`planning bench: repeats must be a positive integer, got ${repeats}`);
        const kinds: Array<[string, string[]]> = [
          ['sequential', ['--solver', 'sequential', ...(o.withPlans ? ['--checkpoint', o.withPlans] : [])]],
          ['auto-empty', ['--solver', 'auto', '--checkpoint', o.withoutPlans]],
          ['auto-shipped', ['--solver', 'auto', ...(o.withPlans ? ['--checkpoint', o.withPlans] : [])]],
        ];
        const runs: Array<Array<PlanningRun & { out: string }>> = kinds.map(() => []);
        for (let k = 0; k < repeats; k++) {
          for (const [i, [name, args]] of kinds.entries()) runs[i].push(await one(repeats > 1 ? `${name} (${k + 1}/${repeats})` : name, args));
        }
        // The cell: the median run (its samples are the same in every run: same seed, same strategy).
        const cell = (rs: Array<PlanningRun & { out: string }>): PlanningRun & { out: string } => {
          const sorted = [...rs].sort((a, b) => a.wallS - b.wallS);
          return { ...sorted[(sorted.length - 1) >> 1], runsS: rs.map((r) => r.wallS) };
        };
        const [seq, empty, shipped] = runs.map(cell);
        const exact = samplesOf(seq.out);
        const strip = ({ out: _out, ...r }: PlanningRun & { out: string }): PlanningRun => r;
        rows.push({
          backend,
          batch,
          sequential: strip(seq),
          empty: { ...strip(empty), meanAbsDiff: meanAbsDiff(samplesOf(empty.out), exact) },
          shipped: { ...strip(shipped), meanAbsDiff: meanAbsDiff(samplesOf(shipped.out), exact) },
          load,
        });
      }
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
  return { measured, cores: cpus().length, rows };
}

export const PLANNING_HEAD = '## Planning: `sample --solver auto` as a whole process';

/** The 1-minute load average the rows started at (the machine's other work, which the times include). */
function loadText(section: PlanningSection): string {
  const loads = section.rows.map((r) => r.load).filter((l): l is number => l !== undefined);
  if (loads.length === 0) return '';
  const [lo, hi] = [Math.min(...loads), Math.max(...loads)].map((l) => l.toFixed(1));
  return ` Load average (1 min) at the start of each row: ${lo === hi ? lo : `${lo}–${hi}`}, on ${section.cores} cores.`;
}

/** How many processes each cell is the median of. */
function repeatsText(rows: PlanningRow[]): string {
  const n = new Set(rows.map((r) => r.sequential.runsS?.length ?? 1));
  return [...n].join(' or ');
}

/** "lo–hi" of some numbers (one number when they agree at this precision). */
function span(xs: number[], digits: number): string {
  const [lo, hi] = [Math.min(...xs), Math.max(...xs)].map((x) => x.toFixed(digits));
  return lo === hi ? lo : `${lo}–${hi}`;
}

/**
 * What the rows say, in words: what auto ran and where its plan came from,
 * how its whole-process time compares with the sequential sampler's, and how
 * far the sequential processes of one cell scatter (the noise the × columns carry).
 */
export function planningSummary(rows: PlanningRow[]): string {
  const autos = rows.flatMap((r) => [
    { row: r, run: r.empty, column: 'empty cache' },
    { row: r, run: r.shipped, column: 'shipped plan' },
  ]);
  const parts: string[] = [];
  const strategies = [...new Set(autos.map((a) => a.run.strategy))];
  const sources = (runs: PlanningRun[]) => {
    const counts = new Map<string, number>();
    for (const r of runs) counts.set(r.source ?? 'unknown', (counts.get(r.source ?? 'unknown') ?? 0) + 1);
    return [...counts].map(([source, n]) => `${source} in ${n}`).join(', ') + ` of the ${runs.length} auto cells`;
  };
  if (strategies.length === 1) {
    parts.push(`In every cell auto ran \`${strategies[0]}\` (where its plan came from: ${sources(autos.map((a) => a.run))}).`);
  } else {
    for (const s of strategies) {
      const cells = autos.filter((a) => a.run.strategy === s);
      parts.push(`Auto ran \`${s}\` in ${cells.length} of ${autos.length} cells (${cells.map((a) => `${a.row.backend} ${a.row.batch}, ${a.column}`).join('; ')}).`);
    }
  }
  const planned = autos.map((a) => a.run).filter((r) => r.source === 'planned' && r.planningMs !== undefined);
  if (planned.length) parts.push(`Where it planned, planning took ${span(planned.map((r) => r.planningMs! / 1000), 2)} s of the process.`);
  const ratio = (column: 'empty' | 'shipped') => span(rows.map((r) => r.sequential.wallS / r[column].wallS), 2);
  parts.push(`Sequential s ÷ auto s: ${ratio('empty')} with an empty cache, ${ratio('shipped')} with the shipped plans.`);
  const exact = autos.filter((a) => a.run.meanAbsDiff === 0).length;
  if (exact === autos.length) parts.push('Every mean |Δ| is 0: auto drew exactly the sequential samples.');
  else parts.push(`${exact} of ${autos.length} auto cells drew exactly the sequential samples (mean |Δ| 0).`);
  const scatter = rows
    .map((r) => r.sequential.runsS)
    .filter((xs): xs is number[] => xs !== undefined && xs.length > 1)
    .map((xs) => {
      const sorted = [...xs].sort((a, b) => a - b);
      return (sorted.at(-1)! - sorted[0]) / sorted[(sorted.length - 1) >> 1];
    });
  if (scatter.length) {
    parts.push(
      `For the noise in these ratios: the sequential processes of one cell, the same work each time, spread by up to ${(Math.max(...scatter) * 100).toFixed(0)}% of their median` +
        `${strategies.length === 1 && strategies[0] === 'sequential' ? ', so where auto ran the sequential sampler its × differs from 1 by that scatter alone' : ''}.`,
    );
  }
  return parts.join(' ');
}

/** The whole section: what it measures, the table, what the table says, and how to make it again. */
export function renderPlanningSection(section: PlanningSection): string {
  const { rows } = section;
  return [
    PLANNING_HEAD,
    '',
    `Measured ${section.measured.slice(0, 16).replace('T', ' ')} UTC. Each cell is the median of ${repeatsText(rows)} \`tarflow sample --seed 0 --batch B\``,
    'processes, start to exit (model load, planning or plan look-up, sampling, writing the samples), the three columns run',
    'in turn; default model at its recommended settings.',
    '"empty cache": a copy of the model without shipped plans and an empty plan cache, so auto plans (quick, within the',
    'budget of the job) or falls back to sequential; "shipped plan": the model as shipped. × is sequential s / auto s;',
    'mean |Δ| is against the sequential samples of the same noise. "auto ran" is the strategy and where it came from.',
    'Every run samples with the engine its backend defaults to (fused on wasm and cpu), the engine the shipped plans were made for.' + loadText(section),
    '',
    planningTable(rows),
    '',
    planningSummary(rows),
    'Regenerate with `node apps/cli/bin/tarflow.js bench --planning-only --out docs/benchmarks.md` (a full `pnpm bench` runs it too).',
  ].join('\n');
}

/** The section's table: whole-process seconds, speed-up over sequential, mean |Δ|, and what auto ran. */
function planningTable(rows: PlanningRow[]): string {
  const f = (x: number, d = 1) => x.toFixed(d);
  const what = (r: PlanningRun) => `${r.strategy.length > 28 ? `${r.strategy.slice(0, 27)}…` : r.strategy} (${r.source ?? '–'}${r.source === 'planned' && r.planningMs !== undefined ? `, ${f(r.planningMs / 1000, 2)} s planning` : ''})`;
  const lines = [
    '| backend | batch | sequential s | auto, empty cache s | × | mean \\|Δ\\| | auto ran | auto, shipped plan s | × | mean \\|Δ\\| | auto ran |',
    '|---|--:|--:|--:|--:|--:|---|--:|--:|--:|---|',
    ...rows.map((r) =>
      [
        r.backend,
        r.batch,
        f(r.sequential.wallS),
        f(r.empty.wallS),
        f(r.sequential.wallS / r.empty.wallS, 2),
        r.empty.meanAbsDiff!.toExponential(1),
        what(r.empty),
        f(r.shipped.wallS),
        f(r.sequential.wallS / r.shipped.wallS, 2),
        r.shipped.meanAbsDiff!.toExponential(1),
        what(r.shipped),
      ].join(' | ').replace(/^/, '| ').replace(/$/, ' |'),
    ),
  ];
  return lines.join('\n');
}
