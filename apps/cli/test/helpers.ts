import { execFile } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseSafetensors, serializeSafetensors, toFloat32, type RawTensor } from '@tarflow/checkpoint';

export const BIN = fileURLToPath(new URL('../bin/tarflow.js', import.meta.url));

export interface CliResult {
  code: number;
  stdout: string;
  stderr: string;
}

/** The tests' cache folder (plans): never the user's. */
const TEST_CACHE = mkdtempSync(join(tmpdir(), 'tarflow-cli-cache-'));
process.on('exit', () => rmSync(TEST_CACHE, { recursive: true, force: true }));

/** Runs the built `tarflow` in a child process (killed after `timeoutMs`, when given). */
export function tarflow(args: string[], options: { cwd?: string; env?: Record<string, string>; timeoutMs?: number } = {}): Promise<CliResult> {
  return new Promise((resolve) => {
    execFile(
      process.execPath,
      [BIN, ...args],
      { cwd: options.cwd, env: { ...process.env, XDG_CACHE_HOME: TEST_CACHE, ...options.env }, maxBuffer: 64 * 2 ** 20, timeout: options.timeoutMs ?? 0, killSignal: 'SIGKILL' },
      (error, stdout, stderr) => {
        const code = error ? (typeof error.code === 'number' ? error.code : 1) : 0;
        resolve({ code, stdout, stderr });
      },
    );
  });
}

/** A fresh temporary folder, removed by the returned cleanup. */
export function tempDir(): { dir: string; cleanup: () => void } {
  const dir = mkdtempSync(join(tmpdir(), 'tarflow-cli-test-'));
  return { dir, cleanup: () => rmSync(dir, { recursive: true, force: true }) };
}

/** Every file in a folder (temporary files included). */
export function filesIn(dir: string): string[] {
  return readdirSync(dir).sort();
}

/** Writes tensors as a safetensors file. */
export function writeTensors(path: string, tensors: Record<string, RawTensor>, metadata?: Record<string, string>): void {
  writeFileSync(path, serializeSafetensors(new Map(Object.entries(tensors)), metadata));
}

/** A float tensor of a safetensors file. */
export function readTensor(path: string, name: string): { data: Float32Array; shape: number[]; metadata: Record<string, string> } {
  const f = parseSafetensors(new Uint8Array(readFileSync(path)));
  const t = f.tensors.get(name);
  if (!t) throw new Error(`${path} has no tensor ${name}`);
  return { data: toFloat32(t, name), shape: [...t.shape], metadata: f.metadata };
}
