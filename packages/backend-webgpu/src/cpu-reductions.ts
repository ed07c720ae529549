/**
 * Small reductions of CPU-resident tensors run on the CPU.
 *
 * tfjs' WebGPU backend runs element-wise ops on the CPU when their inputs'
 * values are still CPU-side and small (WEBGPU_CPU_FORWARD), but always sends
 * reductions to the GPU. A check such as "every label is in range" —
 * `tf.min(labels)`, `tf.max(labels)` read synchronously — then becomes a GPU
 * round trip, and a synchronous GPU read is slow in Node and, in browsers,
 * goes through tfjs' canvas readback, which fails on software adapters (see
 * docs/backends.md). These replacements compute Min, Max, All and Any with
 * tfjs' cpu kernels when every input is CPU-resident and at most
 * WEBGPU_CPU_HANDOFF_SIZE_THRESHOLD elements (tfjs' own limit for CPU
 * forwarding), so the result stays CPU-side; anything else runs tfjs' WebGPU
 * kernel unchanged.
 */
import { tf } from '@tarflow/tensor';

export const CPU_REDUCTION_KERNELS = ['Min', 'Max', 'All', 'Any'] as const;

interface TensorData {
  values: ArrayLike<number> | null;
}
interface WebGPUBackendLike {
  tensorMap: { get(dataId: object): TensorData | undefined };
  makeTensorInfo(shape: number[], dtype: tf.DataType, values: tf.backend_util.BackendValues): tf.TensorInfo;
}
interface CpuBackendLike {
  write(values: tf.backend_util.BackendValues, shape: number[], dtype: tf.DataType): object;
  readSync(dataId: object): tf.backend_util.BackendValues;
  disposeData(dataId: object): void;
}

let installed = false;

/** Installs the replacements for the 'webgpu' backend (idempotent); returns the kernels replaced. */
export function installCpuReductions(): string[] {
  if (installed) return [...CPU_REDUCTION_KERNELS];
  for (const name of CPU_REDUCTION_KERNELS) {
    const gpu = tf.getKernel(name, 'webgpu');
    const cpu = tf.getKernel(name, 'cpu');
    if (!gpu || !cpu) throw new Error(`installCpuReductions: tfjs has no ${name} kernel for ${gpu ? 'cpu' : 'webgpu'}`);
    tf.unregisterKernel(name, 'webgpu');
    tf.registerKernel({
      ...gpu,
      kernelFunc: (args) => {
        const backend = args.backend as unknown as WebGPUBackendLike;
        const x = args.inputs.x as tf.TensorInfo;
        const data = backend.tensorMap.get(x.dataId);
        const limit = tf.env().getNumber('WEBGPU_CPU_HANDOFF_SIZE_THRESHOLD');
        const size = x.shape.reduce((p, d) => p * d, 1);
        const cpuBackend = tf.engine().findBackend('cpu') as unknown as CpuBackendLike | null;
        if (!data || data.values == null || size > limit || !cpuBackend) return gpu.kernelFunc(args);
        const xCpu = { ...x, dataId: cpuBackend.write(data.values as tf.backend_util.BackendValues, x.shape, x.dtype) };
        const out = cpu.kernelFunc({ ...args, inputs: { x: xCpu }, backend: cpuBackend as unknown as tf.KernelBackend }) as tf.TensorInfo;
        const values = cpuBackend.readSync(out.dataId);
        cpuBackend.disposeData(xCpu.dataId);
        cpuBackend.disposeData(out.dataId);
        return backend.makeTensorInfo(out.shape, out.dtype, values);
      },
    });
  }
  installed = true;
  return [...CPU_REDUCTION_KERNELS];
}
