// Compiles src/simd/kernels.wat (wabt) into src/simd/kernels-wasm.ts, the module's bytes as base64.
// `node scripts/compile-wat.mjs` writes the file; `--check` exits 1 when the committed file is stale.
import { readFileSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import wabt from 'wabt';

const dir = join(dirname(fileURLToPath(import.meta.url)), '..', 'src', 'simd');

/** The TypeScript module holding the compiled bytes of the WAT source. */
export async function compiledModule(source) {
  const w = await wabt();
  const mod = w.parseWat('kernels.wat', source, { simd: true });
  mod.validate();
  const { buffer } = mod.toBinary({});
  mod.destroy();
  const b64 = Buffer.from(buffer).toString('base64');
  const lines = b64.match(/.{1,100}/g).map((l) => `  '${l}' +`).join('\n');
  return `// Generated from kernels.wat by scripts/compile-wat.mjs (wabt): do not edit.\n` +
    `// ${buffer.length} bytes of WebAssembly.\n` +
    `export const KERNELS_WASM_BASE64 =\n${lines.slice(0, -2)};\n`;
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const out = join(dir, 'kernels-wasm.ts');
  const text = await compiledModule(readFileSync(join(dir, 'kernels.wat'), 'utf8'));
  if (process.argv.includes('--check')) {
    const current = readFileSync(out, 'utf8');
    if (current !== text) {
      console.error('src/simd/kernels-wasm.ts is stale: run node scripts/compile-wat.mjs');
      process.exit(1);
    }
  } else writeFileSync(out, text);
}
