/**
 * A fix for one slow tfjs-backend-wasm kernel, applied wherever the wasm
 * backend is activated (Node and browsers). It needs no import of the wasm
 * backend: it works on whatever kernels are registered.
 */
import * as tf from '@tensorflow/tfjs';

/**
 * tfjs-backend-wasm 4.22 multiplies transposed operands (`matMul(a, b,
 * transposeA, transposeB)`) in a slow path: a [3136, 384]ᵀ·[3136, 128]
 * product takes ~120 ms against ~15 ms for an explicit transpose followed by
 * a plain product (measured on this project's CPU). TarFlow's linear layers
 * use `x·Wᵀ`, and the gradients of every matMul use transposed operands, so a
 * training step spends most of its time there.
 *
 * This replaces the wasm `BatchMatMul` kernel, once per process, by one that
 * transposes flagged operands with the backend's own Transpose kernel and
 * then calls the original kernel without flags. Results are the same
 * products (summation order may differ in the last bits); the op's gradient
 * is defined above the kernel and is unaffected. Returns false when the wasm
 * kernels are not registered.
 */
export function patchWasmMatMul(): boolean {
  if (patched) return true;
  const original = tf.getKernel('BatchMatMul', 'wasm');
  const transposeKernel = tf.getKernel('Transpose', 'wasm');
  if (!original || !transposeKernel) return false;
  const kernelFunc: tf.KernelFunc = ({ inputs, backend, attrs }) => {
    const { transposeA, transposeB } = (attrs ?? {}) as { transposeA?: boolean; transposeB?: boolean };
    if (!transposeA && !transposeB) return original.kernelFunc({ inputs, backend, attrs });
    const temps: tf.TensorInfo[] = [];
    const flip = (x: tf.TensorInfo): tf.TensorInfo => {
      const r = x.shape.length;
      const perm = [...Array(r - 2).keys(), r - 1, r - 2];
      const t = transposeKernel.kernelFunc({ inputs: { x }, backend, attrs: { perm } }) as tf.TensorInfo;
      temps.push(t);
      return t;
    };
    const a = transposeA ? flip(inputs.a as tf.TensorInfo) : inputs.a;
    const b = transposeB ? flip(inputs.b as tf.TensorInfo) : inputs.b;
    try {
      return original.kernelFunc({ inputs: { a, b }, backend, attrs: { ...attrs, transposeA: false, transposeB: false } });
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
