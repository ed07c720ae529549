/**
 * `tarflow bench --reference <dir>`: our sequential sampler (plain and fused)
 * and the Jacobi solvers beside the PyTorch references on one CPU thread
 * (@tarflow/bench's benchReference). Without a checkout the section says why
 * it is empty. `--reference-only` measures just this section and writes it
 * into an existing report (and its JSON), leaving every other number as it was.
 */
import { readFile } from 'node:fs/promises';
import { loadavg } from 'node:os';
import { fileURLToPath } from 'node:url';
import { loadModel } from '@tarflow/model';
import { defaultModelUrl } from '@tarflow/zoo';
import { benchReference, defaultReferencePlan, REFERENCE_HEAD, referenceCheckouts, renderReferenceSection, type ReferenceSection } from '@tarflow/bench';
import { useBackend } from '../backend.js';
import { CliError, messageOf } from '../errors.js';
import { note } from '../output.js';
import { writeSection } from './bench-section.js';

/** The environment variable naming the checkouts when --reference is not given. */
export const REFERENCE_ENV = 'TARFLOW_REFERENCE';

/** The reference section: measured when a checkout is named (flag or environment), else why not. */
export async function referenceSection(dir: string | undefined, checkpoint: string | undefined, batches?: number[]): Promise<ReferenceSection> {
  const where = dir ?? process.env[REFERENCE_ENV];
  if (!where) {
    return { skipped: `no checkout of the references was given (\`tarflow bench --reference <dir>\` or ${REFERENCE_ENV}; \`scripts/reference-bench.sh\` prepares one).` };
  }
  const file = checkpoint ?? fileURLToPath(defaultModelUrl);
  if (!file.toLowerCase().endsWith('.safetensors')) throw new CliError(`--reference: the reference script reads .safetensors checkpoints, not ${file}`);
  let checkouts: { tarflow: string; gsJacobi?: string };
  try {
    checkouts = referenceCheckouts(where);
  } catch (e) {
    throw new CliError(`--reference: ${messageOf(e)}`);
  }
  const bytes = new Uint8Array(await readFile(file));
  try {
    return await benchReference({
      checkouts,
      checkpoint: file,
      loadModel: () => loadModel(bytes),
      plan: (model) => defaultReferencePlan(model, batches),
      useBackend: async (name) => {
        await useBackend(name);
      },
      python: process.env.TARFLOW_PYTHON,
      loadavg: loadavg(),
      progress: note,
    });
  } catch (e) {
    throw new CliError(`--reference: ${messageOf(e)}`);
  }
}

/** Writes the section into the report `out` (replacing an earlier one, else before "## Reproduce") and into its JSON. */
export async function writeReferenceOnly(out: string, jsonOut: string, section: ReferenceSection): Promise<void> {
  if ('skipped' in section && typeof section.skipped === 'string') throw new CliError(`--reference-only: ${section.skipped}`);
  await writeSection({
    out,
    jsonOut,
    flag: '--reference-only',
    head: REFERENCE_HEAD,
    text: renderReferenceSection(section),
    update: (report) => {
      report.reference = section;
    },
  });
}
