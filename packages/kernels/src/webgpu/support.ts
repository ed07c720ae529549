/**
 * What the WebGPU programs need of a device, checked against its limits
 * (GPUDevice.limits of the device tfjs' WebGPU backend runs on). WebGPU's
 * default limits meet every one; a device created with lower ones does not.
 */
import { WORKGROUP, type WebGPUBackendLike } from './program.js';
import { ATTENTION_TILE, LINEAR_STAGE } from './programs.js';

/** Limit name → the least value the programs need. */
export const WEBGPU_REQUIREMENTS: Readonly<Record<string, number>> = {
  maxComputeWorkgroupSizeX: WORKGROUP,
  maxComputeInvocationsPerWorkgroup: WORKGROUP,
  // linear: x, weight, bias, LayerNorm weight and bias, residual, and the output
  maxStorageBuffersPerShaderStage: 7,
  // linear: staged rows and their LayerNorm statistics; attention: a tile of scores
  maxComputeWorkgroupStorageSize: Math.max(LINEAR_STAGE + 2 * 16, ATTENTION_TILE) * 4,
  // one workgroup per head, position and row; rows are split over y and z beyond this
  maxComputeWorkgroupsPerDimension: 65535,
};

/** Why the WebGPU programs cannot run on this backend instance, or null when they can. */
export function webgpuShortfall(backend: object | null): string | null {
  const b = backend as Partial<WebGPUBackendLike> | null;
  if (!b || typeof b.runWebGPUProgram !== 'function') return "the 'webgpu' backend does not expose runWebGPUProgram (tfjs-backend-webgpu 4.x)";
  const limits = b.device?.limits;
  if (!limits) return "the 'webgpu' backend has no device limits to check";
  const short = Object.entries(WEBGPU_REQUIREMENTS).filter(([name, need]) => !(Number(limits[name]) >= need));
  if (short.length > 0) return `the WebGPU device's limits are below what the kernels need: ${short.map(([name, need]) => `${name} ${limits[name]} < ${need}`).join(', ')}`;
  return null;
}
