/**
 * Synchronous GPU → CPU reads (tensor.dataSync()) for tfjs' WebGPU backend
 * under Dawn in Node.
 *
 * tfjs reads a GPU tensor synchronously by drawing it through an
 * OffscreenCanvas, which exists in browsers only; in Node its readSync throws
 * "OffscreenCanvas is not defined". TarFlow's solvers read small values
 * synchronously (each Jacobi residual, the finiteness checks), so without this
 * no sampler runs on Node WebGPU.
 *
 * dawn.node completes a buffer mapping (mapAsync) inside its own
 * event-processing callback, which it schedules with `globalThis.setImmediate`
 * whenever an asynchronous operation is pending (its AsyncRunner). We wrap
 * setImmediate before Dawn is loaded, keep those callbacks aside (they are the
 * only argument-less, anonymous native functions passed to it), and, while a
 * read waits for its staging buffer, run them in place: the mapping completes
 * without returning to the event loop, exactly as the loop would have
 * completed it. Every other setImmediate call passes through untouched, and
 * kept callbacks still run from the loop when no read runs them first.
 */

/** Dawn's event-processing callbacks scheduled and not yet run. */
const pendingTicks = new Set<() => void>();
let hooked = false;

/** True for the callbacks dawn.node schedules (anonymous native functions taking no arguments). */
export function isDawnTick(fn: unknown): fn is () => void {
  return (
    typeof fn === 'function' &&
    fn.name === '' &&
    fn.length === 0 &&
    /\{\s*\[native code\]\s*\}\s*$/.test(Function.prototype.toString.call(fn))
  );
}

/**
 * Wraps globalThis.setImmediate so Dawn's event-processing callbacks can be
 * run on demand. Must run before dawn.node schedules anything (that is,
 * before its first asynchronous call). Idempotent.
 */
export function hookDawnEventProcessing(): void {
  if (hooked) return;
  hooked = true;
  const real = globalThis.setImmediate;
  // One real immediate at a time runs every kept callback: a read that spins
  // on Dawn's events makes Dawn reschedule on each turn, and queueing a real
  // immediate for each of those would pile up millions of them.
  let flushQueued = false;
  const flush = () => {
    flushQueued = false;
    runPendingDawnTicks();
  };
  const wrapped = function setImmediate(fn: (...a: unknown[]) => void, ...args: unknown[]) {
    if (args.length === 0 && isDawnTick(fn)) {
      pendingTicks.add(fn);
      if (!flushQueued) {
        flushQueued = true;
        real(flush);
      }
      // dawn.node ignores the handle; there is no individual immediate to return.
      return undefined;
    }
    return real(fn, ...args);
  };
  // Keep setImmediate's own properties (util.promisify.custom among them).
  for (const key of Reflect.ownKeys(real)) {
    if (key === 'length' || key === 'name' || key === 'prototype') continue;
    const d = Object.getOwnPropertyDescriptor(real, key);
    if (d) Object.defineProperty(wrapped, key, d);
  }
  globalThis.setImmediate = wrapped as unknown as typeof globalThis.setImmediate;
}

/** Runs Dawn's pending event-processing callbacks now; returns how many ran. */
export function runPendingDawnTicks(): number {
  const fns = [...pendingTicks];
  pendingTicks.clear();
  for (const fn of fns) fn();
  return fns.length;
}

/** How long a read polls Dawn's events flat out before sleeping between polls (ms). */
const SPIN_MS = 1;
/** Longest sleep between polls (ms). */
const MAX_NAP_MS = 0.5;

/** Longest a synchronous read waits for the GPU before giving up. */
export const SYNC_READ_TIMEOUT_MS = 120_000;

/**
 * Blocks until `buffer` (whose mapAsync was just called) is mapped, by running
 * Dawn's event processing in place. Throws naming the problem if Dawn
 * scheduled nothing to run, the mapping failed, or it took too long.
 */
const sleeper = new Int32Array(new SharedArrayBuffer(4));

/** Accumulated time spent waiting in synchronous reads, and their count. */
export const syncReadStats = { reads: 0, waitMs: 0 };

export function waitForMapping(buffer: GPUBuffer, timeoutMs = SYNC_READ_TIMEOUT_MS): void {
  const t0 = performance.now();
  syncReadStats.reads += 1;
  let nap = 0.05;
  while (buffer.mapState === 'pending') {
    // Poll flat out briefly (a GPU answers within microseconds), then yield the
    // core between polls: a software adapter computes on this same CPU.
    if (performance.now() - t0 > SPIN_MS) {
      Atomics.wait(sleeper, 0, 0, nap);
      nap = Math.min(MAX_NAP_MS, nap * 2);
    }
    if (runPendingDawnTicks() === 0) {
      throw new Error(
        'synchronous WebGPU readback is unavailable: dawn.node scheduled no event processing to run ' +
          '(was @tarflow/backend-webgpu/node loaded before the first WebGPU call?); read tensors with `await tensor.data()` instead',
      );
    }
    if (performance.now() - t0 > timeoutMs) {
      throw new Error(`synchronous WebGPU readback timed out after ${timeoutMs} ms waiting for the GPU`);
    }
  }
  if (buffer.mapState !== 'mapped') {
    throw new Error('synchronous WebGPU readback failed: the staging buffer could not be mapped (device lost or a validation error)');
  }
  syncReadStats.waitMs += performance.now() - t0;
}

/** The internals of tfjs' WebGPUBackend that a read touches (tfjs-backend-webgpu 4.22). */
interface WebGPUBackendInternals {
  tensorMap: { get(dataId: object): { values: unknown; dtype: string; resource: unknown } | undefined };
  bufferManager: { acquireBuffer(size: number, usage: number): GPUBuffer; releaseBuffer(b: GPUBuffer): void };
  commandEncoder: GPUCommandEncoder;
  ensureCommandEncoderReady(): void;
  endComputePassEncoder(): void;
  submitQueue(): void;
  convertAndCacheOnCPU(dataId: object, values: unknown): unknown;
  readSync(dataId: object): unknown;
}

function fromBytes(bytes: ArrayBuffer, dtype: string): Float32Array | Int32Array | Uint8Array {
  if (dtype === 'float32') return new Float32Array(bytes);
  if (dtype === 'int32') return new Int32Array(bytes);
  if (dtype === 'bool') return Uint8Array.from(new Int32Array(bytes));
  throw new Error(`synchronous WebGPU readback: unsupported dtype ${dtype}`);
}

/**
 * Replaces `backend.readSync` (a tfjs WebGPUBackend instance) with a read
 * through a mapped staging buffer that waits synchronously (see above);
 * CPU-resident and complex tensors keep tfjs' own path.
 */
export function enableSyncReadback(backend: unknown): void {
  const b = backend as WebGPUBackendInternals;
  for (const m of ['tensorMap', 'bufferManager', 'ensureCommandEncoderReady', 'endComputePassEncoder', 'submitQueue', 'convertAndCacheOnCPU'] as const) {
    if (!(m in b)) {
      throw new Error(`enableSyncReadback: the tfjs WebGPU backend has no '${m}' (this workaround targets tfjs-backend-webgpu 4.22)`);
    }
  }
  const original = b.readSync.bind(b);
  b.readSync = function readSync(dataId: object) {
    const data = b.tensorMap.get(dataId);
    if (!data) throw new Error('readSync: tensor is not registered with the WebGPU backend (disposed?)');
    if (data.values != null || data.dtype === 'string' || data.dtype === 'complex64') return original(dataId);
    const resource = data.resource as GPUBuffer | null;
    if (!resource || typeof (resource as GPUBuffer).size !== 'number') {
      throw new Error('synchronous WebGPU readback: the tensor is not held in a GPU buffer');
    }
    const size = resource.size;
    const staging = b.bufferManager.acquireBuffer(size, GPUBufferUsage.COPY_DST | GPUBufferUsage.MAP_READ);
    b.ensureCommandEncoderReady();
    b.endComputePassEncoder();
    b.commandEncoder.copyBufferToBuffer(resource, 0, staging, 0, size);
    b.submitQueue();
    // The outcome is read from mapState; the promise itself only needs a handler.
    staging.mapAsync(GPUMapMode.READ).catch(() => undefined);
    let bytes: ArrayBuffer;
    try {
      waitForMapping(staging);
      bytes = staging.getMappedRange().slice(0);
      staging.unmap();
    } catch (e) {
      // A buffer whose mapping never settled cannot go back to tfjs' pool.
      if (staging.mapState === 'mapped') staging.unmap();
      if (staging.mapState === 'pending') staging.destroy();
      else b.bufferManager.releaseBuffer(staging);
      throw e;
    }
    b.bufferManager.releaseBuffer(staging);
    return b.convertAndCacheOnCPU(dataId, fromBytes(bytes, data.dtype));
  };
}
