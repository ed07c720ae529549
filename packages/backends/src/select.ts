/**
 * selectBackend's logic, shared by the Node and browser entries, which differ
 * only in how each backend is set up (and each loads its package lazily, so
 * a browser bundle never pulls in Node code and a CLI run with `--backend cpu`
 * never loads Dawn).
 */
import { tf, tfSeed } from '@tarflow/tensor';

export type BackendName = 'webgpu' | 'webgl' | 'wasm' | 'cpu';
export type BackendPreference = BackendName | 'auto';

/** The order 'auto' tries backends in. */
export const AUTO_ORDER: readonly BackendName[] = ['webgpu', 'webgl', 'wasm', 'cpu'];
export const BACKEND_NAMES: readonly BackendPreference[] = ['auto', ...AUTO_ORDER];

/** What selectBackend set up. */
export interface BackendSelection {
  /** The active tfjs backend. */
  name: BackendName;
  /** One line for logs: the adapter for webgpu, SIMD/threads for wasm, … */
  detail: string;
  /** Facts worth reporting about the choice (workarounds applied, why threads are off, …). */
  notes: string[];
  /** Backends tried before this one, each with the reason it was not used. */
  skipped: Array<{ name: BackendName; reason: string }>;
  /** Why this backend, in one sentence (for 'auto': the first that works, or the fastest of a probe step). */
  reason: string;
  /** Where 'auto' had to measure: one probe step's time on each candidate, fastest first. */
  timings?: Array<{ name: BackendName; ms: number }>;
  /** The backend package's own report (WebGPUInfo, NodeBackendInfo, …). */
  info: unknown;
}

/** Thrown when the named backend (or, for 'auto', every backend) is unavailable. */
export class BackendUnavailableError extends Error {
  constructor(
    readonly backend: BackendPreference,
    readonly reason: string,
  ) {
    super(backend === 'auto' ? `no tfjs backend is available: ${reason}` : `backend '${backend}' is unavailable: ${reason}`);
    this.name = 'BackendUnavailableError';
  }
}

/** Validates a backend name given by a user (e.g. the CLI's --backend). */
export function parseBackendPreference(text: string): BackendPreference {
  const t = text.trim().toLowerCase();
  if ((BACKEND_NAMES as readonly string[]).includes(t)) return t as BackendPreference;
  throw new Error(`unknown backend ${JSON.stringify(text)}: expected one of ${BACKEND_NAMES.join(', ')}`);
}

/** Sets up one backend and makes it active, or throws saying why it cannot. */
export type BackendInitializer = () => Promise<{ detail: string; notes: string[]; info: unknown }>;

/** Raised by an initializer for a backend that does not exist on this platform. */

function reasonOf(e: unknown): string {
  if (e && typeof e === 'object' && 'reason' in e && typeof (e as { reason: unknown }).reason === 'string') {
    return (e as { reason: string }).reason;
  }
  return e instanceof Error ? e.message : String(e);
}

/**
 * A GPU backend that runs in software: a WebGPU fallback adapter
 * (GPUAdapter.isFallbackAdapter, e.g. SwiftShader or lavapipe) or a software
 * renderer named in the adapter or WebGL renderer string. Returns how to name
 * it, or null for hardware and for wasm and cpu (which are software by design
 * and fast at it).
 */
export function softwareRenderer(name: BackendName, detail: string, info: unknown): string | null {
  if (name !== 'webgpu' && name !== 'webgl') return null;
  const adapter = (info as { adapter?: Partial<Record<'vendor' | 'architecture' | 'device' | 'description', string>> & { isFallbackAdapter?: boolean } } | null)?.adapter;
  const text = [detail, adapter?.vendor, adapter?.architecture, adapter?.device, adapter?.description].join(' ');
  const named = /swiftshader|llvmpipe|lavapipe|softpipe|microsoft basic render|software/i.exec(text)?.[0];
  if (adapter?.isFallbackAdapter) return `a software fallback adapter${named && !/software/i.test(named) ? ` (${named})` : ''}`;
  return named ? `a software renderer (${named})` : null;
}

/**
 * The probe step 'auto' times where the choice is unclear: three Jacobi
 * iterations of a small transformer block (projections, causal attention and
 * an MLP over 64 tokens of 128 channels, batch 8), each followed by the
 * scalar read a solver makes — GPUs in software lose most on those round trips.
 */
export async function probeStep(): Promise<void> {
  const [B, T, C] = [8, 64, 128];
  const w = tf.tidy(() => [0, 1, 2, 3].map((k) => tf.randomNormal([C, C], 0, 1 / Math.sqrt(C), 'float32', 17 + k) as tf.Tensor2D));
  try {
    for (let it = 0; it < 3; it++) await probeIteration(w, B, T, C, it);
  } finally {
    tf.dispose(w);
  }
}

/** One iteration of the probe: the block's forward pass on a fresh iterate, then the residual read. */
async function probeIteration(w: tf.Tensor2D[], B: number, T: number, C: number, seed: number): Promise<void> {
  const residual = tf.tidy(() => {
    const x = tf.randomNormal([B * T, C], 0, 1, 'float32', tfSeed(seed)) as tf.Tensor2D;
    const q = tf.reshape(tf.matMul(x, w[0]), [B, T, C]);
    const k = tf.reshape(tf.matMul(x, w[1]), [B, T, C]);
    const v = tf.reshape(tf.matMul(x, w[2]), [B, T, C]);
    const mask = tf.linalg.bandPart(tf.ones([T, T]), -1, 0);
    const scores = tf.add(tf.div(tf.matMul(q, k, false, true), Math.sqrt(C)), tf.mul(tf.sub(mask, 1), 1e9));
    const h = tf.add(x, tf.reshape(tf.matMul(tf.softmax(scores), v), [B * T, C]));
    const out = tf.matMul(tf.relu(tf.matMul(h as tf.Tensor2D, w[3])), w[3], false, true);
    return tf.max(tf.abs(tf.sub(out, x)));
  });
  try {
    await residual.data();
  } finally {
    residual.dispose();
  }
}

function now(): number {
  return typeof performance !== 'undefined' ? performance.now() : Date.now();
}

/** Runs the probe once to compile and warm up, then times a second run on the active backend. */
async function timeProbe(probe: () => Promise<void>): Promise<number> {
  await probe();
  const t0 = now();
  await probe();
  return now() - t0;
}

/** How selectWith decides for 'auto' (tests and benchmarks may time their own step). */
export interface AutoSelectOptions {
  /** The step timed on each candidate where the choice is unclear (default probeStep). */
  probe?: () => Promise<void>;
}

/**
 * Tries the preferred backend (or for 'auto' each in AUTO_ORDER) with the
 * platform's initializers. 'auto' takes the first that works unless it is a
 * GPU in software (softwareRenderer): such a GPU is often slower than wasm by
 * an order of magnitude, so 'auto' goes on to the next backends and, where
 * software GPUs and a CPU backend both work, times one probe step on each and
 * takes the fastest.
 */
export async function selectWith(
  initializers: Record<BackendName, BackendInitializer>,
  preference: BackendPreference,
  options: AutoSelectOptions = {},
): Promise<BackendSelection> {
  const order = preference === 'auto' ? AUTO_ORDER : [preference];
  const skipped: BackendSelection['skipped'] = [];
  const software: Array<{ name: BackendName; result: Awaited<ReturnType<BackendInitializer>>; what: string }> = [];
  for (const name of order) {
    let result: Awaited<ReturnType<BackendInitializer>>;
    try {
      result = await initializers[name]();
      if (tf.getBackend() !== name) throw new Error(`tfjs reports '${tf.getBackend()}' active after setting up '${name}'`);
    } catch (e) {
      if (preference !== 'auto') throw new BackendUnavailableError(name, reasonOf(e));
      skipped.push({ name, reason: reasonOf(e) });
      continue;
    }
    if (preference !== 'auto') return { name, ...pick(result), skipped, reason: `${name} was asked for` };
    // Where the WebGPU adapter is software, a WebGL context on the same machine
    // most likely is too (browsers mask its renderer's name): time it as well.
    const what = softwareRenderer(name, result.detail, result.info) ?? (software.length > 0 && name === 'webgl' ? 'a GPU of unknown speed (the WebGPU adapter here is software)' : null);
    if (what) {
      software.push({ name, result, what });
      continue;
    }
    if (software.length === 0) {
      const reason = skipped.length === 0 ? `${name} is the first of ${AUTO_ORDER.join(' → ')}` : `${name} is the first that works of ${AUTO_ORDER.join(' → ')}`;
      return { name, ...pick(result), skipped, reason };
    }
    return race([...software, { name, result, what: '' }], skipped, options.probe ?? probeStep);
  }
  if (software.length > 0) return race(software, skipped, options.probe ?? probeStep);
  throw new BackendUnavailableError('auto', skipped.map((s) => `${s.name}: ${s.reason}`).join('; '));
}

function pick(r: Awaited<ReturnType<BackendInitializer>>): Pick<BackendSelection, 'detail' | 'notes' | 'info'> {
  return { detail: r.detail, notes: r.notes, info: r.info };
}

/** Times the probe step on each set-up candidate and activates the fastest. */
async function race(
  candidates: Array<{ name: BackendName; result: Awaited<ReturnType<BackendInitializer>>; what: string }>,
  skipped: BackendSelection['skipped'],
  probe: () => Promise<void>,
): Promise<BackendSelection> {
  if (candidates.length === 1) {
    const [c] = candidates;
    return { name: c.name, ...pick(c.result), skipped, reason: `${c.name} runs on ${c.what}, but nothing else works here` };
  }
  const timings: Array<{ name: BackendName; ms: number }> = [];
  for (const c of candidates) {
    if (!(await tf.setBackend(c.name))) continue;
    try {
      timings.push({ name: c.name, ms: await timeProbe(probe) });
    } catch (e) {
      skipped.push({ name: c.name, reason: `${c.what ? `${c.what}, and ` : ''}a probe step failed: ${reasonOf(e)}` });
    }
  }
  timings.sort((a, b) => a.ms - b.ms);
  if (timings.length === 0) throw new BackendUnavailableError('auto', skipped.map((s) => `${s.name}: ${s.reason}`).join('; '));
  const best = candidates.find((c) => c.name === timings[0].name)!;
  if (!(await tf.setBackend(best.name))) throw new BackendUnavailableError(best.name, 'tfjs could not switch back to it after timing');
  await tf.ready();
  const ms = (x: number) => `${x < 10 ? x.toFixed(1) : Math.round(x)} ms`;
  for (const t of timings.slice(1)) {
    const c = candidates.find((x) => x.name === t.name)!;
    skipped.push({ name: t.name, reason: `${c.what ? `runs on ${c.what}; ` : ''}a probe step took ${ms(t.ms)} vs ${ms(timings[0].ms)} on ${best.name}` });
  }
  const slower = timings.slice(1).map((t) => `${t.name} ${ms(t.ms)}`).join(', ');
  const reason = best.what
    ? `${best.name} runs on ${best.what} but was fastest in a probe step (${ms(timings[0].ms)}; ${slower})`
    : `the GPU here runs in software, so 'auto' timed a probe step: ${best.name} ${ms(timings[0].ms)}, ${slower}`;
  return { name: best.name, ...pick(best.result), skipped, reason, timings };
}

/** A one-line account of a selection, e.g. for a CLI's stderr. */
export function describeSelection(s: BackendSelection): string {
  const skipped = s.skipped.length > 0 ? ` (skipped ${s.skipped.map((k) => `${k.name}: ${k.reason}`).join('; ')})` : '';
  return `backend ${s.name}: ${s.detail}${skipped}`;
}
