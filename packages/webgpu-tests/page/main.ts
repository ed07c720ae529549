/**
 * The test page: bundled by esbuild, served from 127.0.0.1, driven by
 * test/browser-webgpu.test.ts through window.tarflowTest. It sets up tfjs'
 * WebGPU backend, fetches the fixture files from the test server and runs
 * the conformance cases, returning raw outputs for the Node side to compare.
 */
import { tf } from '@tarflow/tensor';
import { initWebGPU, type WebGPUInfo } from '@tarflow/backend-webgpu';
import type { SamplingEngine } from '@tarflow/model';
import { caseNames, FixtureSession, type CaseResult, type FixtureFiles } from '../src/cases.js';
import { forbidSyncGpuReads } from './no-sync-reads.js';

const sessions = new Map<string, FixtureSession>();

async function fetchOk(path: string): Promise<Response> {
  const res = await fetch(path);
  if (!res.ok) throw new Error(`GET ${path}: HTTP ${res.status}`);
  return res;
}

async function session(name: string): Promise<FixtureSession> {
  let s = sessions.get(name);
  if (!s) {
    const base = `/fixtures/${encodeURIComponent(name)}`;
    const [spec, checkpoint, expected] = await Promise.all([
      fetchOk(`${base}.json`).then((r) => r.json()),
      fetchOk(`${base}.safetensors`).then((r) => r.arrayBuffer()),
      fetchOk(`${base}.expected.safetensors`).then((r) => r.arrayBuffer()),
    ]);
    const files: FixtureFiles = { name, spec, checkpoint: new Uint8Array(checkpoint), expected: new Uint8Array(expected) };
    s = new FixtureSession(files);
    sessions.set(name, s);
  }
  return s;
}

const api = {
  /**
   * Sets up WebGPU; resolves to what was found (or rejects with the reason).
   * Synchronous GPU reads then fail loudly (no-sync-reads.ts).
   */
  init: async (): Promise<WebGPUInfo> => {
    const info = await initWebGPU();
    forbidSyncGpuReads();
    return info;
  },
  /** The case names of a fixture. */
  cases: async (name: string): Promise<string[]> => caseNames((await session(name)).files.spec),
  /** Runs one case of a fixture (sampling cases on `engine`, by default the model's 'auto'). */
  run: async (name: string, c: string, engine?: SamplingEngine): Promise<CaseResult> => (await session(name)).run(c, engine),
  /** The kernels of the fixture's sequential sample on `engine` (tf.profile). */
  kernelProfile: async (name: string, engine: SamplingEngine) => (await session(name)).kernelProfile(engine),
  /** Live tensors after each of `repeats` sequential samples on `engine` (constant when nothing leaks). */
  tensorsAfterSampling: async (name: string, engine: SamplingEngine, repeats: number): Promise<number[]> => {
    const s = await session(name);
    const counts: number[] = [];
    for (let i = 0; i < repeats; i++) {
      await s.run('sequential', engine);
      counts.push(tf.memory().numTensors);
    }
    return counts;
  },
  /** Frees a fixture's model. */
  release: (name: string): void => {
    sessions.get(name)?.dispose();
    sessions.delete(name);
  },
  /** Live tensors, for leak checks. */
  numTensors: (): number => tf.memory().numTensors,
};

declare global {
  interface Window {
    tarflowTest: typeof api;
  }
}
window.tarflowTest = api;
document.title = 'tarflow webgpu tests: ready';
