/**
 * Entry of the GPU benchmark bundle (built by scripts/gpu-bench-prepare.sh,
 * run by scripts/gpu-bench.sh): sets up the backend, times the sampling
 * strategies on the fixture model tiny-cond, on every model in
 * <bundle>/models and on each --model given, runs the reference conformance
 * cases of <bundle>/fixtures, and writes results.json and results.md. The
 * measuring and the report are @tarflow/bench (benchCheckpoint, benchPlanner,
 * renderGpuMarkdown); the conformance cases are
 * packages/webgpu-tests/src/conformance.ts. A checkpoint that is not a
 * TarFlow model (e.g. the zoo's classifier) is listed as skipped, with why.
 *
 * On every trained model (those of <bundle>/models and --model, not the
 * fixture) it then runs the planner (benchPlanner): the plans of objective
 * `time` (timed on this backend) and `depth` against the sequential sampler at
 * --planner-batch, guidance --planner-guidance, temperature
 * --planner-temperature, and writes --fd-batch samples per strategy to
 * planner-images.safetensors for the Fréchet distance
 * (studies/images-fd.ts). The conformance cases come last.
 *
 *   node bench.mjs [--out DIR] [--model PATH]... [--backend webgpu|wasm|cpu|auto] [--repeats N]
 *                  [--batch B] [--strategies 'sequential;jacobi:8;[0-4-8-8]']
 *                  [--seed S] [--guidance W] [--budget-s S] [--async] [--no-conformance] [--dry]
 *                  [--no-planner] [--planner-batch B] [--planner-guidance W] [--planner-temperature T] [--fd-batch N]
 *                  [--engine auto|fused|plain]
 *
 * --async: sample with model.sampleAsync (awaited reads) instead of model.sample.
 * --engine: the sampling engine of the timed strategies (default: the model's 'auto', fused where supported);
 * two runs, `--engine fused` and `--engine plain` (with --no-planner --no-conformance), compare them per
 * block-step: median ms ÷ depth of the sequential row.
 * --dry: report whether a WebGPU adapter exists and exit 0 either way; with
 * an adapter, also time two strategies once on the first model.
 * Exit codes: 0 done, 3 no adapter (without --dry), 1 error.
 */
import { existsSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { basename, dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { CheckpointError, serializeSafetensors } from '@tarflow/checkpoint';
import { loadModel, type SamplingEngine } from '@tarflow/model';
import { BackendUnavailableError, describeSelection, parseBackendPreference, selectBackend } from '@tarflow/backends';
import {
  benchCheckpoint,
  benchPlanner,
  DEFAULT_STRATEGIES,
  renderGpuMarkdown,
  type GpuBenchReport,
  type ModelBenchOptions,
  type PlannerImages,
} from '@tarflow/bench';
import { conformance } from '../../packages/webgpu-tests/src/conformance.js';

const USAGE =
  'usage: bench.mjs [--out DIR] [--model PATH]... [--backend webgpu|wasm|cpu|auto] [--repeats N] [--batch B] ' +
  "[--strategies 'a;b;c'] [--seed S] [--guidance W] [--budget-s S] [--async] [--no-conformance] [--dry] " +
  '[--no-planner] [--planner-batch B] [--planner-guidance W] [--planner-temperature T] [--fd-batch N] [--engine auto|fused|plain]';

interface Args {
  out: string;
  models: string[];
  backend: string;
  repeats: number;
  batch: number;
  strategies: string[];
  seed: number;
  guidance: number;
  budgetS: number;
  conformance: boolean;
  asyncReads: boolean;
  dry: boolean;
  planner: boolean;
  plannerBatch: number;
  plannerGuidance: number;
  plannerTemperature: number;
  fdBatch: number;
  engine?: SamplingEngine;
}

function parseArgs(argv: string[]): Args {
  const a: Args = {
    out: 'gpu-bench-results',
    models: [],
    backend: 'webgpu',
    repeats: 3,
    batch: 4,
    strategies: DEFAULT_STRATEGIES,
    seed: 0,
    guidance: 0,
    budgetS: 400,
    conformance: true,
    asyncReads: false,
    dry: false,
    planner: true,
    plannerBatch: 8,
    plannerGuidance: 3,
    plannerTemperature: 0.5,
    fdBatch: 64,
  };
  const num = (flag: string, v: string | undefined, min: number): number => {
    const n = Number(v);
    if (v === undefined || !Number.isFinite(n) || n < min) throw new Error(`${flag} needs a number >= ${min}, got ${JSON.stringify(v)}\n${USAGE}`);
    return n;
  };
  for (let i = 0; i < argv.length; i++) {
    const f = argv[i];
    const v = argv[i + 1];
    switch (f) {
      case '--out': a.out = v ?? a.out; i++; break;
      case '--model': if (!v) throw new Error(`--model needs a path\n${USAGE}`); a.models.push(v); i++; break;
      case '--backend': a.backend = parseBackendPreference(v ?? ''); i++; break;
      case '--repeats': a.repeats = Math.floor(num(f, v, 1)); i++; break;
      case '--batch': a.batch = Math.floor(num(f, v, 1)); i++; break;
      case '--strategies': a.strategies = (v ?? '').split(';').map((s) => s.trim()).filter(Boolean); i++; break;
      case '--seed': a.seed = Math.floor(num(f, v, 0)); i++; break;
      case '--guidance': a.guidance = num(f, v, 0); i++; break;
      case '--budget-s': a.budgetS = num(f, v, 1); i++; break;
      case '--no-conformance': a.conformance = false; break;
      case '--async': a.asyncReads = true; break;
      case '--dry': a.dry = true; break;
      case '--no-planner': a.planner = false; break;
      case '--planner-batch': a.plannerBatch = Math.floor(num(f, v, 1)); i++; break;
      case '--planner-guidance': a.plannerGuidance = num(f, v, 0); i++; break;
      case '--planner-temperature': a.plannerTemperature = num(f, v, 1e-6); i++; break;
      case '--fd-batch': a.fdBatch = Math.floor(num(f, v, 0)); i++; break;
      case '--engine':
        if (v !== 'auto' && v !== 'fused' && v !== 'plain') throw new Error(`--engine must be auto, fused or plain, got ${JSON.stringify(v)}\n${USAGE}`);
        a.engine = v;
        i++;
        break;
      default: throw new Error(`unknown argument ${JSON.stringify(f)}\n${USAGE}`);
    }
  }
  return a;
}

function readFixtures(dir: string) {
  if (!existsSync(dir)) return [];
  return readdirSync(dir)
    .filter((f) => f.endsWith('.json'))
    .sort()
    .map((f) => {
      const name = f.slice(0, -5);
      return {
        name,
        spec: JSON.parse(readFileSync(join(dir, f), 'utf8')),
        checkpoint: new Uint8Array(readFileSync(join(dir, `${name}.safetensors`))),
        expected: new Uint8Array(readFileSync(join(dir, `${name}.expected.safetensors`))),
      };
    });
}

async function main(): Promise<number> {
  const started = Date.now();
  const args = parseArgs(process.argv.slice(2));
  const bundle = dirname(fileURLToPath(import.meta.url));
  const log = (l: string) => console.log(l);
  mkdirSync(args.out, { recursive: true });
  const report: GpuBenchReport = {
    status: 'ok',
    backend: args.backend,
    backendDetail: '',
    notes: [],
    node: process.version,
    startedAt: new Date(started).toISOString(),
    wallS: 0,
    options: { repeats: args.repeats, batch: args.batch, strategies: args.strategies, seed: args.seed, guidance: args.guidance, asyncReads: args.asyncReads, ...(args.engine ? { engine: args.engine } : {}) },
    models: [],
    skippedModels: [],
    conformance: [],
    planner: [],
  };
  const save = () => {
    report.wallS = (Date.now() - started) / 1000;
    writeFileSync(join(args.out, 'results.json'), `${JSON.stringify(report, null, 2)}\n`);
    writeFileSync(join(args.out, 'results.md'), renderGpuMarkdown(report));
  };

  try {
    return await run(args, bundle, report, save, started, log);
  } catch (e) {
    report.status = 'error';
    report.reason = (e as Error).message;
    save();
    throw e;
  }
}

async function run(
  args: Args,
  bundle: string,
  report: GpuBenchReport,
  save: () => void,
  started: number,
  log: (l: string) => void,
): Promise<number> {
  try {
    const sel = await selectBackend(args.backend as Parameters<typeof selectBackend>[0], { wasmDir: join(bundle, 'wasm') });
    report.backend = sel.name;
    report.backendDetail = sel.detail;
    report.notes = [...sel.notes, ...sel.skipped.map((s) => `${s.name} not used: ${s.reason}`)];
    log(describeSelection(sel));
  } catch (e) {
    if (!(e instanceof BackendUnavailableError)) throw e;
    report.status = 'no-adapter';
    report.reason = e.message;
    save();
    log(`gpu-bench: ${e.message}`);
    log(args.dry ? 'gpu-bench --dry: the bundle runs; this machine has no usable adapter for that backend.' : 'gpu-bench: nothing was timed.');
    return args.dry ? 0 : 3;
  }

  const modelsDir = join(bundle, 'models');
  const models = [
    join(bundle, 'fixtures', 'tiny-cond.safetensors'),
    ...(existsSync(modelsDir) ? readdirSync(modelsDir).filter((f) => f.endsWith('.safetensors')).sort().map((f) => join(modelsDir, f)) : []),
    ...args.models,
  ].filter((f, i, all) => all.indexOf(f) === i);
  for (const f of models) if (!existsSync(f)) throw new Error(`model ${f} not found`);
  // The budget's first part times the strategies, the next the planner, the rest the conformance cases.
  const strategyShare = args.planner ? 0.3 : 0.75;
  const plannerShare = 0.8;
  const o: ModelBenchOptions = {
    repeats: args.dry ? 1 : args.repeats,
    batch: args.batch,
    strategies: args.dry ? args.strategies.slice(0, 2) : args.strategies,
    seed: args.seed,
    guidance: args.guidance,
    asyncReads: args.asyncReads,
    engine: args.engine,
    deadline: started + strategyShare * args.budgetS * 1000,
    log,
  };
  for (const f of args.dry ? models.slice(0, 1) : models) {
    const name = basename(f).replace(/\.safetensors$/, '');
    log(`model ${name} (${f})`);
    try {
      report.models.push(await benchCheckpoint(name, new Uint8Array(readFileSync(f)), o));
    } catch (e) {
      if (!(e instanceof CheckpointError)) throw e;
      report.skippedModels.push({ model: name, reason: e.message });
      log(`  skipped: ${e.message}`);
    }
    save();
  }
  if (args.planner && !args.dry) {
    // Trained models only: the fixture's random weights say nothing about plans.
    const trained = models.slice(1).filter((f) => !report.skippedModels.some((m) => m.model === basename(f).replace(/\.safetensors$/, '')));
    const tensors: Record<string, { dtype: 'F32' | 'I32'; shape: number[]; data: Uint8Array }> = {};
    const bytes = (a: Float32Array | Int32Array) => new Uint8Array(a.buffer, a.byteOffset, a.byteLength);
    for (const f of trained) {
      const name = basename(f).replace(/\.safetensors$/, '');
      log(`planner on ${name}`);
      const model = loadModel(new Uint8Array(readFileSync(f)));
      let images: PlannerImages | null = null;
      try {
        const r = await benchPlanner(name, model, {
          batch: args.plannerBatch,
          fdBatch: args.fdBatch,
          guidance: args.plannerGuidance,
          temperature: args.plannerTemperature,
          seed: args.seed,
          repeats: args.repeats,
          deadline: started + plannerShare * args.budgetS * 1000,
          log,
        });
        report.planner.push(r.bench);
        images = r.images;
      } finally {
        model.dispose();
      }
      if (images) {
        tensors[`${name}.labels`] = { dtype: 'I32', shape: [images.labels.length], data: bytes(images.labels) };
        for (const [row, values] of Object.entries(images.images)) tensors[`${name}.${row}`] = { dtype: 'F32', shape: images.shape, data: bytes(values) };
        writeFileSync(join(args.out, 'planner-images.safetensors'), serializeSafetensors(tensors, { backend: report.backend, detail: report.backendDetail }));
      }
      save();
    }
  }
  if (args.conformance && !args.dry) {
    for (const fx of readFixtures(join(bundle, 'fixtures'))) {
      report.conformance.push(...(await conformance(fx, started + args.budgetS * 1000, log)));
      save();
    }
    if (report.conformance.some((c) => !c.ok)) report.notes.push('some conformance cases are outside the fixture tolerance on this backend');
  }
  save();
  log(`gpu-bench: wrote ${join(args.out, 'results.json')} and results.md (${report.wallS.toFixed(0)} s)`);
  return 0;
}

main().then(
  (code) => process.exit(code),
  (e) => {
    console.error(`gpu-bench: ${(e as Error).stack ?? e}`);
    process.exit(1);
  },
);
