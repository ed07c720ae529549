// The end-to-end tests spawn the built CLI: make sure dist/ exists and is newer than src/.
import { existsSync, readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

function newest(dir: string): number {
  let t = 0;
  for (const e of readdirSync(dir, { withFileTypes: true })) {
    const p = join(dir, e.name);
    t = Math.max(t, e.isDirectory() ? newest(p) : statSync(p).mtimeMs);
  }
  return t;
}

export default function setup(): void {
  const root = fileURLToPath(new URL('..', import.meta.url));
  const dist = join(root, 'dist', 'index.js');
  if (!existsSync(dist) || statSync(dist).mtimeMs < newest(join(root, 'src'))) {
    throw new Error('apps/cli/dist is missing or older than src/: run `pnpm --filter @tarflow/cli build` (turbo runs it before the tests)');
  }
}
