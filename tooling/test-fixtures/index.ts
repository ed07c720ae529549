import { existsSync, readFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseSafetensors, toFloat32, toInt32, type SafetensorsFile } from '@tarflow/checkpoint';
import { tf } from '@tarflow/tensor';
import '@tensorflow/tfjs-backend-wasm';

/** Finds `shared/fixtures/reference` beside the repository (walking up from here). */
export function fixturesDir(): string {
  let dir = dirname(fileURLToPath(import.meta.url));
  for (let i = 0; i < 8; i++) {
    const candidate = join(dir, 'shared', 'fixtures', 'reference');
    if (existsSync(candidate)) return candidate;
    dir = resolve(dir, '..');
  }
  throw new Error('shared/fixtures/reference not found beside the repository');
}

export interface Fixture {
  name: string;
  spec: any;
  checkpoint: Uint8Array;
  expected: SafetensorsFile;
  tol: (ref: number) => number;
}

export function loadFixture(name: string): Fixture {
  const dir = fixturesDir();
  const spec = JSON.parse(readFileSync(join(dir, `${name}.json`), 'utf8'));
  // "float32: max abs error 1e-4 relative to max(1, |reference|)"
  const m = /max abs error ([0-9.e-]+) relative to max\(1, \|reference\|\)/.exec(spec.tolerance);
  if (!m) throw new Error(`unrecognised tolerance statement: ${spec.tolerance}`);
  const eps = Number(m[1]);
  return {
    name,
    spec,
    checkpoint: new Uint8Array(readFileSync(join(dir, `${name}.safetensors`))),
    expected: parseSafetensors(new Uint8Array(readFileSync(join(dir, `${name}.expected.safetensors`)))),
    tol: (ref: number) => eps * Math.max(1, Math.abs(ref)),
  };
}

export function expectedTensor(f: Fixture, key: string): tf.Tensor {
  const raw = f.expected.tensors.get(key);
  if (!raw) throw new Error(`fixture ${f.name} has no tensor ${key}`);
  if (raw.dtype === 'I64' || raw.dtype === 'I32') return tf.tensor(toInt32(raw, key), raw.shape, 'int32');
  return tf.tensor(toFloat32(raw, key), raw.shape, 'float32');
}

/** Largest violation of the fixture tolerance (≤ 0 means within it), and the max abs error. */
export function compare(f: Fixture, actual: tf.Tensor, key: string): { worst: number; maxErr: number } {
  const raw = f.expected.tensors.get(key)!;
  const ref = toFloat32(raw, key);
  const got = actual.dataSync();
  if (got.length !== ref.length) throw new Error(`${key}: size ${got.length} vs reference ${ref.length}`);
  let worst = -Infinity;
  let maxErr = 0;
  for (let i = 0; i < ref.length; i++) {
    const err = Math.abs(got[i] - ref[i]);
    if (!(err <= Infinity)) return { worst: Infinity, maxErr: NaN };
    maxErr = Math.max(maxErr, err);
    worst = Math.max(worst, err - f.tol(ref[i]));
  }
  return { worst, maxErr };
}

export const BACKENDS = (process.env.TARFLOW_TEST_BACKENDS ?? 'cpu,wasm').split(',');

export async function useBackend(name: string): Promise<void> {
  const ok = await tf.setBackend(name);
  if (!ok) throw new Error(`tfjs backend ${name} failed to initialise`);
  await tf.ready();
}

/** Largest |a − b| / max(1, |b|). */
export function relErr(a: tf.Tensor, b: tf.Tensor): number {
  const x = a.dataSync();
  const y = b.dataSync();
  if (x.length !== y.length) throw new Error(`sizes differ: ${x.length} vs ${y.length}`);
  let worst = 0;
  for (let i = 0; i < x.length; i++) {
    const e = Math.abs(x[i] - y[i]) / Math.max(1, Math.abs(y[i]));
    if (!(e <= worst)) worst = Number.isNaN(e) ? Infinity : e;
  }
  return worst;
}
