/**
 * Finding and launching headless Chromium with a WebGPU adapter (software
 * SwiftShader where the machine has no GPU). Never downloads a browser: it
 * uses the system's (Debian's `chromium` package in CI), or the one named by
 * TARFLOW_CHROMIUM.
 */
import { existsSync } from 'node:fs';

/** Flags that give headless Chromium a WebGPU adapter on a machine without a GPU. */
export const CHROMIUM_WEBGPU_FLAGS = [
  '--headless',
  '--no-sandbox',
  '--disable-gpu-sandbox',
  '--no-first-run',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
  '--enable-unsafe-webgpu',
];

const CANDIDATES = ['/usr/bin/chromium', '/usr/bin/chromium-browser', '/usr/bin/google-chrome', '/usr/bin/google-chrome-stable'];

/** The Chromium executable to use, or null with the places searched. */
export function findChromium(env: NodeJS.ProcessEnv = process.env): { path: string } | { path: null; searched: string[] } {
  const searched = env.TARFLOW_CHROMIUM ? [env.TARFLOW_CHROMIUM] : CANDIDATES;
  const path = searched.find((p) => existsSync(p));
  return path ? { path } : { path: null, searched };
}
