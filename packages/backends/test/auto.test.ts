/**
 * How 'auto' ranks a GPU that runs in software: simulated platforms (a
 * 'webgpu' backend that is tfjs' cpu backend under another name, adapters
 * described as the browser would) around the real wasm and cpu backends.
 */
import { describe, expect, it } from 'vitest';
import { tf } from '@tarflow/tensor';
import { probeStep, selectBackend, selectWith, softwareRenderer, type BackendInitializer, type BackendName } from '../src/node.js';

tf.registerBackend('webgpu', tf.findBackendFactory('cpu')!);
tf.copyRegisteredKernels('cpu', 'webgpu');

const swiftshader = { adapter: { vendor: 'google', architecture: 'swiftshader', device: '', description: 'SwiftShader device', isFallbackAdapter: true } };
const hardware = { adapter: { vendor: 'nvidia', architecture: 'hopper', device: '', description: 'NVIDIA H100' } };

function platform(adapterInfo: unknown): Record<BackendName, BackendInitializer> {
  return {
    webgpu: async () => {
      await tf.setBackend('webgpu');
      return { detail: 'simulated adapter', notes: [], info: adapterInfo };
    },
    webgl: async () => {
      throw new Error('WebGL exists in browsers only');
    },
    wasm: async () => {
      const s = await selectBackend('wasm');
      return { detail: s.detail, notes: s.notes, info: s.info };
    },
    cpu: async () => {
      await tf.setBackend('cpu');
      return { detail: 'cpu', notes: [], info: {} };
    },
  };
}

/** A probe step that waits longer on the simulated GPU, as a software adapter's round trips do. */
function slowOn(name: BackendName, calls: string[]) {
  return async () => {
    calls.push(tf.getBackend());
    await new Promise((resolve) => setTimeout(resolve, tf.getBackend() === name ? 300 : 0));
  };
}

describe("selectBackend 'auto' and software GPUs", () => {
  it('recognises fallback adapters and software renderers', () => {
    expect(softwareRenderer('webgpu', 'x', swiftshader)).toBe('a software fallback adapter (swiftshader)');
    expect(softwareRenderer('webgpu', 'x', hardware)).toBeNull();
    expect(softwareRenderer('webgl', 'WebGL 2 (ANGLE (Google, Vulkan 1.3.0 (SwiftShader Device (Subzero)), SwiftShader driver))', {})).toBe('a software renderer (SwiftShader)');
    expect(softwareRenderer('webgpu', 'llvmpipe (LLVM 15.0.6, 256 bits)', {})).toBe('a software renderer (llvmpipe)');
    expect(softwareRenderer('wasm', 'software', {})).toBeNull();
  });

  it('times a probe step where the only adapter is a software fallback, and takes wasm when it is faster', async () => {
    const calls: string[] = [];
    const s = await selectWith(platform(swiftshader), 'auto', { probe: slowOn('webgpu', calls) });
    expect(s.name).toBe('wasm');
    expect(tf.getBackend()).toBe('wasm');
    expect(new Set(calls)).toEqual(new Set(['webgpu', 'wasm']));
    expect(s.timings?.map((t) => t.name)).toEqual(['wasm', 'webgpu']);
    expect(s.reason).toMatch(/^the GPU here runs in software, so 'auto' timed a probe step: wasm .* ms, webgpu .* ms$/);
    expect(s.skipped.find((k) => k.name === 'webgpu')?.reason).toMatch(/^runs on a software fallback adapter \(swiftshader\); a probe step took .* ms vs .* ms on wasm$/);
  });

  it('keeps the software adapter when it is the faster one', async () => {
    const s = await selectWith(platform(swiftshader), 'auto', { probe: slowOn('wasm', []) });
    expect(s.name).toBe('webgpu');
    expect(tf.getBackend()).toBe('webgpu');
    expect(s.reason).toMatch(/^webgpu runs on a software fallback adapter \(swiftshader\) but was fastest in a probe step/);
  });

  it('takes a hardware adapter at once, without timing anything', async () => {
    const calls: string[] = [];
    const s = await selectWith(platform(hardware), 'auto', { probe: slowOn('webgpu', calls) });
    expect(s.name).toBe('webgpu');
    expect(calls).toEqual([]);
    expect(s.timings).toBeUndefined();
    expect(s.reason).toBe('webgpu is the first of webgpu → webgl → wasm → cpu');
  });

  it('runs the default probe step tidily', async () => {
    await tf.setBackend('cpu');
    const before = tf.memory().numTensors;
    await probeStep();
    expect(tf.memory().numTensors).toBe(before);
  });
});
