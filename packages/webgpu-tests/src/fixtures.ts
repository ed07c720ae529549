/**
 * Locating and reading the reference fixtures (Node only):
 * shared/fixtures/reference beside the repository.
 */
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { FixtureFiles } from './cases.js';

/** Finds shared/fixtures/reference, walking up from this file. */
export function fixturesDir(from: string = dirname(fileURLToPath(import.meta.url))): string {
  let dir = from;
  for (let i = 0; i < 8; i++) {
    const candidate = join(dir, 'shared', 'fixtures', 'reference');
    if (existsSync(candidate)) return candidate;
    dir = resolve(dir, '..');
  }
  throw new Error(`shared/fixtures/reference not found beside the repository (searched upwards from ${from})`);
}

/** The fixture names (NAME for each NAME.json with its weights and expected outputs). */
export function fixtureNames(dir = fixturesDir()): string[] {
  return readdirSync(dir)
    .filter((f) => f.endsWith('.json'))
    .map((f) => f.slice(0, -'.json'.length))
    .filter((n) => existsSync(join(dir, `${n}.safetensors`)) && existsSync(join(dir, `${n}.expected.safetensors`)))
    .sort();
}

/** Reads one fixture's three files. */
export function readFixture(name: string, dir = fixturesDir()): FixtureFiles {
  return {
    name,
    spec: JSON.parse(readFileSync(join(dir, `${name}.json`), 'utf8')),
    checkpoint: new Uint8Array(readFileSync(join(dir, `${name}.safetensors`))),
    expected: new Uint8Array(readFileSync(join(dir, `${name}.expected.safetensors`))),
  };
}
