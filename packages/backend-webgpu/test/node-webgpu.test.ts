/**
 * WebGPU in Node through Dawn. Where Dawn finds no adapter (no GPU, or no
 * Vulkan loader/driver) the device tests are skipped with the reason in their
 * name; the reporting itself is always tested.
 */
import { describe, expect, it } from 'vitest';
import { tf } from '@tarflow/tensor';
import { DAWN_MISSING, dawnInstalled, dawnLoadError, diagnoseVulkan, findVulkanLoader, initWebGPU, probeAdapter, probeWebGPU, WebGPUUnavailableError } from '../src/node.js';

const probe = await probeWebGPU();
const skipReason = probe.available ? '' : ` — skipped: no WebGPU adapter in Node (${probe.reason})`;
if (!probe.available) console.warn(`[backend-webgpu] Node WebGPU device tests skipped: ${probe.reason}`);

describe('adapter reporting', () => {
  it('reports an adapter or the reason there is none', () => {
    if (probe.available) {
      expect(probe.adapterName.length).toBeGreaterThan(0);
    } else {
      expect(probe.reason).toMatch(/requestAdapter\(\) found no adapter|Dawn addon|Dawn was not started: no Vulkan loader/);
    }
  });

  it.runIf(process.platform === 'linux' && !findVulkanLoader())('without a Vulkan loader, Dawn is not started (it could offer no adapter and only printed Vulkan warnings)', async () => {
    const r = await probeWebGPU();
    expect(r.available).toBe(false);
    // checkDawnCanStart throws this before the Dawn addon is loaded
    if (!r.available) expect(r.reason).toMatch(/^Dawn was not started: no Vulkan loader \(libvulkan\.so\.1\) found/);
    await expect(initWebGPU()).rejects.toThrow(/Dawn was not started/);
  });

  it.runIf(process.platform === 'linux')('diagnoses the Vulkan loader and drivers on Linux', () => {
    const none = diagnoseVulkan({ LD_LIBRARY_PATH: '', VK_ICD_FILENAMES: '/nonexistent/icd.json' });
    expect(none).toMatch(/no Vulkan driver manifests \(ICD json\) found/);
    expect(diagnoseVulkan()).toMatch(/Vulkan loader|no Vulkan loader/);
  });

  it('probeAdapter describes the adapter found, gives the reason where there is none, and passes other errors on', async () => {
    const adapter = { info: { vendor: 'acme', architecture: 'rdna', device: '', description: 'Test GPU' } } as unknown as GPUAdapter;
    expect(await probeAdapter(async () => adapter)).toEqual({
      available: true,
      adapter: { vendor: 'acme', architecture: 'rdna', device: '', description: 'Test GPU' },
      adapterName: 'acme rdna (Test GPU)',
    });
    expect(await probeAdapter(async () => Promise.reject(new WebGPUUnavailableError('no adapter here')))).toEqual({ available: false, reason: 'no adapter here' });
    await expect(probeAdapter(async () => Promise.reject(new Error('bug')))).rejects.toThrow('bug');
  });

  it('errors say what is missing', () => {
    const e = new WebGPUUnavailableError('navigator.gpu.requestAdapter() found no adapter');
    expect(e.message).toBe('WebGPU is unavailable: navigator.gpu.requestAdapter() found no adapter');
  });
});

describe.skipIf(!probe.available)(`tfjs on Node WebGPU${probe.available ? ` (${probe.adapterName})` : skipReason}`, () => {
  it('activates the backend on the adapter and reads synchronously', async () => {
    const info = await initWebGPU();
    expect(tf.getBackend()).toBe('webgpu');
    expect(info.runtime).toBe('node');
    expect(info.syncReadback).toBe(true);
    // Values made on the GPU (no CPU copy), read with dataSync.
    const x = tf.add(tf.fill([3, 5], 2.5), tf.range(0, 15).reshape([3, 5]));
    expect(Array.from(x.dataSync())).toEqual(Array.from({ length: 15 }, (_, i) => 2.5 + i));
    const finite = tf.all(tf.isFinite(tf.div(x, tf.scalar(2))));
    expect(finite.dataSync()[0]).toBe(1);
    const nan = tf.any(tf.isNaN(tf.sqrt(tf.sub(x, 100))));
    expect(nan.dataSync()[0]).toBe(1);
    const ints = tf.add(tf.fill([4], 7, 'int32'), tf.scalar(1, 'int32'));
    expect(Array.from(ints.dataSync())).toEqual([8, 8, 8, 8]);
    tf.dispose([x, finite, nan, ints]);
  });

  it('reduces small CPU-resident tensors on the CPU, and everything else on the GPU', () => {
    const b = tf.backend() as unknown as { tensorMap: { get(id: object): { values: unknown } } };
    const labels = tf.tensor1d([3, -1, 0, 2], 'int32');
    const lo = tf.min(labels);
    const hi = tf.max(labels);
    expect(b.tensorMap.get(lo.dataId)!.values).not.toBeNull(); // stayed CPU-side: no GPU read below
    expect([lo.dataSync()[0], hi.dataSync()[0]]).toEqual([-1, 3]);
    const onGpu = tf.add(tf.fill([2, 3], 1.5), tf.tensor2d([[0, 1, 2], [3, 4, 5]]));
    const rowMax = tf.max(onGpu, 1);
    expect(Array.from(rowMax.dataSync())).toEqual([3.5, 6.5]);
    expect(tf.all(tf.greater(onGpu, 1)).dataSync()[0]).toBe(1);
    expect(tf.any(tf.less(labels, -1)).dataSync()[0]).toBe(0);
    tf.dispose([labels, lo, hi, onGpu, rowMax]);
  });
});

describe('Dawn is an optional peer dependency', () => {
  it('is found where it is installed (as here)', () => {
    expect(dawnInstalled()).toBe(true);
  });

  it('a missing `webgpu` package is reported in one line naming what to install', () => {
    const e = Object.assign(new Error("Cannot find package 'webgpu' imported from /app/node_modules/@tarflow/backend-webgpu/dist/node.js"), { code: 'ERR_MODULE_NOT_FOUND' });
    expect(dawnLoadError(e)).toBe(DAWN_MISSING);
    expect(DAWN_MISSING).toMatch(/npm install webgpu$/);
    expect(DAWN_MISSING).not.toContain('\n');
    const other = Object.assign(new Error('libvulkan.so.1: cannot open shared object file'), { code: 'ERR_DLOPEN_FAILED' });
    expect(dawnLoadError(other)).toMatch(/^the Dawn addon \(npm package 'webgpu'\) did not load on .*: libvulkan\.so\.1/);
  });
});
