/**
 * The planning section of `tarflow bench` (@tarflow/bench's planning-bench):
 * whole-process `tarflow sample` with --solver auto against --solver
 * sequential, with an empty plan cache and with the plans shipped in the
 * default model, on wasm and cpu at batches 1, 16 and 64. Written into the
 * report with `--planning-only`, or after the other sections of a full run.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseSafetensors } from '@tarflow/checkpoint';
import { writeSafetensorsFile } from '@tarflow/checkpoint/node';
import { PLANS_KEY } from '@tarflow/metrics';
import { PLANNING_HEAD, renderPlanningSection, runPlanningBench, type PlanningSection } from '@tarflow/bench';
import { defaultModelBytes } from '@tarflow/zoo';
import { CliError } from '../errors.js';
import { writeSection } from './bench-section.js';

/** Runs the section on the given backends (default wasm, cpu) and batches (default 1, 16, 64). */
export async function planningSection(
  options: { backends?: string[]; batches?: number[]; repeats?: number; onProgress?: (m: string) => void } = {},
): Promise<PlanningSection> {
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

/** Writes the section into the report `out` (replacing an earlier one, else before "## Reproduce"; a new report where there is none) and into its JSON. */
export async function writePlanningSection(out: string, jsonOut: string, section: PlanningSection): Promise<void> {
  await writeSection({
    out,
    jsonOut,
    flag: '--planning-only',
    head: PLANNING_HEAD,
    text: renderPlanningSection(section),
    update: (report) => {
      report.planning = section;
    },
    fresh: '# Benchmarks\n',
  });
}
