/**
 * Writing one section of `tarflow bench`'s report into an existing report:
 * `--reference-only` and `--planning-only` (and the planning section after a
 * full run) replace their section in the markdown and their field in its JSON,
 * leaving every other number as it was.
 */
import { readFile } from 'node:fs/promises';
import { replaceSection, reportJson, type BenchReport } from '@tarflow/bench';
import { CliError } from '../errors.js';
import { outputSet } from '../files.js';

export interface SectionWrite {
  /** The markdown report and its JSON (the JSON is updated only where it exists). */
  out: string;
  jsonOut: string;
  /** The flag the errors name, e.g. `--reference-only`. */
  flag: string;
  /** The section's heading line, and its whole markdown. */
  head: string;
  text: string;
  /** Puts the section's data into the saved report. */
  update: (report: BenchReport) => void;
  /** The report to start from where `out` does not exist; without it a missing report is an error. */
  fresh?: string;
}

/** Writes the section into the markdown and its JSON as one output set: both are written, or neither. */
export async function writeSection(w: SectionWrite): Promise<void> {
  const md = (await readFile(w.out, 'utf8').catch(() => null)) ?? w.fresh ?? null;
  if (md === null) throw new CliError(`${w.flag}: ${w.out} does not exist; run a full \`tarflow bench\` first`);
  const json = await readFile(w.jsonOut, 'utf8').catch(() => null);
  let report: BenchReport | undefined;
  if (json !== null) {
    try {
      report = JSON.parse(json) as BenchReport;
    } catch {
      throw new CliError(`${w.flag}: ${w.jsonOut} is not a benchmark report: it is not valid JSON`);
    }
    w.update(report);
  }
  const set = await outputSet([{ path: w.out, flag: '--out' }, ...(report ? [{ path: w.jsonOut, flag: '--json-out' }] : [])]);
  await set.bytes(w.out, new TextEncoder().encode(replaceSection(md, w.head, w.text)));
  if (report) await set.bytes(w.jsonOut, new TextEncoder().encode(reportJson(report)));
  await set.commit();
}
