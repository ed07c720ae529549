/**
 * The planning section of `tarflow bench` (@tarflow/bench's planning-bench):
 * whole-process `tarflow sample` with --solver auto against --solver
 * sequential, with an empty plan cache and with the plans shipped in the
 * default model, on wasm and cpu at batches 1, 16 and 64. Written into the
 * report with `--planning-only`, or after the other sections of a full run.
 */
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { cpus, tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseSafetensors } from '@tarflow/checkpoint';
import { writeSafetensorsFile } from '@tarflow/checkpoint/node';
import { PLANS_KEY } from '@tarflow/metrics';
import { renderPlanningSection, runPlanningBench, type PlanningRow } from '@tarflow/bench';
import { defaultModelBytes } from '@tarflow/zoo';
import { CliError } from '../errors.js';
import { writeOutput } from '../files.js';

export const PLANNING_HEAD = '## Planning: `sample --solver auto` as a whole process';

/** Runs the section on the given backends (default wasm, cpu) and batches (default 1, 16, 64). */
export async function planningSection(
  options: { backends?: string[]; batches?: number[]; repeats?: number; onProgress?: (m: string) => void } = {},
): Promise<PlanningRow[]> {
  const dir = await mkdtemp(join(tmpdir(), 'tarflow-bench-planning-'));
  try {
    // The default model without its shipped plans: what auto does with nothing to go on.
    const file = parseSafetensors(await defaultModelBytes());
    const { [PLANS_KEY]: shipped, ...metadata } = file.metadata;
    if (shipped === undefined) throw new CliError(`the default model ships no plans (metadata '${PLANS_KEY}'): nothing to compare`);
    const withoutPlans = join(dir, 'default-without-plans.safetensors');
    await writeSafetensorsFile(withoutPlans, file.tensors, metadata);
    return await runPlanningBench({
      bin: fileURLToPath(new URL('../bin/tarflow.js', import.meta.url)),
      backends: options.backends ?? ['wasm', 'cpu'],
      batches: options.batches ?? [1, 16, 64],
      withoutPlans,
      repeats: options.repeats,
      onProgress: options.onProgress,
    });
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

/** The 1-minute load average the rows started at (the machine's other work, which the times include). */
function loadText(rows: PlanningRow[]): string {
  const loads = rows.map((r) => r.load).filter((l): l is number => l !== undefined);
  if (loads.length === 0) return '';
  const [lo, hi] = [Math.min(...loads), Math.max(...loads)].map((l) => l.toFixed(1));
  return ` Load average (1 min) at the start of each row: ${lo === hi ? lo : `${lo}–${hi}`}, on ${cpus().length} cores.`;
}

/** How many processes each cell is the median of. */
function repeatsText(rows: PlanningRow[]): string {
  const n = new Set(rows.map((r) => r.sequential.runsS?.length ?? 1));
  return [...n].join(' or ');
}

/** The section's markdown, with what it measures and how to read it. */
export function planningMarkdown(rows: PlanningRow[], when = new Date()): string {
  return [
    PLANNING_HEAD,
    '',
    `Measured ${when.toISOString().slice(0, 16).replace('T', ' ')} UTC. Each cell is the median of ${repeatsText(rows)} \`tarflow sample --seed 0 --batch B\``,
    'processes, start to exit (model load, planning or plan look-up, sampling, writing the samples), the three columns run',
    'in turn; default model at its recommended settings.',
    '"empty cache": a copy of the model without shipped plans and an empty plan cache, so auto plans (quick, within the',
    'budget of the job) or falls back to sequential; "shipped plan": the model as shipped. × is sequential s / auto s;',
    'mean |Δ| is against the sequential samples of the same noise. "auto ran" is the strategy and where it came from.',
    'Every run samples with the engine its backend defaults to (fused on wasm and cpu), the engine the shipped plans were made for.' +
      loadText(rows),
    '',
    renderPlanningSection(rows),
    '',
  ].join('\n');
}

/** Writes the section into the report `out`: replacing an earlier one, else before "## Reproduce", else at the end. */
export async function writePlanningSection(out: string, rows: PlanningRow[]): Promise<void> {
  const md = (await readFile(out, 'utf8').catch(() => null)) ?? '# Benchmarks\n';
  const text = planningMarkdown(rows).trimEnd();
  const at = md.indexOf(PLANNING_HEAD);
  let next: string;
  if (at >= 0) {
    const end = md.indexOf('\n## ', at + PLANNING_HEAD.length);
    next = `${md.slice(0, at)}${text}\n${end < 0 ? '' : md.slice(end)}`;
  } else {
    const before = md.indexOf('## Reproduce');
    next = before < 0 ? `${md.trimEnd()}\n\n${text}\n` : `${md.slice(0, before)}${text}\n\n${md.slice(before)}`;
  }
  await writeOutput(out, new TextEncoder().encode(next));
}
