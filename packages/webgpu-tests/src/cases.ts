/**
 * The reference conformance cases, runnable on whatever tfjs backend is
 * active, in a browser page or in Node. Sampling uses model.sampleAsync, the
 * way to sample in browsers (no synchronous GPU reads). Inputs come from the fixture files as
 * bytes; outputs go back as plain number arrays keyed by the names the
 * fixture's expected file uses, so the caller compares them with the
 * reference values (see compare.ts). This mirrors
 * packages/model/test/{conformance,gsj-conformance}.test.ts.
 */
import { tf } from '@tarflow/tensor';
import { parseSafetensors, toFloat32, toInt32, type SafetensorsFile } from '@tarflow/checkpoint';
import { loadModel, type GuidanceSettings, type SampleOptions, type SamplingEngine, type TarFlow } from '@tarflow/model';
import { REFERENCE_SEMANTICS, type Strategy } from '@tarflow/solvers';

/** The three files of one reference fixture, as read from disk or fetched. */
export interface FixtureFiles {
  name: string;
  /** NAME.json, parsed. */
  spec: FixtureSpec;
  /** NAME.safetensors. */
  checkpoint: Uint8Array;
  /** NAME.expected.safetensors. */
  expected: Uint8Array;
}

/** The parts of NAME.json the cases read. */
export interface FixtureSpec {
  config: { num_blocks: number; [key: string]: unknown };
  /** Tokens (patches) per image. */
  T: number;
  tolerance: string;
  cases: Record<string, any>;
}

/** What one case produced. */
export interface CaseResult {
  /** Output values under the expected file's keys. */
  outputs: Record<string, number[]>;
  /** Structural facts the caller checks exactly (trace length, solver depth; fused: 1 when a sampling case ran on the fused engine, else 0). */
  facts: Record<string, number>;
  wallMs: number;
}

/**
 * The runnable cases of a fixture: forward, sequential, denoised, every gsj.*
 * case, then `joint` — the joint solve of all blocks (stacked evaluation) run
 * to convergence, checked against the reference's sequential sample.
 */
export function caseNames(spec: FixtureSpec): string[] {
  const gsj = Object.keys(spec.cases).filter((k) => k.startsWith('gsj.'));
  return ['forward', 'sequential', 'denoised', ...gsj, 'joint'];
}

/** The fixture's guidance settings (its `sequential` case) in the model's terms. */
export function fixtureGuidance(spec: FixtureSpec): GuidanceSettings {
  const s = spec.cases.sequential;
  return {
    scale: s.guidance,
    on: s.guide === 'alpha and gamma' ? 'both' : s.guide === 'alpha' ? 'alpha' : 'gamma',
    annealed: s.annealed_guidance,
    attnTemp: s.attn_temp,
  };
}

/** A gsj.* case's per-block settings as a strategy (sampling order). */
export function fixtureStrategy(c: { num_gs: number[]; max_jacobi: number[]; guess: number[] }, tokens: number): Strategy {
  return c.num_gs.map((g, i) => {
    if (g === 0 || g === tokens) return { kind: 'sequential' as const };
    return { kind: 'jacobi' as const, modules: g, maxIterations: c.max_jacobi[i], guess: c.guess[i] === 0 ? ('noise' as const) : ('zeros' as const) };
  });
}

/** A tensor of the expected file (float32, or int32 for integer entries). */
export function expectedTensor(file: SafetensorsFile, key: string, fixture: string): tf.Tensor {
  const raw = file.tensors.get(key);
  if (!raw) throw new Error(`fixture ${fixture} has no tensor '${key}'`);
  if (raw.dtype === 'I64' || raw.dtype === 'I32') return tf.tensor(toInt32(raw, key), raw.shape, 'int32');
  return tf.tensor(toFloat32(raw, key), raw.shape, 'float32');
}

async function values(t: tf.Tensor): Promise<number[]> {
  return Array.from(await t.data());
}

/**
 * One fixture's model and inputs on the active backend. Create it after the
 * backend is set; dispose it when done.
 */
export class FixtureSession {
  readonly model: TarFlow;
  readonly expected: SafetensorsFile;
  private readonly x: tf.Tensor4D;
  private readonly noise: tf.Tensor3D;
  private readonly hasLabels: boolean;

  constructor(readonly files: FixtureFiles) {
    this.expected = parseSafetensors(files.expected);
    this.model = loadModel(files.checkpoint);
    this.x = expectedTensor(this.expected, 'forward.x', files.name) as tf.Tensor4D;
    this.noise = expectedTensor(this.expected, 'noise', files.name) as tf.Tensor3D;
    this.hasLabels = this.expected.tensors.has('labels');
  }

  /**
   * The labels as a fresh tensor: its values are still on the CPU when the
   * model checks them, which a GPU backend would otherwise have to read back.
   */
  private freshLabels(): tf.Tensor1D | undefined {
    return this.hasLabels ? (expectedTensor(this.expected, 'labels', this.files.name) as tf.Tensor1D) : undefined;
  }

  /** Runs one case (a name from caseNames); sampling cases on `engine` (the model's default, 'auto', when not given). */
  async run(name: string, engine?: SamplingEngine): Promise<CaseResult> {
    const t0 = performance.now();
    const outputs: Record<string, number[]> = {};
    const facts: Record<string, number> = {};
    const labels = this.freshLabels();
    try {
      await this.runInto(name, labels, outputs, facts, engine ? { engine } : {});
    } finally {
      labels?.dispose();
    }
    return { outputs, facts, wallMs: performance.now() - t0 };
  }

  private async runInto(
    name: string,
    labels: tf.Tensor1D | undefined,
    outputs: Record<string, number[]>,
    facts: Record<string, number>,
    engine: { engine?: SamplingEngine },
  ): Promise<void> {
    const { model } = this;
    const spec = this.files.spec;
    if (name === 'forward') {
      const r = model.forward(this.x, labels);
      const loss = model.loss(r.z, r.logdets);
      try {
        outputs['forward.z'] = await values(r.z);
        for (let i = 0; i < r.outputs.length; i++) outputs[`forward.block${i}`] = await values(r.outputs[i]);
        outputs['forward.logdets'] = await values(r.logdets);
        outputs['forward.loss'] = await values(loss);
      } finally {
        tf.dispose([r.z, r.outputs, r.logdets, loss]);
      }
    } else if (name === 'sequential') {
      const r = await model.sampleAsync(this.noise, { labels, guidance: fixtureGuidance(spec), trace: true, ...engine });
      try {
        outputs['sequential.sample'] = await values(r.images);
        for (let i = 0; i < r.trace!.length; i++) outputs[`sequential.trace${i}`] = await values(r.trace![i]);
        facts.traceLength = r.trace!.length;
        facts.depth = r.report.depth;
        facts.fallbacks = r.report.fallbacks;
        facts.fused = r.report.engine.name === 'fused' ? 1 : 0;
      } finally {
        tf.dispose([r.images, r.trace ?? []]);
      }
    } else if (name === 'denoised') {
      const sample = expectedTensor(this.expected, 'sequential.sample', this.files.name) as tf.Tensor4D;
      const d = model.denoise(sample, labels);
      try {
        outputs['denoised.sample'] = await values(d);
        facts.lr = model.config.noise_std ** 2 * sample.size;
      } finally {
        tf.dispose([sample, d]);
      }
    } else if (name === 'joint') {
      // Converged joint Jacobi is the exact inverse; a tight tolerance stops it once it is there.
      const L = model.blocks.length;
      const r = await model.sampleAsync(this.noise, {
        labels,
        guidance: fixtureGuidance(spec),
        strategy: { kind: 'joint', maxIterations: L * (model.tokens - 1), tolerance: 1e-5 },
        ...engine,
      });
      try {
        outputs['sequential.sample'] = await values(r.images);
        facts.depth = r.report.depth;
        facts.fallbacks = r.report.fallbacks;
        facts.fused = r.report.engine.name === 'fused' ? 1 : 0;
      } finally {
        tf.dispose(r.images);
      }
    } else if (name.startsWith('gsj.') && spec.cases[name]) {
      const c = spec.cases[name];
      if (c.ebound !== 0 || c.clamp?.[0] !== -3 || c.clamp?.[1] !== 3) {
        throw new Error(`${this.files.name} ${name}: expected ebound 0 and clamp [-3, 3] (the reference semantics this runner reproduces)`);
      }
      const options: SampleOptions = {
        labels,
        guidance: { ...fixtureGuidance(spec), on: 'both' },
        strategy: fixtureStrategy(c, model.tokens),
        ...REFERENCE_SEMANTICS,
        divergence: false,
        ...engine,
      };
      const r = await model.sampleAsync(this.noise, options);
      try {
        outputs[name] = await values(r.images);
        facts.depth = r.report.depth;
        facts.fallbacks = r.report.fallbacks;
        facts.fused = r.report.engine.name === 'fused' ? 1 : 0;
      } finally {
        tf.dispose(r.images);
      }
    } else {
      throw new Error(`unknown case '${name}' for fixture ${this.files.name} (known: ${caseNames(spec).join(', ')})`);
    }
  }

  /**
   * The kernels tfjs runs for the fixture's sequential sample (guidance and
   * labels as in its `sequential` case) on `engine`, counted with tf.profile;
   * `blockSteps` is the solver's depth (blocks · (T − 1) evaluations).
   */
  async kernelProfile(engine: SamplingEngine): Promise<{ kernels: number; blockSteps: number; engine: string; byName: Record<string, number> }> {
    const labels = this.freshLabels();
    let blockSteps = 0;
    let used = '';
    try {
      const profile = await tf.profile(async () => {
        const r = await this.model.sampleAsync(this.noise, { labels, guidance: fixtureGuidance(this.files.spec), engine });
        blockSteps = r.report.depth;
        used = r.report.engine.name;
        r.images.dispose();
        return [];
      });
      const byName: Record<string, number> = {};
      for (const k of profile.kernels) byName[k.name] = (byName[k.name] ?? 0) + 1;
      return { kernels: profile.kernels.length, blockSteps, engine: used, byName };
    } finally {
      labels?.dispose();
    }
  }

  dispose(): void {
    this.model.dispose();
    tf.dispose([this.x, this.noise]);
  }
}
