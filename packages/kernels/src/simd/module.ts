/**
 * The SIMD kernels of kernels.wat, instantiated over the tfjs wasm backend's
 * own WebAssembly.Memory: they read and write tensors where the backend keeps
 * them (byte offsets on its heap), with no copies. One instance per backend.
 * Null where the memory is not reachable or WebAssembly SIMD is missing; the
 * kernels then run their JavaScript loops.
 */
import { KERNELS_WASM_BASE64 } from './kernels-wasm.js';

export interface SimdKernels {
  memory: WebAssembly.Memory;
  linear(x: number, M: number, K: number, w: number, N: number, b: number, y: number): void;
  layer_norm(x: number, y: number, M: number, K: number, g: number, beta: number, eps: number): void;
  gelu(y: number, n: number): void;
  add(y: number, r: number, n: number): void;
  attention(
    qkv: number, kc: number, vc: number, out: number, scratch: number,
    R: number, n: number, H: number, hd: number, T: number, start: number, scales: number,
  ): void;
}

interface EmscriptenModule {
  asm?: { memory?: unknown };
  wasmExports?: { memory?: unknown };
  wasmMemory?: unknown;
}

let compiled: WebAssembly.Module | null | undefined;
const instances = new WeakMap<object, SimdKernels | null>();

function compile(): WebAssembly.Module | null {
  if (compiled === undefined) {
    try {
      const bin = atob(KERNELS_WASM_BASE64);
      const bytes = new Uint8Array(bin.length);
      for (let i = 0; i < bin.length; i++) bytes[i] = bin.charCodeAt(i);
      compiled = new WebAssembly.Module(bytes);
    } catch {
      compiled = null; // no WebAssembly SIMD here
    }
  }
  return compiled;
}

/** The backend's WebAssembly.Memory (the emscripten module's exported memory). */
export function backendWasmMemory(backend: object): WebAssembly.Memory | null {
  const m = (backend as { wasm?: EmscriptenModule }).wasm;
  const memory = m?.asm?.memory ?? m?.wasmExports?.memory ?? m?.wasmMemory;
  return memory instanceof WebAssembly.Memory ? memory : null;
}

/** The SIMD kernels over a wasm backend's memory, or null. */
export function simdKernels(backend: object): SimdKernels | null {
  let k = instances.get(backend);
  if (k === undefined) {
    const memory = backendWasmMemory(backend);
    const mod = memory ? compile() : null;
    k = mod && memory ? { ...(new WebAssembly.Instance(mod, { env: { memory } }).exports as unknown as SimdKernels), memory } : null;
    instances.set(backend, k);
  }
  return k;
}
