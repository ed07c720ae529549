/**
 * @tarflow/backend-webgpu for Node (the package's "node" export condition):
 * navigator.gpu comes from Dawn through the npm package `webgpu`, and
 * tensor.dataSync() is made to work (see sync-readback.ts).
 */
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { delimiter, join } from 'node:path';
import { createRequire } from 'node:module';
import {
  activateWebGPU,
  probeAdapter,
  requestAdapter,
  WebGPUUnavailableError,
  type InitWebGPUOptions,
  type WebGPUInfo,
  type WebGPUProbe,
} from './common.js';
import { enableSyncReadback, hookDawnEventProcessing } from './sync-readback.js';

export * from './common.js';
export { CPU_REDUCTION_KERNELS, installCpuReductions } from './cpu-reductions.js';
export { enableSyncReadback, hookDawnEventProcessing, isDawnTick, runPendingDawnTicks, syncReadStats, waitForMapping } from './sync-readback.js';

export interface NodeWebGPUOptions extends InitWebGPUOptions {
  /**
   * Options for Dawn's `create()` (e.g. 'backend=vulkan', 'adapter=NVIDIA');
   * default: the comma-separated TARFLOW_DAWN_OPTIONS environment variable, else none.
   */
  dawnOptions?: string[];
  /**
   * Start Dawn on Linux even when no Vulkan loader (libvulkan.so.1) is found
   * (default false: without one Dawn has no adapter to offer and only prints
   * Vulkan warnings, so it is not started and the reason says so).
   */
  skipLoaderCheck?: boolean;
}

/** How initWebGPU reports the Node readback workaround. */
export const SYNC_READBACK_WORKAROUND =
  'dataSync() reads through a mapped staging buffer, running Dawn event processing in place (tfjs reads through OffscreenCanvas, which Node lacks)';

let dawnGPU: GPU | null = null;
let dawnError: string | null = null;

function dawnOptionsFromEnv(): string[] {
  const raw = process.env.TARFLOW_DAWN_OPTIONS;
  return raw ? raw.split(',').map((s) => s.trim()).filter(Boolean) : [];
}

/**
 * navigator.gpu backed by Dawn (loaded once), also installed as
 * globalThis.navigator.gpu with the WebGPU globals (GPUBufferUsage, …) that
 * tfjs expects. Throws WebGPUUnavailableError if the addon cannot load.
 */
export async function loadDawn(dawnOptions: string[] = dawnOptionsFromEnv()): Promise<GPU> {
  if (dawnGPU) return dawnGPU;
  if (dawnError) throw new WebGPUUnavailableError(dawnError);
  // Before Dawn can schedule anything: lets dataSync() wait for mappings.
  hookDawnEventProcessing();
  let mod: { create(options: string[]): GPU; globals: object };
  try {
    mod = (await import('webgpu')) as typeof mod;
  } catch (e) {
    dawnError = dawnLoadError(e as NodeJS.ErrnoException);
    throw new WebGPUUnavailableError(dawnError);
  }
  for (const [k, v] of Object.entries(mod.globals)) {
    if (!(k in globalThis)) Object.defineProperty(globalThis, k, { value: v, configurable: true, writable: true });
  }
  const gpu = mod.create(dawnOptions);
  const nav = (globalThis as { navigator?: object }).navigator;
  if (nav) Object.defineProperty(nav, 'gpu', { value: gpu, configurable: true });
  else Object.defineProperty(globalThis, 'navigator', { value: { gpu }, configurable: true, writable: true });
  dawnGPU = gpu;
  return gpu;
}

/** The reason given when the npm package `webgpu` is not installed. */
export const DAWN_MISSING = "WebGPU in Node needs Dawn, the npm package 'webgpu', which is not installed: npm install webgpu";

/**
 * Whether the npm package `webgpu` (Dawn, ~130 MB) can be found. It is an
 * optional peer dependency, installed only by those who run WebGPU in Node.
 */
export function dawnInstalled(): boolean {
  try {
    createRequire(import.meta.url).resolve('webgpu');
    return true;
  } catch {
    return false;
  }
}

/** Why Dawn did not load: one line naming the package to install when it is missing. */
export function dawnLoadError(e: NodeJS.ErrnoException): string {
  const missing = e?.code === 'ERR_MODULE_NOT_FOUND' && /['"]webgpu['"]/.test(e.message ?? '');
  if (missing) return DAWN_MISSING;
  return `the Dawn addon (npm package 'webgpu') did not load on ${process.platform}-${process.arch}: ${e?.message ?? String(e)}`;
}

function splitPath(v: string | undefined): string[] {
  return (v ?? '').split(delimiter).filter(Boolean);
}

/** Where the Vulkan loader (libvulkan.so.1) is: a library folder, 'the ld.so cache', or null (Linux). */
export function findVulkanLoader(env: NodeJS.ProcessEnv = process.env): string | null {
  const libDirs = [
    ...splitPath(env.LD_LIBRARY_PATH),
    '/usr/lib/x86_64-linux-gnu',
    '/lib/x86_64-linux-gnu',
    '/usr/lib/aarch64-linux-gnu',
    '/usr/lib64',
    '/usr/lib',
    '/usr/local/lib',
  ];
  const dir = libDirs.find((d) => existsSync(join(d, 'libvulkan.so.1')));
  if (dir) return dir;
  try {
    if (existsSync('/etc/ld.so.cache') && readFileSync('/etc/ld.so.cache').includes('libvulkan.so.1')) return 'the ld.so cache';
  } catch {
    // unreadable cache: report the loader as not found
  }
  return null;
}

/**
 * On Linux, Dawn reaches GPUs only through the Vulkan loader; without one it
 * has no adapter to offer and prints Vulkan warnings when started. Throws the
 * reason instead of starting it (unless `skipLoaderCheck`).
 */
function checkDawnCanStart(options: NodeWebGPUOptions): void {
  if (!dawnInstalled()) throw new WebGPUUnavailableError(DAWN_MISSING);
  if (process.platform !== 'linux' || options.skipLoaderCheck || findVulkanLoader()) return;
  throw new WebGPUUnavailableError(`Dawn was not started: ${diagnoseVulkan()}`);
}

/**
 * Why Dawn may see no adapter on Linux: whether the Vulkan loader
 * (libvulkan.so.1) and any Vulkan driver manifests can be found. Returns ''
 * elsewhere.
 */
export function diagnoseVulkan(env: NodeJS.ProcessEnv = process.env): string {
  if (process.platform !== 'linux') return '';
  const loader = findVulkanLoader(env);
  const explicit = [...splitPath(env.VK_DRIVER_FILES), ...splitPath(env.VK_ICD_FILENAMES)];
  let icds: string[];
  if (explicit.length > 0) {
    icds = explicit.filter((f) => existsSync(f));
  } else {
    const dataDirs = [...splitPath(env.XDG_DATA_DIRS), '/usr/local/share', '/usr/share', '/etc'];
    icds = [];
    for (const d of dataDirs) {
      const dir = join(d, 'vulkan', 'icd.d');
      if (!existsSync(dir)) continue;
      try {
        for (const f of readdirSync(dir)) if (f.endsWith('.json')) icds.push(f);
      } catch {
        // unreadable directory: skip it
      }
    }
  }
  const nvidia = existsSync('/proc/driver/nvidia/version');
  const parts = [
    loader ? `Vulkan loader found in ${loader}` : 'no Vulkan loader (libvulkan.so.1) found',
    icds.length > 0 ? `Vulkan driver manifests: ${[...new Set(icds)].join(', ')}` : 'no Vulkan driver manifests (ICD json) found',
    nvidia ? 'an NVIDIA kernel driver is loaded' : 'no NVIDIA kernel driver',
  ];
  return parts.join('; ');
}

/** Whether Node has a WebGPU adapter, without touching tfjs. */
export async function probeWebGPU(options: NodeWebGPUOptions = {}): Promise<WebGPUProbe> {
  return probeAdapter(async () => {
    const existing = (globalThis as { navigator?: { gpu?: GPU } }).navigator?.gpu;
    if (!existing) checkDawnCanStart(options);
    const gpu = existing ?? (await loadDawn(options.dawnOptions));
    return requestAdapter(gpu, options, diagnoseVulkan());
  });
}

/**
 * Sets up tfjs' WebGPU backend in Node on Dawn's adapter (or on an existing
 * navigator.gpu) and makes it the active backend. Throws
 * WebGPUUnavailableError naming the reason when there is no adapter.
 */
export async function initWebGPU(options: NodeWebGPUOptions = {}): Promise<WebGPUInfo> {
  const existing = (globalThis as { navigator?: { gpu?: GPU } }).navigator?.gpu;
  const usesDawn = !existing || existing === dawnGPU;
  if (!existing) checkDawnCanStart(options);
  const gpu = existing ?? (await loadDawn(options.dawnOptions));
  const adapter = await requestAdapter(gpu, options, usesDawn ? diagnoseVulkan() : '');
  const { info, backend } = await activateWebGPU(adapter, 'node');
  if (!usesDawn) return info;
  enableSyncReadback(backend);
  return { ...info, syncReadback: true, workarounds: [...info.workarounds, SYNC_READBACK_WORKAROUND] };
}
