/**
 * The test page allows no synchronous read of a GPU tensor.
 *
 * tfjs reads a WebGPU tensor synchronously (dataSync) by drawing its buffer
 * through a WebGPU OffscreenCanvas into a 2D canvas. In headless Chromium on
 * the software (SwiftShader) adapter that returns zeros for some tensors and
 * then loses the device ("A valid external Instance reference no longer
 * exists"), which would turn one bad read into a cascade of unrelated
 * failures. The model reads asynchronously in browsers (sampleAsync; label
 * checks reduce CPU-resident labels on the CPU), so a synchronous GPU read
 * here is a bug, reported where it happens. Tensors whose values are on the
 * CPU are read as usual.
 */
import { tf } from '@tarflow/tensor';

interface Internals {
  tensorMap: { get(dataId: object): { values: unknown; dtype: string; shape: number[] } | undefined };
  readSync(dataId: object): unknown;
}

/** Replaces the active WebGPU backend's readSync as described above. */
export function forbidSyncGpuReads(): void {
  const b = tf.backend() as unknown as Internals;
  const original = b.readSync.bind(b);
  b.readSync = (dataId: object) => {
    const data = b.tensorMap.get(dataId);
    if (!data || data.values != null || data.dtype === 'string') return original(dataId);
    throw new Error(
      `synchronous read of a GPU tensor (${data.dtype} [${data.shape.join(', ')}]): tfjs' canvas readback loses the ` +
        'device on this adapter, so everything here must read asynchronously (sampleAsync, await tensor.data())',
    );
  };
}
