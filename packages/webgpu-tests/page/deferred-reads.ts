/**
 * Synchronous reads for the test page, answered without reading the GPU.
 *
 * tfjs reads a WebGPU tensor synchronously (dataSync) by drawing its buffer
 * through a WebGPU OffscreenCanvas into a 2D canvas. In headless Chromium with
 * the software (SwiftShader) adapter that path returns zeros for some tensors
 * and then loses the device ("A valid external Instance reference no longer
 * exists"), so it cannot be used here; a browser offers no other synchronous
 * GPU read. TarFlow's solvers read synchronously in exactly two ways:
 *
 * - `tf.all(tf.isFinite(x))` (a bool): only to throw when values are not
 *   finite. We answer "all true" and check the real values afterwards.
 * - Jacobi residuals (a float32 scalar): in the conformance cases (no
 *   tolerance, divergence guard off) they only go into the solver's report. We
 *   answer NaN — any control decision taken on it would show as a fallback,
 *   which the test forbids — and record the real values afterwards.
 *
 * Tensors whose values are still on the CPU (labels, inputs) are read as
 * usual; any other synchronous read fails loudly. The proper fix is an
 * asynchronous sampler (await tensor.data()); see docs/backends.md.
 */
import { tf } from '@tarflow/tensor';

interface Internals {
  tensorMap: { get(dataId: object): { values: unknown; dtype: string; resource: GPUBuffer | null; shape: number[] } | undefined };
  copyBuffer(b: GPUBuffer): GPUBuffer;
  bufferManager: { releaseBuffer(b: GPUBuffer): void };
  getBufferData(b: GPUBuffer): Promise<ArrayBuffer>;
  readSync(dataId: object): unknown;
}

interface Deferred {
  dtype: 'bool' | 'float32';
  size: number;
  copy: GPUBuffer;
}

const pending: Deferred[] = [];

/** Replaces the active WebGPU backend's readSync as described above. */
export function installDeferredReads(): void {
  const b = tf.backend() as unknown as Internals;
  const original = b.readSync.bind(b);
  b.readSync = (dataId: object) => {
    const data = b.tensorMap.get(dataId);
    if (!data) throw new Error('readSync: tensor not registered with the WebGPU backend');
    if (data.values != null || data.dtype === 'string') return original(dataId);
    const size = data.shape.reduce((p, d) => p * d, 1);
    if ((data.dtype !== 'bool' && data.dtype !== 'float32') || !data.resource) {
      throw new Error(`test page: no synchronous GPU read for a ${data.dtype} tensor of shape [${data.shape}] (only bool checks and float32 residuals are answered)`);
    }
    pending.push({ dtype: data.dtype, size, copy: b.copyBuffer(data.resource) });
    return data.dtype === 'bool' ? new Uint8Array(size).fill(1) : new Float32Array(size).fill(NaN);
  };
}

/** What the deferred reads really held: bool checks that were false, and the residual values. */
export interface DeferredReport {
  boolReads: number;
  failedBoolChecks: number;
  floatReads: number;
  floatValues: number[];
}

/** Reads back every deferred value (asynchronously) and clears the list. */
export async function settleDeferredReads(): Promise<DeferredReport> {
  const b = tf.backend() as unknown as Internals;
  const report: DeferredReport = { boolReads: 0, failedBoolChecks: 0, floatReads: 0, floatValues: [] };
  const items = pending.splice(0);
  for (const d of items) {
    const bytes = await b.getBufferData(d.copy);
    b.bufferManager.releaseBuffer(d.copy);
    const words = d.dtype === 'bool' ? new Int32Array(bytes, 0, d.size) : new Float32Array(bytes, 0, d.size);
    if (d.dtype === 'bool') {
      report.boolReads += 1;
      if (words.some((v) => v !== 1)) report.failedBoolChecks += 1;
    } else {
      report.floatReads += 1;
      report.floatValues.push(...Array.from(words));
    }
  }
  return report;
}
