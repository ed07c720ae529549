/**
 * Direct access to a tfjs backend's own storage, for kernels written in
 * JavaScript: the cpu backend keeps each tensor in a typed array
 * (backend.data.get(dataId).values); the wasm backend keeps it on the wasm
 * heap (backend.dataIdMap.get(dataId).memoryOffset, read through
 * typedArrayFromHeap). Kernels allocate their outputs first and take views
 * afterwards: an allocation may grow the wasm heap, which detaches older views.
 */
import { tf } from '@tarflow/tensor';

type Floats = Float32Array;

export interface BackendMemory {
  /** A view of a tensor's storage: writes change the tensor in place. */
  floats(t: tf.TensorInfo): Floats;
  ints(t: tf.TensorInfo): Int32Array;
  /** A new float32 tensor of the given shape (contents unspecified). */
  alloc(shape: number[]): tf.TensorInfo;
  /** Frees a tensor made by `alloc` that is not returned. */
  free(t: tf.TensorInfo): void;
}

interface CpuBackend {
  data: { get(id: object): { values?: unknown } };
  makeTensorInfo(shape: number[], dtype: string, values: Floats): tf.TensorInfo;
  disposeData(id: object): void;
}

interface WasmBackend {
  dataIdMap: { get(id: object): { memoryOffset: number } | undefined };
  typedArrayFromHeap(t: tf.TensorInfo): Float32Array | Int32Array | Uint8Array;
  makeOutput(shape: number[], dtype: string): tf.TensorInfo;
  disposeData(id: object): void;
}

function cpuMemory(backend: CpuBackend): BackendMemory {
  const values = (t: tf.TensorInfo) => {
    const v = backend.data.get(t.dataId)?.values;
    if (!(v instanceof Float32Array || v instanceof Int32Array)) throw new Error('fused kernels: tensor storage is not a typed array');
    return v;
  };
  return {
    floats: (t) => values(t) as Floats,
    ints: (t) => values(t) as Int32Array,
    alloc: (shape) => backend.makeTensorInfo(shape, 'float32', new Float32Array(shape.reduce((a, b) => a * b, 1))),
    free: (t) => backend.disposeData(t.dataId),
  };
}

function wasmMemory(backend: WasmBackend): BackendMemory {
  return {
    floats: (t) => backend.typedArrayFromHeap(t) as Floats,
    ints: (t) => backend.typedArrayFromHeap(t) as Int32Array,
    alloc: (shape) => backend.makeOutput(shape, 'float32'),
    free: (t) => backend.disposeData(t.dataId),
  };
}

/** The memory of a cpu or wasm backend instance. */
export function backendMemory(backendName: 'cpu' | 'wasm', backend: object): BackendMemory {
  return backendName === 'cpu' ? cpuMemory(backend as CpuBackend) : wasmMemory(backend as WasmBackend);
}
