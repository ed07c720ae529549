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
import { benchReference, defaultReferencePlan, referenceCheckouts, renderReferenceSection, reportJson, type BenchReport, type ReferenceSection } from '@tarflow/bench';
import { useBackend } from '../backend.js';
import { CliError, messageOf } from '../errors.js';
import { outputSet } from '../files.js';
import { note } from '../output.js';

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
  const md = await readFile(out, 'utf8').catch(() => null);
  if (md === null) throw new CliError(`--reference-only: ${out} does not exist; run a full \`tarflow bench\` first`);
  const text = renderReferenceSection(section).trimEnd();
  const head = '## Against the PyTorch references';
  const at = md.indexOf(head);
  let next: string;
  if (at >= 0) {
    const end = md.indexOf('\n## ', at + head.length);
    next = `${md.slice(0, at)}${text}\n${end < 0 ? '' : md.slice(end)}`;
  } else {
    const before = md.indexOf('## Reproduce');
    next = before < 0 ? `${md.trimEnd()}\n\n${text}\n` : `${md.slice(0, before)}${text}\n\n${md.slice(before)}`;
  }
  // The markdown and its JSON are one output set: both are written, or neither.
  const json = await readFile(jsonOut, 'utf8').catch(() => null);
  const set = await outputSet([{ path: out, flag: '--out' }, ...(json !== null ? [{ path: jsonOut, flag: '--json-out' }] : [])]);
  await set.bytes(out, new TextEncoder().encode(next));
  if (json !== null) {
    let report: BenchReport;
    try {
      report = JSON.parse(json) as BenchReport;
    } catch {
      await set.discard();
      throw new CliError(`--reference-only: ${jsonOut} is not a benchmark report: it is not valid JSON`);
    }
    report.reference = section;
    await set.bytes(jsonOut, new TextEncoder().encode(reportJson(report)));
  }
  await set.commit();
}
