/**
 * The sampling worker: owns tfjs, the backend and the model, and answers the
 * page's requests (protocol.ts) by calling the libraries. TarFlow.sample is
 * synchronous; running it here keeps the page responsive, and onBlock posts
 * each finished block to the page as it happens.
 */
import { seededNoise, tf, type ImageBatch } from '@tarflow/tensor';
import { selectBackend } from '@tarflow/backends';
import { parseSafetensors } from '@tarflow/checkpoint';
import { modelFromSafetensors, type SampleResult as ModelSampleResult, type TarFlow } from '@tarflow/model';
import { convergenceMetrics, resolveStrategy, sampleQuality, type Plan } from '@tarflow/metrics';
import { formatStrategy, isJointStrategy, isSequentialStrategy, sequentialStrategy, type GuessTable, type SamplingStrategy } from '@tarflow/solvers';
import type {
  BackendInfo,
  CompareResult,
  Images,
  MetricsResult,
  ModelInfo,
  PlanSummary,
  Progress,
  Reply,
  Request,
  SampleResult,
  SampleSettings,
} from './protocol.js';
import { bridgedPlanStore } from './plan-store.js';

const port = self as unknown as {
  postMessage(message: Reply, transfer?: Transferable[]): void;
  onmessage: ((e: MessageEvent<{ id: number; request: Request }>) => void) | null;
};

let model: TarFlow | null = null;
let modelFile: { name: string; bytes: Uint8Array; metadata: Record<string, string> } | null = null;
let modelVersion = 0;
/** Raw exact samples of the last sequential run, for CRM/IGM. */
let exact: { key: string; images: ImageBatch } | null = null;
/**
 * Plans by weights, backend, objective and settings (plans shipped in the model file come first): those the page
 * kept from earlier visits, and those made here, which go back to the page to be kept.
 */
const planEntries = new Map<string, unknown>();
const plans = bridgedPlanStore(planEntries, (key, json) => port.postMessage({ id: 0, kind: 'store', key, json }));

function forgetRuns(): void {
  exact?.images.dispose();
  exact = null;
}

function needModel(): TarFlow {
  if (!model) throw new Error('no model is loaded');
  return model;
}

async function images(t: tf.Tensor): Promise<Images> {
  // A copy: the page receives its buffer by transfer.
  // Asynchronous reads: browsers cannot read WebGPU buffers synchronously.
  return { data: new Float32Array(await t.data()), shape: t.shape as Images['shape'] };
}

/** Identifies the noise, labels, guidance and temperature of a run (what the exact samples depend on). */
function inputsKey(s: SampleSettings): string {
  return JSON.stringify([modelVersion, tf.getBackend(), s.batch, s.seed, s.labels, s.guidance, s.temperature]);
}

function summary(plan: Plan, source: PlanSummary['source'], warnings: string[]): PlanSummary {
  const { objective, text, tolerance, blocks, predicted } = plan;
  return { objective, text, tolerance, blocks, predicted, source, warnings };
}

function loadBytes(name: string, bytes: Uint8Array): ModelInfo {
  const file = readSafetensors(bytes);
  const next = modelFromSafetensors(file);
  model?.dispose();
  forgetRuns();
  model = next;
  modelFile = { name, bytes, metadata: file.metadata };
  modelVersion += 1;
  return {
    name,
    bytes: bytes.byteLength,
    config: next.config,
    tokens: next.tokens,
    patchDim: next.patchDim,
    parameters: next.trainableVariables().reduce((s, v) => s + v.size, 0),
    metadata: file.metadata,
    recommended: next.recommended ?? null,
  };
}

/**
 * parseSafetensors, with a plain message for a file that is not safetensors at
 * all (its first 8 bytes, read as a header length, give a number in the
 * quintillions for a text or PyTorch file).
 */
function readSafetensors(bytes: Uint8Array): ReturnType<typeof parseSafetensors> {
  try {
    return parseSafetensors(bytes);
  } catch (e) {
    const message = (e as Error).message;
    if (/^safetensors: (file is \d+ bytes, shorter|header length|header is not valid|header bytes are incomplete|header is not a JSON object)/.test(message)) {
      const kb = bytes.byteLength < 2048 ? `${bytes.byteLength} bytes` : `${(bytes.byteLength / 1e6).toFixed(1)} MB`;
      throw new Error(
        `this is not a safetensors file (${kb}; it does not start with a safetensors header). ` +
          'A PyTorch checkpoint (.pth) can be converted with `tarflow convert`.',
      );
    }
    throw e;
  }
}

/** What a run samples with: a strategy, and the guess table of a joint strategy with the table guess. */
interface Chosen {
  strategy: SamplingStrategy;
  guessTable?: GuessTable;
}

class Session {
  constructor(private readonly id: number) {}

  progress(p: Progress): void {
    port.postMessage({ id: this.id, kind: 'progress', progress: p });
  }

  /**
   * The strategy of a run: as given, or (auto) shipped in the model file, kept from an earlier run or visit, or
   * planned now and kept. As with `tarflow sample`, a plan is for the model's classes in turn, not for the run's
   * labels: the plans shipped for the recommended settings serve every choice of digits.
   */
  strategy(s: SampleSettings): Chosen & { plan?: PlanSummary } {
    const m = needModel();
    const solver = s.solver;
    if (solver.kind === 'auto') this.progress({ phase: 'plan', message: `looking for a ${solver.objective} plan…` });
    else if (isJointStrategy(solver.strategy) && solver.strategy.guess === 'table') this.progress({ phase: 'plan', message: 'calibrating the joint guess (class means)…' });
    const r = resolveStrategy(
      m,
      solver.kind === 'auto' ? { solver: 'auto', objective: solver.objective, effort: solver.effort } : { strategy: formatStrategy(solver.strategy) },
      {
        batch: s.batch,
        guidance: s.guidance ?? undefined,
        temperature: s.temperature,
        seed: s.seed,
        metadata: modelFile?.metadata,
        store: plans,
        onProgress: (message) => this.progress({ phase: 'plan', message: `planning: ${message}` }),
      },
    );
    return { strategy: r.strategy, ...(r.guessTable ? { guessTable: r.guessTable } : {}), ...(r.plan && r.source !== 'given' ? { plan: summary(r.plan, r.source, r.warnings) } : {}) };
  }

  /** One model.sampleAsync with progress per block; the caller disposes the result. */
  async sample(s: SampleSettings, { strategy, guessTable }: Chosen, phase: string, trace: boolean): Promise<ModelSampleResult> {
    const m = needModel();
    const total = m.blocks.length;
    // The CLI's draws: `tarflow sample --seed S` gives the same noise for the same seed.
    const noise = seededNoise(s.seed, Array.from({ length: s.batch }, (_, i) => i), m.tokens, m.patchDim);
    const labels = s.labels ? tf.tensor1d(s.labels, 'int32') : undefined;
    const what = phase === 'sequential' ? 'exact sequential reference' : 'sampling';
    if (isJointStrategy(strategy)) this.progress({ phase, message: `${what}: joint iteration 1 of at most ${strategy.maxIterations}…`, done: 0, total: strategy.maxIterations });
    else this.progress({ phase, message: `${what}: block 1 of ${total}…`, done: 0, total });
    try {
      return await m.sampleAsync(noise, {
        labels,
        guidance: s.guidance ?? undefined,
        temperature: s.temperature,
        strategy,
        guessTable,
        // A joint solve finishes every block together: no per-block trace, progress per joint iteration.
        trace: trace && !isJointStrategy(strategy),
        ...(isJointStrategy(strategy)
          ? {
              onJointIteration: (n: number) =>
                this.progress({ phase, message: `joint iteration ${n} of at most ${strategy.maxIterations}…`, done: n, total: strategy.maxIterations }),
            }
          : {}),
        onBlock: (k, block) => {
          if (isJointStrategy(strategy)) return; // reported per joint iteration above
          const next = k + 1 < total ? ` — block ${k + 2} of ${total}…` : '';
          this.progress({ phase, message: `${what}: block ${k + 1} of ${total} done${next}`, done: k + 1, total, block });
        },
      });
    } finally {
      noise.dispose();
      labels?.dispose();
    }
  }

  /** Keeps a run's raw samples as the exact samples of its inputs. */
  keepExact(s: SampleSettings, raw: ImageBatch): void {
    exact?.images.dispose();
    exact = { key: inputsKey(s), images: tf.keep(tf.clone(raw)) };
  }

  async runSample(s: SampleSettings): Promise<SampleResult> {
    const labels = s.labels ? tf.tensor1d(s.labels, 'int32') : undefined;
    try {
      const chosen = this.strategy(s);
      const { strategy, plan } = chosen;
      const r = await this.sample(s, chosen, 'sample', s.trace);
      try {
        if (isSequentialStrategy(strategy)) this.keepExact(s, r.images);
        let shown = r.images;
        if (s.denoise) {
          this.progress({ phase: 'denoise', message: 'denoising step…' });
          shown = needModel().denoise(r.images, labels);
        }
        const out: SampleResult = { images: await images(shown), denoised: s.denoise, report: r.report };
        if (shown !== r.images) shown.dispose();
        if (plan) out.plan = plan;
        if (r.trace) out.trace = await Promise.all(r.trace.map(images));
        return out;
      } finally {
        r.images.dispose();
        if (r.trace) tf.dispose(r.trace);
      }
    } finally {
      labels?.dispose();
    }
  }

  async runCompare(s: SampleSettings): Promise<CompareResult> {
    const m = needModel();
    const chosen = this.strategy(s);
    const seq = await this.sample(s, { strategy: sequentialStrategy(m.blocks.length) }, 'sequential', false);
    try {
      this.keepExact(s, seq.images);
      const fast = await this.sample(s, chosen, 'sample', false);
      try {
        const q = sampleQuality({ samples: fast.images, reference: seq.images });
        const out: CompareResult = {
          sequential: { images: await images(seq.images), report: seq.report },
          solver: { images: await images(fast.images), report: fast.report },
          meanAbsDiff: q.meanAbsDiff ?? NaN,
          maxAbsDiff: q.maxAbsDiff ?? NaN,
        };
        if (chosen.plan) out.solver.plan = chosen.plan;
        return out;
      } finally {
        fast.images.dispose();
      }
    } finally {
      seq.images.dispose();
    }
  }

  async runMetrics(s: SampleSettings): Promise<MetricsResult> {
    const m = needModel();
    const key = inputsKey(s);
    const reused = exact?.key === key;
    if (!reused) {
      const seq = await this.sample(s, { strategy: sequentialStrategy(m.blocks.length) }, 'sequential', false);
      this.keepExact(s, seq.images);
      seq.images.dispose();
    }
    this.progress({ phase: 'metrics', message: 'CRM and IGM: passing the exact samples forward…' });
    return { metrics: convergenceMetrics(m, exact!.images), reused, batch: s.batch };
  }
}

async function handle(id: number, request: Request): Promise<unknown> {
  const session = new Session(id);
  switch (request.type) {
    case 'backend': {
      // @tarflow/backends' "types" condition describes its Node entry; a browser
      // bundle runs its browser entry, whose options take `wasmPaths`.
      const options = { wasmPaths: request.wasmPaths } as unknown as Parameters<typeof selectBackend>[1];
      let selection;
      try {
        selection = await selectBackend(request.preference, options);
      } catch (e) {
        const active = tf.getBackend();
        throw new Error(`${(e as Error).message}${active ? ` (still using ${active})` : ''}`);
      }
      // Tensors made on the previous backend are reloaded on this one.
      if (modelFile) loadBytes(modelFile.name, modelFile.bytes);
      const info: BackendInfo = { name: selection.name, detail: selection.detail, notes: selection.notes, skipped: selection.skipped, reason: selection.reason };
      return info;
    }
    case 'plans':
      planEntries.clear();
      for (const [key, value] of Object.entries(request.entries)) planEntries.set(key, value);
      return planEntries.size;
    case 'load':
      return loadBytes(request.name, new Uint8Array(request.bytes));
    case 'sample':
      return session.runSample(request.settings);
    case 'compare':
      return session.runCompare(request.settings);
    case 'metrics':
      return session.runMetrics(request.settings);
  }
}

function transferables(value: unknown, out: Transferable[] = [], seen = new Set<unknown>()): Transferable[] {
  if (value === null || typeof value !== 'object' || seen.has(value)) return out;
  seen.add(value);
  if (ArrayBuffer.isView(value)) {
    if (value.buffer instanceof ArrayBuffer && !out.includes(value.buffer)) out.push(value.buffer);
    return out;
  }
  for (const v of Object.values(value)) transferables(v, out, seen);
  return out;
}

// Requests run one at a time, in order.
let queue: Promise<void> = Promise.resolve();
port.onmessage = (e) => {
  const { id, request } = e.data;
  queue = queue.then(async () => {
    try {
      const result = await handle(id, request);
      port.postMessage({ id, kind: 'result', result }, transferables(result));
    } catch (err) {
      const error = err instanceof Error ? err : new Error(String(err));
      port.postMessage({ id, kind: 'error', name: error.name, message: error.message });
    }
  });
};
