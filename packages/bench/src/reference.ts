/**
 * Our samplers beside the PyTorch references on one CPU thread: apple/ml-tarflow's
 * exact sequential inverse, and the GS-Jacobi paper's code (Liu & Qin 2025) for
 * its Jacobi and GS-Jacobi inverses — timed on the same model, noise and labels.
 *
 *     x = ε · temperature · √var;  per block  x_{t+1} = z_{t+1} · exp(α_t) + γ_t,
 *     (α, γ) = p_c + w · (p_c − p_u)   (guidance on both, not annealed, attention temperature 1)
 *
 * Our side runs each engine — the plain tfjs maps (TarFlow.samplingMap) and the
 * fused kernels (@tarflow/kernels' fusedBlockMap) — through the same solver
 * loop, block by block in sampling order, with the reference's Jacobi
 * semantics (clamp to [−3, 3], last-iteration caches, fixed iteration counts).
 * The reference side is scripts/reference-bench/reference_bench.py, run as a
 * child process on the same noise; its samples come back for the max |Δ| check
 * that makes the timings compare the same work.
 *
 *     pass cost = (wall / depth) / (sequential wall / sequential depth)
 */
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { seededNoise, tf, type ImageBatch, type PatchSeq } from '@tarflow/tensor';
import { scaleNoise, type GuidanceSettings, type TarFlow } from '@tarflow/model';
import {
  REFERENCE_SEMANTICS,
  chainFromMaps,
  runSync,
  solveBlockSteps,
  solveChainSteps,
  type BlockStrategy,
  type CausalAffineMap,
  type CausalChain,
  type SolveOptions,
} from '@tarflow/solvers';
import { fusedBlockMap, fusedSupport, type FusedBlockWeights } from '@tarflow/kernels';
import { f32Tensor, i64Tensor, parseSafetensors, serializeSafetensors, toFloat32, type RawTensor } from '@tarflow/checkpoint';
import { markdownTable, ms, sci } from './format.js';
import { median, passCost } from './measure.js';

/** Which network evaluation a row of ours ran on. */
export type Engine = 'plain' | 'fused';

/** What the comparison samples and how (the same for both sides). */
export interface ReferencePlan {
  batches: number[];
  repeats: number;
  guidance: GuidanceSettings;
  temperature: number;
  /** Plain-Jacobi iterations per block (fixed: no tolerance stop on either side). */
  jacobiIterations: number;
  /** Joint iterations of our joint solve (no reference counterpart). */
  jointIterations: number;
  /** The GS-Jacobi strategy, per block in sampling order, as the reference code's lists. */
  gsj: { num_gs: number[]; max_jacobi: number[]; guess: number[] };
  /** Per backend, the largest batch the iterative solvers are timed at (larger ones: the sequential loop only). */
  iterativeMaxBatch: Record<string, number>;
}

/** One engine on one backend at one batch: median wall times and depths of each solver. */
export interface OursRow {
  engine: Engine;
  backend: string;
  batch: number;
  sequentialMs: number;
  sequentialDepth: number;
  /** The iterative solvers' times and depths; absent where the plan's iterativeMaxBatch leaves them out. */
  jacobiMs?: number;
  jacobiDepth?: number;
  gsjMs?: number;
  gsjDepth?: number;
  jointMs?: number;
  jointDepth?: number;
  /** Largest |ours − reference| of the images (sequential, Jacobi, GS-Jacobi); absent without the reference's samples. */
  maxAbsDiff?: { sequential: number; jacobi?: number; gsj?: number };
}

/** What reference_bench.py prints for one batch. */
export interface TorchRow {
  batch: number;
  sequential_ms: number;
  gs_seq_ms?: number;
  gs_seq_max_abs_diff?: number;
  jacobi_ms?: number;
  jacobi_depth?: number;
  gsj_ms?: number;
  gsj_depth?: number;
}

export interface TorchResult {
  torch: string;
  threads: number;
  sdpa_polyfill: boolean;
  sequential_depth: number;
  batches: TorchRow[];
}

export interface ReferenceResult {
  started: string;
  loadavg: number[];
  plan: ReferencePlan;
  ours: OursRow[];
  torch: TorchResult;
  /** Engines or backends not measured, with why. */
  skipped: string[];
}

/** The report's section: measurements, or why there are none. */
export type ReferenceSection = ReferenceResult | { skipped: string };

/** Where the checkouts are: `dir` is an ml-tarflow checkout, or a folder holding `ml-tarflow/` and optionally `GS-Jacobi_for_TarFlow/`. */
export function referenceCheckouts(dir: string): { tarflow: string; gsJacobi?: string } {
  if (existsSync(join(dir, 'transformer_flow.py'))) return { tarflow: dir };
  const tarflow = join(dir, 'ml-tarflow');
  if (!existsSync(join(tarflow, 'transformer_flow.py'))) throw new Error(`${dir}: neither an ml-tarflow checkout nor a folder with ml-tarflow/ in it`);
  const gs = join(dir, 'GS-Jacobi_for_TarFlow');
  return { tarflow, gsJacobi: existsSync(join(gs, 'GS_Jacobi_sampling.py')) ? gs : undefined };
}

/** scripts/reference-bench/reference_bench.py of this repository (from src/ or dist/ alike). */
export function referenceScript(): string {
  return fileURLToPath(new URL('../../../scripts/reference-bench/reference_bench.py', import.meta.url));
}

/** The default plan for a model: its recommended guidance and temperature; GS-Jacobi on the first sampled block, Jacobi elsewhere. */
export function defaultReferencePlan(model: TarFlow, batches = [1, 8, 64]): ReferencePlan {
  const L = model.blocks.length;
  const T = model.tokens;
  const r = model.recommended;
  const guidance = r?.guidance ? { ...r.guidance } : { scale: 0 };
  // Modules of equal length: the reference code's last module is [T − s + 1, T − 1], which leaves a gap unless G divides T.
  const G = [7, 6, 4, 3, 2].find((g) => T % g === 0 && g < T) ?? 1;
  return {
    batches,
    repeats: 3,
    guidance,
    temperature: r?.temperature ?? 1,
    jacobiIterations: 4,
    jointIterations: 6,
    gsj: { num_gs: [G, ...Array(L - 1).fill(1)], max_jacobi: [2, ...Array(L - 1).fill(4)], guess: Array(L).fill(0) },
    // tfjs' cpu backend is plain JavaScript: a batch-64 pass is seconds, and the table needs dozens per solver.
    iterativeMaxBatch: { cpu: 8 },
  };
}

/** The plan's GS-Jacobi lists as our block strategies (tolerance 0: every iteration runs). */
export function gsjStrategies(plan: ReferencePlan, tokens: number): BlockStrategy[] {
  return plan.gsj.num_gs.map((g, k) =>
    g === 0 || g === tokens
      ? { kind: 'sequential' }
      : { kind: 'jacobi', modules: g, maxIterations: plan.gsj.max_jacobi[k], tolerance: 0, guess: plan.gsj.guess[k] ? 'zeros' : 'noise' },
  );
}

/** Block `index` of a model as fused weights (its position embedding in sampling order); `owned` are the tensors made here. */
function blockWeights(model: TarFlow, index: number): { weights: FusedBlockWeights; owned: tf.Tensor[] } {
  const b = model.blocks[index];
  const pos = b.flip ? tf.reverse(b.posEmbed, 0) : tf.clone(b.posEmbed);
  return { weights: { projIn: b.projIn, posEmbed: pos, classEmbed: b.classEmbed, layers: b.layers, projOut: b.projOut }, owned: [pos] };
}

/** The per-block maps of one engine, in sampling order (index k is block L − 1 − k), and what to dispose. */
function engineMaps(model: TarFlow, engine: Engine, labels: tf.Tensor1D | undefined, guidance: GuidanceSettings): { maps: CausalAffineMap<unknown>[]; owned: tf.Tensor[] } {
  const L = model.blocks.length;
  const owned: tf.Tensor[] = [];
  const maps = Array.from({ length: L }, (_, k) => {
    const index = L - 1 - k;
    if (engine === 'plain') return model.samplingMap(index, labels, guidance, 'plain');
    const w = blockWeights(model, index);
    owned.push(...w.owned);
    return fusedBlockMap(w.weights, { heads: model.heads, labels, guidance }) as CausalAffineMap<unknown>;
  });
  return { maps, owned };
}

const SOLVE: SolveOptions = { ...REFERENCE_SEMANTICS, divergence: false };

/** Samples through `maps` block by block with one strategy per block; returns the images and the depth. */
function sampleBlocks(model: TarFlow, maps: CausalAffineMap<unknown>[], noise: PatchSeq, temperature: number, strategies: BlockStrategy[]): { images: ImageBatch; depth: number } {
  const L = model.blocks.length;
  let x = scaleNoise(model, noise, temperature);
  let depth = 0;
  for (let k = 0; k < L; k++) {
    const index = L - 1 - k;
    const z = model.permuteForBlock(index, x);
    x.dispose();
    const r = runSync(solveBlockSteps(maps[k], z, strategies[k], SOLVE));
    x = model.permuteForBlock(index, r.x);
    tf.dispose([z, r.x]);
    depth += r.report.depth;
  }
  const images = model.unpatchify(x);
  x.dispose();
  return { images, depth };
}

/** Samples by a joint solve of all blocks, `iterations` joint iterations from the noise guess. */
function sampleJoint(model: TarFlow, chain: CausalChain, noise: PatchSeq, temperature: number, iterations: number): { images: ImageBatch; depth: number } {
  const L = model.blocks.length;
  const scaled = scaleNoise(model, noise, temperature);
  const z = model.permuteForBlock(L - 1, scaled);
  scaled.dispose();
  const r = runSync(solveChainSteps(chain, z, { kind: 'joint', maxIterations: iterations, tolerance: 0, guess: 'noise' }));
  z.dispose();
  const images = tf.tidy(() => model.unpatchify(model.permuteForBlock(0, r.x)));
  r.x.dispose();
  return { images, depth: r.report.depth };
}

/** A macrotask: lets the event loop run between timed runs (never inside one). */
const breathe = () => new Promise<void>((resolve) => setTimeout(resolve, 0));

/** Median wall time of `repeats` runs after a warm-up; keeps the last run's images. */
async function timeRuns(repeats: number, run: () => { images: ImageBatch; depth: number }): Promise<{ ms: number; depth: number; images: ImageBatch }> {
  await breathe();
  run().images.dispose();
  const times: number[] = [];
  let last: { images: ImageBatch; depth: number } | null = null;
  for (let i = 0; i < repeats; i++) {
    await breathe();
    const t0 = performance.now();
    const r = run();
    r.images.dataSync();
    times.push(performance.now() - t0);
    last?.images.dispose();
    last = r;
  }
  return { ms: median(times), ...last! };
}

/** The noise and labels of batch B: `seededNoise(0, …)` as `tarflow sample --seed 0`, classes in turn. */
export function referenceInputs(model: TarFlow, batch: number): { noise: PatchSeq; labels: tf.Tensor1D | undefined } {
  const idx = Array.from({ length: batch }, (_, i) => i);
  const K = model.config.num_classes;
  return { noise: seededNoise(0, idx, model.tokens, model.patchDim) as PatchSeq, labels: K > 0 ? tf.tensor1d(idx.map((i) => i % K), 'int32') : undefined };
}

/**
 * Times one engine on the current backend at every batch of the plan: the
 * sequential loop, plain Jacobi, the GS-Jacobi strategy and our joint solve.
 * `images` receives each batch's images per solver (borrowed during the call).
 */
export async function benchOurs(
  model: TarFlow,
  engine: Engine,
  plan: ReferencePlan,
  images?: (batch: number, solver: 'sequential' | 'jacobi' | 'gsj', x: ImageBatch) => void,
): Promise<OursRow[]> {
  const backend = tf.getBackend();
  if (engine === 'fused') {
    const s = fusedSupport(backend);
    if (!s.ok) throw new Error(s.reason);
  }
  const L = model.blocks.length;
  const seq: BlockStrategy[] = Array(L).fill({ kind: 'sequential' });
  const jac: BlockStrategy[] = Array(L).fill({ kind: 'jacobi', modules: 1, maxIterations: plan.jacobiIterations, tolerance: 0, guess: 'noise' });
  const gsj = gsjStrategies(plan, model.tokens);
  const rows: OursRow[] = [];
  for (const B of plan.batches) {
    const { noise, labels } = referenceInputs(model, B);
    const { maps, owned } = engineMaps(model, engine, labels, plan.guidance);
    const plainChain = model.samplingChain(labels, plan.guidance, 'plain');
    const chain = engine === 'plain' ? plainChain : chainFromMaps(maps, (k, x) => plainChain.link(k, x));
    try {
      const s = await timeRuns(plan.repeats, () => sampleBlocks(model, maps, noise, plan.temperature, seq));
      images?.(B, 'sequential', s.images);
      s.images.dispose();
      const row: OursRow = { engine, backend, batch: B, sequentialMs: s.ms, sequentialDepth: s.depth };
      if (B <= (plan.iterativeMaxBatch[backend] ?? Infinity)) {
        const j = await timeRuns(plan.repeats, () => sampleBlocks(model, maps, noise, plan.temperature, jac));
        images?.(B, 'jacobi', j.images);
        j.images.dispose();
        const g = await timeRuns(plan.repeats, () => sampleBlocks(model, maps, noise, plan.temperature, gsj));
        images?.(B, 'gsj', g.images);
        g.images.dispose();
        const jt = await timeRuns(plan.repeats, () => sampleJoint(model, chain, noise, plan.temperature, plan.jointIterations));
        jt.images.dispose();
        Object.assign(row, { jacobiMs: j.ms, jacobiDepth: j.depth, gsjMs: g.ms, gsjDepth: g.depth, jointMs: jt.ms, jointDepth: jt.depth });
      }
      rows.push(row);
    } finally {
      plainChain.dispose();
      tf.dispose([noise, labels ?? [], ...owned]);
    }
  }
  return rows;
}

/** The plan's noise and labels for every batch, as the safetensors reference_bench.py reads (--inputs). */
export function referenceInputsFile(model: TarFlow, plan: ReferencePlan): Uint8Array {
  const tensors: Record<string, RawTensor> = {};
  for (const B of plan.batches) {
    const { noise, labels } = referenceInputs(model, B);
    tensors[`noise_b${B}`] = f32Tensor(noise.shape, noise.dataSync() as Float32Array);
    tensors[`labels_b${B}`] = i64Tensor([B], labels ? Array.from(labels.dataSync()) : Array(B).fill(-1));
    tf.dispose([noise, labels ?? []]);
  }
  return serializeSafetensors(tensors);
}

/** Runs reference_bench.py on the plan (one torch thread); resolves with its JSON and its samples by name. */
export async function runReference(options: {
  checkouts: { tarflow: string; gsJacobi?: string };
  checkpoint: string;
  model: TarFlow;
  plan: ReferencePlan;
  python?: string;
  script?: string;
}): Promise<{ result: TorchResult; samples: Map<string, { shape: number[]; data: Float32Array }> }> {
  const dir = await mkdtemp(join(tmpdir(), 'tarflow-reference-'));
  try {
    const inputs = join(dir, 'inputs.safetensors');
    const out = join(dir, 'samples.safetensors');
    await writeFile(inputs, referenceInputsFile(options.model, options.plan));
    const p = options.plan;
    const args = [
      options.script ?? referenceScript(),
      '--tarflow', options.checkouts.tarflow,
      ...(options.checkouts.gsJacobi ? ['--gs-jacobi', options.checkouts.gsJacobi] : []),
      '--checkpoint', options.checkpoint, '--inputs', inputs, '--out-samples', out,
      '--batches', p.batches.join(','), '--repeats', String(p.repeats),
      '--guidance', String(p.guidance.scale), '--temperature', String(p.temperature),
      '--jacobi-iters', String(p.jacobiIterations), '--gsj', JSON.stringify(p.gsj), '--threads', '1',
    ];
    const stdout = await new Promise<string>((resolve, reject) => {
      // One thread in the BLAS and OpenMP pools too, whatever torch.set_num_threads leaves to them.
      const env = { ...process.env, OMP_NUM_THREADS: '1', MKL_NUM_THREADS: '1', OPENBLAS_NUM_THREADS: '1' };
      const child = spawn(options.python ?? 'python3', args, { stdio: ['ignore', 'pipe', 'pipe'], env });
      let so = '';
      let se = '';
      child.stdout.on('data', (d) => (so += d));
      child.stderr.on('data', (d) => (se += d));
      child.on('error', reject);
      child.on('close', (code) => (code === 0 ? resolve(so) : reject(new Error(`reference_bench.py exited with ${code}: ${se.trim().split('\n').slice(-3).join(' | ')}`))));
    });
    const file = parseSafetensors(new Uint8Array(await readFile(out)));
    const samples = new Map([...file.tensors].map(([name, t]) => [name, { shape: t.shape, data: toFloat32(t, name) }]));
    return { result: JSON.parse(stdout) as TorchResult, samples };
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

/** Largest |a − b| of an image batch against a reference sample of the same shape. */
export function maxAbsDiffTo(images: ImageBatch, ref: { shape: number[]; data: Float32Array }): number {
  if (images.shape.join() !== ref.shape.join()) throw new Error(`shapes differ: [${images.shape}] vs [${ref.shape}]`);
  const x = images.dataSync();
  let worst = 0;
  for (let i = 0; i < x.length; i++) {
    const d = Math.abs(x[i] - ref.data[i]);
    if (!(d <= worst)) worst = Number.isNaN(d) ? Infinity : d;
  }
  return worst;
}

/** The engines and backends of our side, in the order they are timed. */
export const REFERENCE_ENGINES: ReadonlyArray<{ engine: Engine; backend: 'wasm' | 'cpu' }> = [
  { engine: 'plain', backend: 'wasm' },
  { engine: 'fused', backend: 'wasm' },
  { engine: 'fused', backend: 'cpu' },
];

/**
 * The whole comparison in one run: the reference first (a child process),
 * then each of our engines on its backend (`useBackend` switches; `loadModel`
 * loads the model from `checkpoint` on the backend at hand), each image batch
 * checked against the reference's samples from the same noise.
 */
export async function benchReference(options: {
  checkouts: { tarflow: string; gsJacobi?: string };
  checkpoint: string;
  loadModel: () => TarFlow;
  useBackend: (name: 'wasm' | 'cpu') => Promise<void>;
  plan?: (model: TarFlow) => ReferencePlan;
  python?: string;
  loadavg?: number[];
  progress?: (line: string) => void;
}): Promise<ReferenceResult> {
  const started = new Date().toISOString();
  await options.useBackend(REFERENCE_ENGINES[0].backend);
  let model = options.loadModel();
  const plan = (options.plan ?? defaultReferencePlan)(model);
  options.progress?.('reference: timing the PyTorch samplers (one thread)');
  const { result: torch, samples } = await runReference({ checkouts: options.checkouts, checkpoint: options.checkpoint, model, plan, python: options.python });
  model.dispose();
  const ours: OursRow[] = [];
  const skipped: string[] = [];
  for (const { engine, backend } of REFERENCE_ENGINES) {
    await options.useBackend(backend);
    const support = engine === 'fused' ? fusedSupport(backend) : { ok: true as const };
    if (!support.ok) {
      skipped.push(`${engine} on ${backend}: ${support.reason}`);
      continue;
    }
    options.progress?.(`reference: timing ours, ${engine} on ${backend}`);
    model = options.loadModel();
    const diffs = new Map<number, NonNullable<OursRow['maxAbsDiff']>>();
    try {
      const rows = await benchOurs(model, engine, plan, (B, solver, images) => {
        const ref = samples.get(`${solver}_b${B}`);
        if (!ref) return;
        const d = diffs.get(B) ?? { sequential: NaN };
        d[solver] = maxAbsDiffTo(images, ref);
        diffs.set(B, d);
      });
      for (const row of rows) ours.push({ ...row, maxAbsDiff: diffs.get(row.batch) });
    } finally {
      model.dispose();
    }
  }
  return { started, loadavg: options.loadavg ?? [], plan, ours, torch, skipped };
}

// ---------------------------------------------------------------- report

const x2 = (a: number, b: number | undefined) => (b === undefined || !Number.isFinite(b) || b <= 0 ? '–' : `${(a / b).toFixed(2)}×`);
const label = (r: OursRow) => `ours ${r.engine} (${r.backend})`;

/** The start of the section's heading: what finds the section in a written report (`--reference-only` replaces it). */
export const REFERENCE_HEAD = '## Against the PyTorch references';

/** The markdown section: sequential wall times against torch, then Jacobi and GS-Jacobi pass costs and times. */
export function renderReferenceSection(section: ReferenceSection): string {
  const head = `${REFERENCE_HEAD} (one CPU thread)`;
  if ('skipped' in section && typeof section.skipped === 'string') {
    return [head, '', `Skipped: ${section.skipped}`, ''].join('\n');
  }
  const r = section as ReferenceResult;
  const p = r.plan;
  const t = r.torch;
  const torchAt = (B: number) => t.batches.find((x) => x.batch === B);
  const g = p.guidance;
  const lines = [
    head,
    '',
    `Measured ${r.started.slice(0, 16).replace('T', ' ')} UTC, load average at the start ${r.loadavg.map((x) => x.toFixed(1)).join(' / ')} (a shared machine: read the ratios, measured side by side in one run). ` +
      `The default model; guidance ${g.scale} on α and γ${g.annealed ? ' (annealed)' : ''}, temperature ${p.temperature}; the same noise and labels on both sides (\`seededNoise(0, …)\`, classes in turn). ` +
      `Reference: apple/ml-tarflow \`Model.reverse\` (guide_what 'ab') and the GS-Jacobi paper's \`GS_Jacobi_sampling.Model.reverse\`, PyTorch ${t.torch} (Debian), \`torch.set_num_threads(${t.threads})\`` +
      `${t.sdpa_polyfill ? ' (this torch predates `scaled_dot_product_attention`; the script supplies its math)' : ''}. ` +
      `Ours: Node's wasm backend runs one thread; tfjs' cpu backend is plain JavaScript. Wall time is the median of ${p.repeats} runs after a warm-up. ` +
      'Run with `scripts/reference-bench.sh` (or `tarflow bench --reference <dir>`).',
    '',
    '### Exact sequential sampler',
    '',
  ];
  const batches = p.batches;
  const engines = [...new Set(r.ours.map(label))];
  lines.push(
    markdownTable(
      ['batch', 'torch (ml-tarflow)', ...engines, ...engines.map((e) => `${e} ÷ torch`), 'max \\|Δ\\| vs torch'],
      batches.map((B) => {
        const rows = engines.map((e) => r.ours.find((x) => label(x) === e && x.batch === B));
        const tb = torchAt(B);
        const diffs = rows.map((x) => x?.maxAbsDiff?.sequential).filter((x): x is number => x !== undefined);
        return [
          String(B),
          tb ? ms(tb.sequential_ms) : '–',
          ...rows.map((x) => (x ? ms(x.sequentialMs) : '–')),
          ...rows.map((x) => (x && tb ? x2(x.sequentialMs, tb.sequential_ms) : '–')),
          diffs.length ? sci(Math.max(...diffs)) : '–',
        ];
      }),
      ['r', 'r', ...engines.map(() => 'r' as const), ...engines.map(() => 'r' as const), 'r'],
    ),
    '',
    '"÷ torch" is our wall time over the reference\'s (below 1: ours is faster). Max |Δ| is over all images of the batch and all our engines (pixel range [-1, 1]).',
    '',
    '### Jacobi, GS-Jacobi and the joint solve: pass cost in sequential steps',
    '',
  );
  const hasGs = t.batches.some((x) => x.jacobi_ms !== undefined);
  const gsjText = p.gsj.num_gs.map((n, k) => (n === 1 ? `J${p.gsj.max_jacobi[k]}` : `GS${n}×${p.gsj.max_jacobi[k]}`)).join(' ');
  const rowsFor = (B: number) => {
    const out: string[][] = [];
    const tb = torchAt(B);
    if (tb && hasGs && tb.gs_seq_ms !== undefined) {
      const sd = t.sequential_depth;
      out.push([
        String(B), 'torch (GS-Jacobi code)', ms(tb.gs_seq_ms),
        tb.jacobi_ms !== undefined ? `${ms(tb.jacobi_ms)} (${passCost(tb.jacobi_ms, tb.jacobi_depth!, tb.gs_seq_ms, sd).toFixed(1)})` : '–',
        tb.gsj_ms !== undefined ? `${ms(tb.gsj_ms)} (${passCost(tb.gsj_ms, tb.gsj_depth!, tb.gs_seq_ms, sd).toFixed(1)})` : '–',
        '–', '–', '–',
      ]);
    }
    for (const x of r.ours.filter((y) => y.batch === B)) {
      const cell = (w?: number, d?: number) => (w === undefined || d === undefined ? '–' : `${ms(w)} (${passCost(w, d, x.sequentialMs, x.sequentialDepth).toFixed(1)})`);
      out.push([
        String(B), label(x), ms(x.sequentialMs),
        cell(x.jacobiMs, x.jacobiDepth),
        cell(x.gsjMs, x.gsjDepth),
        cell(x.jointMs, x.jointDepth),
        tb?.jacobi_ms !== undefined && x.jacobiMs !== undefined ? x2(x.jacobiMs, tb.jacobi_ms) : '–',
        tb?.gsj_ms !== undefined && x.gsjMs !== undefined ? x2(x.gsjMs, tb.gsj_ms) : '–',
      ]);
    }
    return out;
  };
  const ours0 = r.ours[0];
  lines.push(
    markdownTable(
      ['batch', 'sampler', 'sequential', `Jacobi J${p.jacobiIterations} (pass cost)`, `GS-Jacobi \`${gsjText}\` (pass cost)`, `joint:${p.jointIterations} (pass cost)`, 'Jacobi ÷ torch', 'GS-Jacobi ÷ torch'],
      batches.flatMap(rowsFor),
      ['r', 'l', 'r', 'r', 'r', 'r', 'r', 'r'],
    ),
    '',
    `Depths: sequential ${ours0?.sequentialDepth ?? t.sequential_depth}, Jacobi ${ours0?.jacobiDepth ?? '–'}, GS-Jacobi ${ours0?.gsjDepth ?? '–'}, joint ${ours0?.jointDepth ?? '–'} dependent evaluations ` +
      '(fixed iteration counts on both sides, no early stop; the reference\'s clamp to [−3, 3] and its module caches). The pass cost is the wall time of one dependent evaluation in units of one step of the same sampler\'s sequential loop ' +
      '(for the reference, the GS-Jacobi code\'s own sequential mode); the joint solve has no reference counterpart.',
  );
  const jd = r.ours.map((x) => x.maxAbsDiff?.jacobi).filter((x): x is number => x !== undefined);
  const gd = r.ours.map((x) => x.maxAbsDiff?.gsj).filter((x): x is number => x !== undefined);
  const sd = t.batches.map((x) => x.gs_seq_max_abs_diff).filter((x): x is number => x !== undefined);
  if (jd.length || gd.length) {
    lines.push(
      '',
      `Same work: max |Δ| of our Jacobi images against the reference's ${sci(Math.max(...jd))}, of GS-Jacobi ${gd.length ? sci(Math.max(...gd)) : '–'}` +
        `${sd.length ? `; the GS-Jacobi code's sequential mode against ml-tarflow's ${sci(Math.max(...sd))}` : ''}.`,
    );
  }
  const limits = Object.entries(p.iterativeMaxBatch).filter(([b, n]) => r.ours.some((x) => x.backend === b && x.batch > n));
  for (const [b, n] of limits) lines.push('', `On ${b} the iterative solvers are timed up to batch ${n} only (larger batches: the sequential loop).`);
  if (r.skipped.length) lines.push('', `Not measured: ${r.skipped.join('; ')}.`);
  lines.push('');
  return lines.join('\n');
}
