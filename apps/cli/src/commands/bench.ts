/**
 * `tarflow bench`: the solvers side by side on one backend — sequential,
 * plain Jacobi, a paper-style hand strategy and the planner's — with wall
 * time, depth, speed-up, mean |Δ| against the exact sampler, FD of classifier
 * features, and peak memory; then how the speed-up scales with batch size and
 * with sequence length, and a memory check of a batch of 64.
 *
 * Each backend is measured in its own worker process (so peak RSS belongs to
 * that backend alone); the parent writes the markdown report and the JSON.
 * The measuring and the report are @tarflow/bench; this file parses flags,
 * runs the processes and writes the files.
 */
import { spawn } from 'node:child_process';
import { cpus, loadavg, tmpdir } from 'node:os';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { tf } from '@tarflow/tensor';
import type { GuidanceSettings } from '@tarflow/model';
import { formatStrategy, isJointStrategy, type SamplingStrategy } from '@tarflow/solvers';
import {
  benchBackend,
  checkBenchReport,
  keepMarkedSection,
  MEMORY_LIMIT_BYTES,
  MEMORY_SOLVERS,
  mib,
  ms,
  profileFor,
  renderReport,
  reportJson,
  sci,
  type BackendResult,
  type BenchEnvironment,
  type BenchReport,
  type MemoryRow,
  type Profile,
  type SharedMeasurements,
} from '@tarflow/bench';
import { useBackend, type BackendChoice } from '../backend.js';
import { referenceSection, writeReferenceOnly } from './bench-reference.js';
import { CliError, UsageError, messageOf } from '../errors.js';
import { outputSet, readBytes, type OutputSet } from '../files.js';
import { describeModel, loadModelSource, type ModelSource } from '../model-source.js';
import { emit, note, type CommonFlags } from '../output.js';
import { createProgress, progressEnabled } from '../progress.js';
import { DEFAULT_TOLERANCE } from '../strategy.js';

export { KEPT_MARKER } from '@tarflow/bench';

export interface BenchFlags extends CommonFlags {
  out: string;
  jsonOut?: string;
  backends: string;
  checkpoint?: string;
  repeats?: number;
  batch?: number;
  batches?: string;
  tokens?: string;
  fdCount?: number;
  memoryBatch?: number;
  memorySolvers?: string;
  quick?: boolean;
  /** Internal: run the measurements of one backend and write them to `workerOut`. */
  workerBackend?: BackendChoice;
  workerOut?: string;
  /** Re-render the markdown from a saved JSON report instead of measuring. */
  render?: string;
  /** Internal: what an earlier backend's worker measured that does not depend on the backend (SharedMeasurements). */
  shared?: string;
  /** Checkouts of the PyTorch references (bench-reference.ts); without it the section says it was skipped. */
  reference?: string;
  referenceOnly?: boolean;
  referenceBatches?: string;
  /** Measure only the planning section (bench-planning.ts) and write it into --out. */
  planningOnly?: boolean;
}

function listArg(text: string, flag: string): number[] {
  if (text.trim() === '') return [];
  const values = text.split(',').map((s) => Number(s.trim()));
  if (values.some((v) => !Number.isInteger(v) || v < 1)) {
    throw new UsageError(`${flag} ${text}: expected a comma list of positive integers`);
  }
  return values;
}

/** The batch sizes of the section against the PyTorch references (--reference-batches), or its default. */
function referenceBatches(flags: BenchFlags): number[] | undefined {
  return flags.referenceBatches !== undefined ? listArg(flags.referenceBatches, '--reference-batches') : undefined;
}

/** The backend's profile with the flags' sizes applied. */
function profileFromFlags(backend: string, flags: BenchFlags): Profile {
  const profile = profileFor(
    backend,
    {
      batch: flags.batch,
      repeats: flags.repeats,
      batches: flags.batches !== undefined ? listArg(flags.batches, '--batches') : undefined,
      tokens: flags.tokens !== undefined ? listArg(flags.tokens, '--tokens') : undefined,
      fdCount: flags.fdCount,
      memoryBatch: flags.memoryBatch,
      memorySolvers: flags.memorySolvers?.split(',').map((x) => x.trim()).filter((x) => x !== ''),
    },
    flags.quick,
  );
  for (const x of profile.memorySolvers) {
    if (!(MEMORY_SOLVERS as readonly string[]).includes(x)) throw new UsageError(`--memory-solvers: unknown solver '${x}' (expected ${MEMORY_SOLVERS.join(', ')})`);
  }
  for (const t of profile.tokens) {
    if (!Number.isInteger(Math.sqrt(t)) || t < 4) throw new UsageError(`--tokens: ${t} is not a square >= 4 (random models use square images of 2×2 patches)`);
  }
  return profile;
}

/** One backend's measurements, in this (worker) process. */
async function runWorker(backendChoice: BackendChoice, flags: BenchFlags): Promise<BackendResult> {
  const startedAt = performance.now();
  const { name: backend, detail: backendDetail } = await useBackend(backendChoice);
  const profile = profileFromFlags(backend, flags);
  const progress = createProgress(progressEnabled(flags.progress));
  const source: ModelSource = await loadModelSource(flags.checkpoint);
  // A model is sampled as its file recommends (the embedded one: guidance and a lower temperature).
  const recommended = source.model.recommended;
  const guidance: GuidanceSettings | undefined = recommended?.guidance ? { ...recommended.guidance } : undefined;
  const temperature = recommended?.temperature ?? 1;
  try {
    return await benchBackend({
      backend,
      backendDetail,
      profile,
      model: source.model,
      modelInfo: { source: source.name, hash: source.hash, description: describeModel(source) },
      settings: { guidance, temperature },
      tolerance: DEFAULT_TOLERANCE,
      shared: flags.shared ? (JSON.parse(await readFile(flags.shared, 'utf8')) as SharedMeasurements) : null,
      memoryCheck: (solver, strategy, batch) => memoryCheck(backend, solver, strategy, batch, flags.checkpoint),
      progress,
      startedAt,
    });
  } finally {
    source.model.dispose();
  }
}

// ---------------------------------------------------------------- processes

const BIN = fileURLToPath(new URL('../bin/tarflow.js', import.meta.url));

/**
 * Runs `tarflow …` in a child process. With `shareStderr` the child writes to
 * this process's stderr directly (so a worker's progress bar sees the
 * terminal); otherwise its stderr is collected for error messages.
 */
function runChild(args: string[], shareStderr = false): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolvePromise, reject) => {
    const child = spawn(process.execPath, [BIN, ...args], { stdio: ['ignore', 'pipe', shareStderr ? 'inherit' : 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout!.on('data', (d) => (stdout += d));
    child.stderr?.on('data', (d) => (stderr += d));
    child.on('error', reject);
    child.on('close', (code) => resolvePromise({ code: code ?? 1, stdout, stderr }));
  });
}

/** Samples a batch in a fresh `tarflow sample` process and reads its peak RSS from the JSON report. */
async function memoryCheck(backend: string, solver: string, strategy: SamplingStrategy | undefined, batch: number, checkpoint?: string): Promise<MemoryRow> {
  // A joint plan travels as its text (its guess table is recomputed there; as JSON it could exceed the OS limit on one argument).
  const text = strategy && isJointStrategy(strategy) ? formatStrategy(strategy) : JSON.stringify(strategy ?? []);
  const how = solver === 'planner-depth' ? ['--strategy', text] : ['--solver', solver];
  const args = ['sample', '--batch', String(batch), '--chunk', String(batch), ...how, '--backend', backend, '--json', '--no-progress'];
  if (checkpoint) args.push('--checkpoint', checkpoint);
  const r = await runChild(args);
  if (r.code !== 0) return { solver, batch, maxRssBytes: NaN, wallMs: NaN, depth: NaN, ok: false, error: r.stderr.trim().split('\n').pop() };
  const out = JSON.parse(r.stdout) as { memory: { maxRssBytes: number }; wallMs: number; report: { depth: number } };
  return { solver, batch, maxRssBytes: out.memory.maxRssBytes, wallMs: out.wallMs, depth: out.report.depth, ok: out.memory.maxRssBytes < MEMORY_LIMIT_BYTES };
}

/** Measures each backend in a worker process of its own, in turn; later workers reuse the first one's shared measurements. */
async function runWorkers(backends: string[], flags: BenchFlags): Promise<BackendResult[]> {
  const dir = await mkdtemp(join(tmpdir(), 'tarflow-bench-'));
  const results: BackendResult[] = [];
  try {
    for (const b of backends) {
      const file = join(dir, `${b}.json`);
      const args = ['bench', '--worker-backend', b, '--worker-out', file, '--out', flags.out];
      if (flags.checkpoint) args.push('--checkpoint', flags.checkpoint);
      if (flags.quick) args.push('--quick');
      if (flags.progress === true) args.push('--progress');
      if (flags.progress === false) args.push('--no-progress');
      if (results.length > 0) {
        const sharedFile = join(dir, 'shared.json');
        await writeFile(sharedFile, JSON.stringify(results[0].shared));
        args.push('--shared', sharedFile);
      }
      const passed = [
        ['repeats', '--repeats'], ['batch', '--batch'], ['batches', '--batches'], ['tokens', '--tokens'],
        ['fdCount', '--fd-count'], ['memoryBatch', '--memory-batch'], ['memorySolvers', '--memory-solvers'],
      ] as const;
      for (const [key, flag] of passed) {
        if (flags[key] !== undefined) args.push(flag, String(flags[key]));
      }
      note(`bench: measuring on ${b} (a separate process)`);
      const r = await runChild(args, true);
      // A bad flag the worker found is still a usage error (exit 2), as in any other command.
      if (r.code !== 0) throw new CliError(`bench worker for ${b} failed (exit ${r.code}; its error is above)`, r.code === 2 ? 2 : 1);
      results.push(JSON.parse(await readFile(file, 'utf8')) as BackendResult);
    }
  } catch (e) {
    throw e instanceof CliError ? e : new CliError(messageOf(e));
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
  return results;
}

// ---------------------------------------------------------------- report

/** This machine, for the report's header. */
function environment(): BenchEnvironment {
  const cpu = cpus();
  return { cpu: cpu[0]?.model ?? 'unknown CPU', cores: cpu.length, node: process.versions.node, tfjs: tf.version_core };
}

/** Largest saved report --render reads (a report is hundreds of KB). */
const MAX_REPORT_BYTES = 256 * 1024 ** 2;

/** The markdown of a saved JSON report (--render), or one line saying why the file is not one. */
async function renderSaved(file: string): Promise<string> {
  const bytes = await readBytes(file, 'bench --render file', MAX_REPORT_BYTES);
  const refuse = (why: string) => new CliError(`bench --render: ${file} is not a benchmark report: ${why}`);
  let text: string;
  try {
    text = new TextDecoder('utf-8', { fatal: true }).decode(bytes);
  } catch {
    throw refuse('it is not UTF-8 text');
  }
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    throw refuse(text.trim() === '' ? 'it is empty' : 'it is not valid JSON (truncated or not JSON)');
  }
  let report: BenchReport;
  try {
    report = checkBenchReport(value);
  } catch (e) {
    throw refuse(messageOf(e));
  }
  try {
    return renderReport(report, environment());
  } catch {
    throw refuse('a field holds a value of the wrong kind');
  }
}

/** The markdown report and its JSON, written as one output set (both or neither), keeping the marked end of the markdown. */
async function writeReport(set: OutputSet, out: string, jsonOut: string, report: BenchReport): Promise<void> {
  const previous = await readFile(out, 'utf8').catch(() => null);
  await set.bytes(out, new TextEncoder().encode(keepMarkedSection(renderReport(report, environment()), previous)));
  await set.bytes(jsonOut, new TextEncoder().encode(reportJson(report)));
  await set.commit();
}

export async function benchCommand(flags: BenchFlags): Promise<void> {
  if (!flags.workerBackend && !flags.out.toLowerCase().endsWith('.md')) {
    throw new UsageError(`--out ${flags.out}: the report is markdown; the file name must end in .md`);
  }
  if (flags.render) {
    // Re-render the report of saved measurements (e.g. after changing its wording), measuring nothing.
    const set = await outputSet([{ path: flags.out, flag: '--out' }], [{ path: flags.render, flag: '--render' }]);
    const previous = await readFile(flags.out, 'utf8').catch(() => null);
    await set.bytes(flags.out, new TextEncoder().encode(keepMarkedSection(await renderSaved(flags.render), previous)));
    await set.commit();
    emit(flags, { command: 'bench', out: resolve(flags.out) }, () => `wrote ${flags.out} from ${flags.render}`);
    return;
  }
  if (flags.workerBackend) {
    const result = await runWorker(flags.workerBackend, flags);
    if (!flags.workerOut) throw new UsageError('--worker-backend needs --worker-out');
    await writeFile(flags.workerOut, JSON.stringify(result));
    return;
  }
  const backends = flags.backends.split(',').map((s) => s.trim());
  for (const b of backends) {
    if (b !== 'webgpu' && b !== 'wasm' && b !== 'cpu') throw new UsageError(`--backends: unknown backend '${b}' (expected webgpu, wasm or cpu)`);
  }
  // Flag values the workers would refuse, refused here first (one line, exit 2, before any process starts).
  for (const b of backends) profileFromFlags(b, flags);
  const jsonOut = flags.jsonOut ?? flags.out.replace(/\.md$/i, '.json');
  if (flags.planningOnly) {
    const { planningSection, writePlanningSection } = await import('./bench-planning.js');
    await writePlanningSection(flags.out, jsonOut, await planningSection({ onProgress: (m) => note(`planning section: ${m}`) }));
    emit(flags, { command: 'bench', out: resolve(flags.out) }, () => `wrote the planning section into ${flags.out}`);
    return;
  }
  if (flags.referenceOnly) {
    await writeReferenceOnly(flags.out, jsonOut, await referenceSection(flags.reference, flags.checkpoint, referenceBatches(flags)));
    emit(flags, { command: 'bench', out: resolve(flags.out), json: resolve(jsonOut) }, () => `wrote the reference section into ${flags.out} and ${jsonOut}`);
    return;
  }
  // Checked before measuring: neither output may be the checkpoint or the other output.
  const outputs = await outputSet([{ path: flags.out, flag: '--out' }, { path: jsonOut, flag: '--json-out' }], flags.checkpoint ? [{ path: flags.checkpoint, flag: '--checkpoint' }] : []);
  const started = new Date();
  const load = loadavg();
  const results = await runWorkers(backends, flags);
  const reference = await referenceSection(flags.reference, flags.checkpoint, referenceBatches(flags));
  const report: BenchReport = { started: started.toISOString(), loadavg: load, environment: environment(), results, reference };
  await writeReport(outputs, flags.out, jsonOut, report);
  if (!flags.quick && flags.checkpoint === undefined) {
    // The planning section measures the default model as shipped, plans included.
    const { planningSection, writePlanningSection } = await import('./bench-planning.js');
    await writePlanningSection(flags.out, jsonOut, await planningSection({ onProgress: (m) => note(`planning section: ${m}`) }));
  }
  emit(flags, { command: 'bench', out: resolve(flags.out), json: resolve(jsonOut), results }, () => {
    const lines = [`wrote ${flags.out} and ${jsonOut}`];
    for (const r of results) {
      lines.push(`${r.backend}:`);
      for (const x of r.sideBySide) {
        lines.push(`  ${x.name.padEnd(40)} ${ms(x.wallMs).padStart(8)}  depth ${String(x.depth).padStart(4)}/${x.sequentialDepth}  speed-up ${x.speedup.toFixed(2)}×  depth ÷${x.depthReduction.toFixed(1)}  mean|Δ| ${sci(x.meanAbsDiff)}${x.fd !== undefined ? `  FD ${x.fd.toFixed(2)}` : ''}`);
      }
      for (const m of r.memory) lines.push(`  memory ${m.solver} batch ${m.batch}: ${Number.isFinite(m.maxRssBytes) ? mib(m.maxRssBytes) : 'failed'} (${m.ok ? 'under' : 'NOT under'} 1 GiB)`);
    }
    return lines.join('\n');
  });
}
