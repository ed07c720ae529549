/**
 * The fused engine beside the plain one on the default model, guided sequential
 * sampling at its recommended settings (not a test: run it by hand after `pnpm build`):
 *
 *     node --import tsx studies/time-fused.ts time [backend] [batches]   wall and CPU time of model.sample, plain and
 *                                                                       fused (median of 3), kernels per block-step, max |Δ|
 *     node --import tsx studies/time-fused.ts agree [batch]              how far the engines and backends drift apart: one
 *                                                                       evaluation of each block, and whole runs
 *     node --import tsx studies/time-fused.ts memory [batch]             peak RSS and tfjs memory of one fused sampling (wasm)
 */
import { readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { selectBackend } from '@tarflow/backends';
import { maxAbsDiff, seededNoise, tf, type PatchSeq } from '@tarflow/tensor';
import { median } from '@tarflow/metrics';
import { cycleLabels, loadModel, type SampleOptions, type TarFlow } from '@tarflow/model';

type Engine = 'plain' | 'fused';
const mode = process.argv[2] ?? 'time';
const here = dirname(fileURLToPath(import.meta.url));
const bytes = new Uint8Array(readFileSync(join(here, '..', 'packages', 'zoo', 'assets', 'mnist-cond.safetensors')));

async function setup(backend: 'wasm' | 'cpu', B: number) {
  await selectBackend(backend);
  const model: TarFlow = loadModel(bytes);
  const { guidance, temperature } = model.recommended ?? {};
  const labels = tf.tensor1d(cycleLabels(B, model.config.num_classes), 'int32');
  const noise = seededNoise(0, [...Array(B).keys()], model.tokens, model.patchDim) as PatchSeq;
  const options: SampleOptions = { labels, guidance, temperature };
  const sample = (engine: Engine, z: PatchSeq = noise) => {
    const r = model.sample(z, { ...options, engine });
    if (r.report.engine.name !== engine) throw new Error(`engine ${engine} unavailable: ${r.report.engine.reason}`);
    return r.images;
  };
  const dispose = () => {
    tf.dispose([labels, noise]);
    model.dispose();
  };
  return { model, labels, noise, options, sample, dispose };
}

/** Images of one run as plain numbers (to compare across backends). */
const values = (t: tf.Tensor): Float32Array => {
  const v = Float32Array.from(t.dataSync());
  t.dispose();
  return v;
};
const maxDiff = (a: Float32Array, b: Float32Array) => a.reduce((m, x, i) => Math.max(m, Math.abs(x - b[i])), 0);

if (mode === 'time') {
  const backend = (process.argv[3] ?? 'wasm') as 'wasm' | 'cpu';
  const batches = (process.argv[4] ?? '1,8').split(',').map(Number);
  console.log('batch | plain ms (median of 3) | fused ms | fused CPU ms | speed-up | kernels per block-step plain / fused | max |fused − plain|');
  for (const B of batches) {
    const s = await setup(backend, B);
    const time = (engine: Engine) => {
      const ms: number[] = [];
      const cpu: number[] = [];
      let out: Float32Array | null = null;
      for (let i = 0; i < 3; i++) {
        const c0 = process.cpuUsage();
        const t0 = performance.now();
        out = values(s.sample(engine));
        ms.push(performance.now() - t0);
        const c = process.cpuUsage(c0);
        cpu.push((c.user + c.system) / 1000);
      }
      return { ms: median(ms), cpu: median(cpu), out: out! };
    };
    const kernelsPerStep = async (engine: Engine) => {
      const info = await tf.profile(() => {
        s.sample(engine).dispose();
        return [] as tf.Tensor[];
      });
      return info.kernels.length / (s.model.blocks.length * (s.model.tokens - 1));
    };
    const plain = time('plain');
    const fused = time('fused');
    const kp = await kernelsPerStep('plain');
    const kf = await kernelsPerStep('fused');
    console.log(
      `${B} | ${plain.ms.toFixed(0)} | ${fused.ms.toFixed(0)} | ${fused.cpu.toFixed(0)} | ${(plain.ms / fused.ms).toFixed(2)}× | ` +
        `${kp.toFixed(1)} / ${kf.toFixed(1)} | ${maxDiff(fused.out, plain.out).toExponential(2)}`,
    );
    s.dispose();
  }
} else if (mode === 'agree') {
  const B = Number(process.argv[3] ?? 4);
  const runs: Record<string, Float32Array> = {};
  for (const backend of ['wasm', 'cpu'] as const) {
    const s = await setup(backend, B);
    // One evaluation of every block over all positions from the same input: the per-evaluation agreement.
    let evalDiff = 0;
    for (let k = 0; k < s.model.blocks.length; k++) {
      const g = s.options.guidance;
      const plain = s.model.samplingMap(k, s.labels, g, 'plain');
      const fused = s.model.samplingMap(k, s.labels, g, 'fused');
      const a = plain.evaluate(s.noise, 0, plain.emptyCache(B));
      const b = fused.evaluate(s.noise, 0, fused.emptyCache(B));
      evalDiff = Math.max(evalDiff, maxAbsDiff(a.params.logScale, b.params.logScale), maxAbsDiff(a.params.shift, b.params.shift));
      tf.dispose([a.params.logScale, a.params.shift, b.params.logScale, b.params.shift]);
      plain.disposeCache(a.cache);
      fused.disposeCache(b.cache);
    }
    console.log(`${backend}: one evaluation of each block (all positions), max |fused − plain| of (α, γ): ${evalDiff.toExponential(2)}`);
    runs[`plain-${backend}`] = values(s.sample('plain'));
    runs[`fused-${backend}`] = values(s.sample('fused'));
    // The same engine from noise moved by one float32 rounding (relative 2^-24): how much the sampler amplifies it.
    const nudged = tf.tidy(() => tf.mul(s.noise, 1 + 2 ** -23)) as PatchSeq;
    runs[`plain-${backend}-nudged`] = values(s.sample('plain', nudged));
    nudged.dispose();
    s.dispose();
  }
  const pairs: Array<[string, string]> = [
    ['fused-wasm', 'plain-wasm'],
    ['fused-cpu', 'plain-cpu'],
    ['plain-wasm', 'plain-cpu'],
    ['fused-wasm', 'fused-cpu'],
    ['plain-wasm', 'plain-wasm-nudged'],
    ['plain-cpu', 'plain-cpu-nudged'],
  ];
  console.log(`whole guided sequential runs, batch ${B}, images in [-1, 1]:`);
  for (const [a, b] of pairs) console.log(`  max |${a} − ${b}| = ${maxDiff(runs[a], runs[b]).toExponential(2)}`);
} else if (mode === 'memory') {
  const B = Number(process.argv[3] ?? 64);
  const s = await setup('wasm', B);
  const rss0 = process.memoryUsage().rss;
  let peak = rss0;
  const timer = setInterval(() => (peak = Math.max(peak, process.memoryUsage().rss)), 5);
  const tensors0 = tf.memory().numTensors;
  // Sampled asynchronously so the timer can read the RSS while it runs.
  const r = await s.model.sampleAsync(s.noise, { ...s.options, engine: 'fused' });
  peak = Math.max(peak, process.memoryUsage().rss);
  clearInterval(timer);
  const heap = (tf.backend() as unknown as { wasm: { HEAPU8: Uint8Array } }).wasm.HEAPU8.length;
  r.images.dispose();
  const mib = (n: number) => `${(n / 2 ** 20).toFixed(0)} MiB`;
  console.log(
    `batch ${B} fused (wasm): peak RSS ${mib(peak)} (${mib(rss0)} before sampling), wasm heap ${mib(heap)}, ` +
      `tensors before ${tensors0}, after ${tf.memory().numTensors}`,
  );
  s.dispose();
} else {
  console.error('usage: node --import tsx studies/time-fused.ts time [backend] [batches] | agree [batch] | memory [batch]');
  process.exit(2);
}
