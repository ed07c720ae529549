/**
 * A fix for one slow tfjs-backend-wasm kernel, applied wherever the wasm
 * backend is activated (Node and browsers). It needs no import of the wasm
 * backend: it works on whatever kernels are registered.
 */
import * as tf from '@tensorflow/tfjs-core';

/**
 * tfjs-backend-wasm 4.22 multiplies transposed operands (`matMul(a, b,
 * transposeA, transposeB)`) in a slow path: a [3136, 384]ᵀ·[3136, 128]
 * product takes ~120 ms against ~15 ms for an explicit transpose followed by
 * a plain product (measured on this project's CPU). TarFlow's linear layers
 * use `x·Wᵀ`, and the gradients of every matMul use transposed operands, so a
 * training step spends most of its time there.
 *
 * The same kernel is also slow for batched products of large matrices: the
 * stacked evaluation of four blocks multiplies [4, 768, 128]·[4, 128, 512]
 * in ~380 ms, against ~10 ms for each of the four [768, 128]·[128, 512]
 * products on its own (the batched path does not use the fast GEMM).
 *
 * This replaces the wasm `BatchMatMul` kernel, once per process, by one that
 * transposes flagged operands with the backend's own Transpose kernel, splits
 * a batched product of large matrices (at least SPLIT_MIN_MACS multiply-adds
 * per batch entry) into one product per batch entry, and calls the original
 * kernel without flags. Results are the same products (summation order may
 * differ in the last bits); the op's gradient is defined above the kernel
 * and is unaffected. Returns false when the wasm kernels are not registered.
 */
export function patchWasmMatMul(): boolean {
  if (patched) return true;
  const original = tf.getKernel('BatchMatMul', 'wasm');
  const kernel = (name: string) => tf.getKernel(name, 'wasm');
  const [transposeK, sliceK, reshapeK, concatK] = ['Transpose', 'Slice', 'Reshape', 'Concat'].map(kernel);
  if (!original || !transposeK || !sliceK || !reshapeK || !concatK) return false;
  const kernelFunc: tf.KernelFunc = ({ inputs, backend, attrs }) => {
    const { transposeA, transposeB } = (attrs ?? {}) as { transposeA?: boolean; transposeB?: boolean };
    const temps: tf.TensorInfo[] = [];
    const call = (k: tf.KernelConfig, kin: tf.NamedTensorInfoMap, kattrs: tf.NamedAttrMap): tf.TensorInfo => {
      const t = k.kernelFunc({ inputs: kin, backend, attrs: kattrs }) as tf.TensorInfo;
      temps.push(t);
      return t;
    };
    const flip = (x: tf.TensorInfo): tf.TensorInfo => {
      const r = x.shape.length;
      return call(transposeK, { x }, { perm: [...Array(r - 2).keys(), r - 1, r - 2] });
    };
    try {
      const a = transposeA ? flip(inputs.a as tf.TensorInfo) : (inputs.a as tf.TensorInfo);
      const b = transposeB ? flip(inputs.b as tf.TensorInfo) : (inputs.b as tf.TensorInfo);
      const plain = { ...attrs, transposeA: false, transposeB: false };
      const batch = splitBatch(a.shape, b.shape);
      if (batch === 0) return original.kernelFunc({ inputs: { a, b }, backend, attrs: plain });
      // One product per batch entry, on [1, M, K]·[1, K, N] views, joined on the batch axis.
      const [M, K] = a.shape.slice(-2);
      const N = b.shape[b.shape.length - 1];
      const a3 = call(reshapeK, { x: a }, { shape: [batch, M, K] });
      const b3 = call(reshapeK, { x: b }, { shape: [batch, K, N] });
      const parts = Array.from({ length: batch }, (_, i) =>
        call(original, { a: call(sliceK, { x: a3 }, { begin: [i, 0, 0], size: [1, M, K] }), b: call(sliceK, { x: b3 }, { begin: [i, 0, 0], size: [1, K, N] }) }, plain),
      );
      const joined = call(concatK, parts as unknown as tf.NamedTensorInfoMap, { axis: 0 });
      const out = reshapeK.kernelFunc({ inputs: { x: joined }, backend, attrs: { shape: [...a.shape.slice(0, -2), M, N] } }) as tf.TensorInfo;
      return out;
    } finally {
      for (const t of temps) (backend as { disposeData(id: object): void }).disposeData(t.dataId);
    }
  };
  tf.unregisterKernel('BatchMatMul', 'wasm');
  tf.registerKernel({ ...original, kernelFunc });
  patched = true;
  return true;
}

let patched = false;

/** Batched products with at least this many multiply-adds per batch entry run one entry at a time. */
export const SPLIT_MIN_MACS = 1 << 20;

/**
 * The batch size of a product of [..., M, K]·[..., K, N] to run entry by
 * entry, or 0 to run it as one kernel call: only equal (not broadcast) batch
 * shapes of more than one entry, each entry at least SPLIT_MIN_MACS.
 */
function splitBatch(a: number[], b: number[]): number {
  if (a.length < 3 || a.length !== b.length) return 0;
  const lead = a.slice(0, -2);
  if (lead.some((d, i) => d !== b[i])) return 0;
  const batch = lead.reduce((x, y) => x * y, 1);
  const [M, K] = a.slice(-2);
  const N = b[b.length - 1];
  return batch > 1 && M * K * N >= SPLIT_MIN_MACS ? batch : 0;
}
