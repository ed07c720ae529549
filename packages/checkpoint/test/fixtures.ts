/**
 * Locates the read-only reference fixtures: `shared/fixtures/reference`,
 * found by walking up from this file's directory until a directory has a
 * `shared` folder beside (inside) it. That finds `/work/shared` from a
 * checkout at `/work/main`, and `../shared` next to a CI clone anywhere.
 */
import { existsSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

export function findFixturesDir(start: string = dirname(fileURLToPath(import.meta.url))): string {
  let dir = resolve(start);
  for (;;) {
    const candidate = join(dir, 'shared', 'fixtures', 'reference');
    if (existsSync(candidate)) return candidate;
    const parent = dirname(dir);
    if (parent === dir) {
      throw new Error(`shared/fixtures/reference not found in any directory above ${start}`);
    }
    dir = parent;
  }
}

export const FIXTURES = findFixturesDir();
export const fixture = (name: string): string => join(FIXTURES, name);
export const MODELS = ['tiny-uncond', 'tiny-cond'] as const;
