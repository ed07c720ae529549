import { describe, expect, it } from 'vitest';
import { tf } from '@tarflow/tensor';
import { FUSED_KERNELS, fusedSupport, registerFusedKernels, WEBGPU_REQUIREMENTS } from '../src/index.js';
import { webgpuShortfall } from '../src/webgpu/support.js';
import { attentionProgram, linearProgram } from '../src/webgpu/programs.js';

/** WebGPU's default limits (the spec's), which every conforming device offers. */
const DEFAULT_LIMITS = {
  maxComputeWorkgroupSizeX: 256,
  maxComputeInvocationsPerWorkgroup: 256,
  maxStorageBuffersPerShaderStage: 8,
  maxComputeWorkgroupStorageSize: 16384,
  maxComputeWorkgroupsPerDimension: 65535,
};
const fakeBackend = (limits: Record<string, number>) => ({ runWebGPUProgram: () => null, device: { limits } });

describe('fused kernels on webgpu: registration and device check', () => {
  it('registers the four kernels for webgpu', () => {
    registerFusedKernels();
    for (const k of FUSED_KERNELS) expect(tf.getKernel(k, 'webgpu'), k).toBeDefined();
  });

  it("WebGPU's default limits meet every requirement", () => {
    expect(Object.keys(WEBGPU_REQUIREMENTS).sort()).toEqual(Object.keys(DEFAULT_LIMITS).sort());
    expect(webgpuShortfall(fakeBackend(DEFAULT_LIMITS))).toBeNull();
  });

  it('names each limit that falls short, and a backend without runWebGPUProgram', () => {
    const low = webgpuShortfall(fakeBackend({ ...DEFAULT_LIMITS, maxComputeWorkgroupStorageSize: 4096, maxStorageBuffersPerShaderStage: 4 }));
    expect(low).toMatch(/maxComputeWorkgroupStorageSize 4096 < \d+/);
    expect(low).toMatch(/maxStorageBuffersPerShaderStage 4 < 7/);
    expect(webgpuShortfall({})).toMatch(/runWebGPUProgram/);
    expect(webgpuShortfall(null)).toMatch(/runWebGPUProgram/);
  });

  // A process with tfjs' WebGPU backend registered checks its device instead (the browser suite of @tarflow/webgpu-tests).
  it.skipIf(!!tf.engine().registryFactory.webgpu)('is not supported where no webgpu backend is registered (the model then samples on plain ops)', () => {
    const s = fusedSupport('webgpu');
    expect(s.ok).toBe(false);
    if (!s.ok) expect(s.reason).toMatch(/'webgpu' backend is not registered/);
  });

  it('linear programs bake whole numbers for every row count', () => {
    for (let M = 1; M <= 40; M++) {
      const code = linearProgram({ M, K: 128, N: 384, norm: true, gelu: false, residual: false }).getUserCode();
      for (const [, name, value] of code.matchAll(/^const (\w+) = ([^;]+);/gm)) expect(Number.isInteger(Number(value)), `M = ${M}: ${name} = ${value}`).toBe(true);
    }
  });

  it("the programs' workgroup memory fits the required limit", () => {
    const floats = (code: string) =>
      [...code.matchAll(/var<workgroup> \w+ : array<([^,]+), (\d+)>/g)].reduce((a, m) => a + Number(m[2]) * (m[1].includes('vec4') ? 4 : m[1].includes('vec2') ? 2 : 1), 0);
    const shapes = [
      { M: 1, K: 128, N: 384 },
      { M: 280, K: 128, N: 512 },
      { M: 70, K: 2048, N: 512 },
      { M: 3, K: 130, N: 7 },
    ];
    for (const s of shapes) {
      const code = linearProgram({ ...s, norm: true, gelu: true, residual: true }).getUserCode();
      expect(floats(code) * 4, JSON.stringify(s)).toBeLessThanOrEqual(WEBGPU_REQUIREMENTS.maxComputeWorkgroupStorageSize);
    }
    for (const T of [16, 36, 256, 1024]) {
      const code = attentionProgram({ R: 2, H: 4, T, hd: 64, n: 1 }).getUserCode();
      expect(floats(code) * 4, `T = ${T}`).toBeLessThanOrEqual(WEBGPU_REQUIREMENTS.maxComputeWorkgroupStorageSize);
    }
  });
});
