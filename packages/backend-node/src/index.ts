/**
 * @tarflow/backend-node — the CPU backends TarFlow uses in Node: tfjs' wasm
 * backend (SIMD where the runtime validates it) or its plain JavaScript cpu
 * backend, reporting which one it set up and why.
 *
 * Threads: tfjs-backend-wasm 4.22 switches its threaded build off under Node
 * (its WASM_HAS_MULTITHREAD_SUPPORT flag is false whenever IS_NODE), and
 * forcing it on fails — Emscripten starts its workers from a blob: URL, which
 * Node's worker_threads refuses. So the wasm backend runs on one thread in
 * Node; browsers that are cross-origin isolated get the threaded build.
 */
import { patchWasmMatMul, tf } from '@tarflow/tensor';

export type NodeBackendName = 'wasm' | 'cpu';

/** What was set up. */
export interface NodeBackendInfo {
  backend: NodeBackendName;
  /** wasm: whether the SIMD build runs. */
  simd: boolean;
  /** Threads the backend computes on. */
  threads: number;
  /** One line for logs, e.g. "wasm (SIMD, 1 thread)". */
  summary: string;
  /** Facts worth reporting: why threads are off, why wasm was not used, … */
  notes: string[];
}

/** Thrown when the requested backend cannot be set up; `reason` says why. */
export class NodeBackendError extends Error {
  constructor(
    readonly backend: NodeBackendName,
    readonly reason: string,
  ) {
    super(`tfjs backend '${backend}' is unavailable: ${reason}`);
    this.name = 'NodeBackendError';
  }
}

export const NODE_WASM_THREADS_NOTE =
  'wasm runs on one thread in Node: tfjs-backend-wasm 4.22 disables its threaded build there (Emscripten workers start from blob: URLs, which Node refuses)';

export interface WasmOptions {
  /** Use the SIMD build when the runtime supports it (default true). */
  simd?: boolean;
  /**
   * Folder holding tfjs-backend-wasm's .wasm files, for bundled programs whose
   * node_modules are gone (default: beside the installed package).
   */
  wasmDir?: string;
}

function summary(backend: NodeBackendName, simd: boolean, threads: number): string {
  if (backend === 'cpu') return 'cpu (JavaScript)';
  return `wasm (${simd ? 'SIMD' : 'no SIMD'}, ${threads} thread${threads === 1 ? '' : 's'})`;
}

/** Sets up and activates tfjs' wasm backend. Throws NodeBackendError saying why it cannot. */
export async function initWasm(options: WasmOptions = {}): Promise<NodeBackendInfo> {
  let wasm: typeof import('@tensorflow/tfjs-backend-wasm');
  try {
    wasm = await import('@tensorflow/tfjs-backend-wasm');
  } catch (e) {
    throw new NodeBackendError('wasm', `@tensorflow/tfjs-backend-wasm did not load: ${(e as Error).message}`);
  }
  if (typeof WebAssembly === 'undefined') throw new NodeBackendError('wasm', 'this runtime has no WebAssembly');
  if (options.simd === false) tf.env().set('WASM_HAS_SIMD_SUPPORT', false);
  if (options.wasmDir) wasm.setWasmPaths(options.wasmDir.endsWith('/') ? options.wasmDir : `${options.wasmDir}/`);
  let ok: boolean;
  try {
    ok = await tf.setBackend('wasm');
  } catch (e) {
    throw new NodeBackendError('wasm', `initialisation failed: ${(e as Error).message}`);
  }
  if (!ok) throw new NodeBackendError('wasm', 'tfjs could not initialise the wasm backend (see the warning tfjs printed above)');
  await tf.ready();
  // Transposed matrix products take a slow path in tfjs-backend-wasm 4.22;
  // every linear layer (x·Wᵀ) uses one (see @tarflow/tensor's patchWasmMatMul).
  patchWasmMatMul();
  const simd = Boolean(await tf.env().getAsync('WASM_HAS_SIMD_SUPPORT'));
  const threaded = Boolean(await tf.env().getAsync('WASM_HAS_MULTITHREAD_SUPPORT'));
  const threads = threaded ? wasm.getThreadsCount() : 1;
  const notes = threaded ? [] : [NODE_WASM_THREADS_NOTE];
  return { backend: 'wasm', simd, threads, summary: summary('wasm', simd, threads), notes };
}

/** Activates tfjs' plain JavaScript cpu backend (always available). */
export async function initCpu(): Promise<NodeBackendInfo> {
  const ok = await tf.setBackend('cpu');
  if (!ok) throw new NodeBackendError('cpu', 'tfjs could not initialise its cpu backend');
  await tf.ready();
  // The choice is reported here: no "install tfjs-node" hint from the cpu backend's first use.
  (tf.backend() as { firstUse?: boolean }).firstUse = false;
  return { backend: 'cpu', simd: false, threads: 1, summary: summary('cpu', false, 1), notes: [] };
}

/**
 * The best CPU backend: wasm unless it cannot start (then cpu, with the reason
 * in `notes`), or exactly the one named.
 */
export async function initNodeBackend(prefer: 'auto' | NodeBackendName = 'auto', options: WasmOptions = {}): Promise<NodeBackendInfo> {
  if (prefer === 'cpu') return initCpu();
  if (prefer === 'wasm') return initWasm(options);
  try {
    return await initWasm(options);
  } catch (e) {
    if (!(e instanceof NodeBackendError)) throw e;
    const info = await initCpu();
    return { ...info, notes: [`wasm was not used: ${e.reason}`] };
  }
}
