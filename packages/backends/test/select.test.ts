import { describe, expect, it } from 'vitest';
import { build } from 'esbuild';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { tf } from '@tarflow/tensor';
import { probeWebGPU } from '@tarflow/backend-webgpu/node';
import { BackendUnavailableError, describeSelection, parseBackendPreference, selectBackend, softwareRenderer } from '../src/node.js';

const here = dirname(fileURLToPath(import.meta.url));
const probe = await probeWebGPU();

describe('parseBackendPreference', () => {
  it('accepts the backend names and auto', () => {
    for (const n of ['auto', 'webgpu', 'webgl', 'wasm', 'cpu']) expect(parseBackendPreference(n)).toBe(n);
    expect(parseBackendPreference(' WASM ')).toBe('wasm');
  });
  it('names the valid choices when given something else', () => {
    expect(() => parseBackendPreference('cuda')).toThrow('unknown backend "cuda": expected one of auto, webgpu, webgl, wasm, cpu');
  });
});

describe('selectBackend in Node', () => {
  it('sets up exactly the backend named', async () => {
    const cpu = await selectBackend('cpu');
    expect(cpu.name).toBe('cpu');
    expect(tf.getBackend()).toBe('cpu');
    const wasm = await selectBackend('wasm');
    expect(wasm.name).toBe('wasm');
    expect(wasm.detail).toBe('wasm (SIMD, 1 thread)');
    expect(tf.getBackend()).toBe('wasm');
    expect(wasm.skipped).toEqual([]);
  });

  it('fails clearly when the named backend is unavailable', async () => {
    const err = await selectBackend('webgl').catch((e) => e);
    expect(err).toBeInstanceOf(BackendUnavailableError);
    expect(err.message).toBe("backend 'webgl' is unavailable: WebGL exists in browsers only");
  });

  it.runIf(!probe.available)('without a WebGPU adapter: --backend webgpu fails with the reason, auto falls back to wasm', async () => {
    const reason = probe.available ? '' : probe.reason;
    const err = await selectBackend('webgpu').catch((e) => e);
    expect(err).toBeInstanceOf(BackendUnavailableError);
    expect(err.message).toBe(`backend 'webgpu' is unavailable: ${reason}`);
    const auto = await selectBackend('auto');
    expect(auto.name).toBe('wasm');
    expect(auto.skipped.map((s) => s.name)).toEqual(['webgpu', 'webgl']);
    expect(auto.skipped[0].reason).toBe(reason);
    expect(describeSelection(auto)).toMatch(/^backend wasm: wasm \(SIMD, 1 thread\) \(skipped webgpu: .*; webgl: WebGL exists in browsers only\)$/);
  });

  const hardwareAdapter = probe.available && !softwareRenderer('webgpu', probe.adapterName, { adapter: probe.adapter });
  it.runIf(hardwareAdapter)('with a hardware WebGPU adapter: auto picks webgpu', async () => {
    const auto = await selectBackend('auto');
    expect(auto.name).toBe('webgpu');
    expect(auto.skipped).toEqual([]);
  });
});

describe('the browser entry', () => {
  it('bundles for the browser without Node code, Dawn or the Node backend package', async () => {
    const r = await build({
      entryPoints: [join(here, '..', 'src', 'browser.ts')],
      bundle: true,
      write: false,
      format: 'esm',
      platform: 'browser',
      metafile: true,
      logLevel: 'silent',
      outdir: join(here, '..', '.tmp', 'browser-bundle'),
      splitting: true,
    });
    const inputs = Object.keys(r.metafile.inputs);
    expect(inputs.some((p) => p.includes('backend-webgpu/src/index.ts') || p.includes('backend-webgpu/dist/index.js'))).toBe(true);
    const offending = inputs.filter((p) => /backend-node|backend-webgpu\/(src|dist)\/node|node_modules\/webgpu\/|^node:/.test(p));
    expect(offending).toEqual([]);
    const nodeImports = Object.values(r.metafile.outputs).flatMap((o) => o.imports.map((i) => i.path).filter((p) => p.startsWith('node:')));
    expect(nodeImports).toEqual([]);
  });
});
