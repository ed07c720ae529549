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
import { loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseSafetensors, toFloat32 } from '@tarflow/checkpoint';
import { formatStrategy, type SamplingStrategy } from '@tarflow/solvers';

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

export interface PlanningRun {
  wallS: number;
  strategy: string;
  /** Where auto's plan came from: planned (quick), kept, shipped. */
  source?: string;
  planningMs?: number;
  meanAbsDiff?: number;
  /** Wall time of every process of the cell, in the order run. */
  runsS?: number[];
}

export interface PlanningRow {
  backend: string;
  batch: number;
  sequential: PlanningRun;
  empty: PlanningRun;
  shipped: PlanningRun;
  /** The machine's 1-minute load average when the row's first process started (the runs share the machine). */
  load?: number;
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
export async function runPlanningBench(o: PlanningBenchOptions): Promise<PlanningRow[]> {
  const dir = mkdtempSync(join(tmpdir(), 'tarflow-planning-bench-'));
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
  return rows;
}

/** The section's markdown: whole-process seconds, speed-up over sequential, mean |Δ|, and what auto ran. */
export function renderPlanningSection(rows: PlanningRow[]): string {
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
