/** Bundles the test page (page/main.ts and what it imports) for the browser with esbuild. */
import { build } from 'esbuild';
import { copyFile, mkdir } from 'node:fs/promises';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const pageSrc = resolve(dirname(fileURLToPath(import.meta.url)), '..', 'page');

/** Writes index.html and page.js into `outDir`. */
export async function bundlePage(outDir: string): Promise<void> {
  await mkdir(outDir, { recursive: true });
  await build({
    entryPoints: [join(pageSrc, 'main.ts')],
    outfile: join(outDir, 'page.js'),
    bundle: true,
    format: 'esm',
    platform: 'browser',
    target: 'es2022',
    sourcemap: 'linked',
    logLevel: 'error',
    define: { 'process.env.NODE_ENV': '"production"' },
  });
  await copyFile(join(pageSrc, 'index.html'), join(outDir, 'index.html'));
}
