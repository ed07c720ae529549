import { createReadStream, existsSync, readFileSync, realpathSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { defineConfig, type Plugin } from 'vite';

/**
 * tfjs-backend-wasm fetches its .wasm binaries by their original file names
 * from one URL prefix (selectBackend's `wasmPaths`). This plugin serves them
 * under `wasm/` in dev and writes them, unhashed, to `dist/wasm/` in builds.
 */
const WASM_FILES = ['tfjs-backend-wasm.wasm', 'tfjs-backend-wasm-simd.wasm', 'tfjs-backend-wasm-threaded-simd.wasm'];
const wasmDir = dirname(createRequire(import.meta.url).resolve('@tensorflow/tfjs-backend-wasm'));

function tfjsWasmFiles(): Plugin {
  return {
    name: 'tarflow-playground:tfjs-wasm-files',
    configureServer(server) {
      server.middlewares.use((req, res, next) => {
        const name = /\/wasm\/([a-z-]+\.wasm)$/.exec((req.url ?? '').split('?')[0])?.[1];
        if (!name || !WASM_FILES.includes(name)) return next();
        res.setHeader('content-type', 'application/wasm');
        createReadStream(join(wasmDir, name)).pipe(res);
      });
    },
    generateBundle() {
      for (const name of WASM_FILES) {
        const file = join(wasmDir, name);
        if (!existsSync(file)) this.error(`missing ${file} (is @tensorflow/tfjs-backend-wasm installed?)`);
        this.emitFile({ type: 'asset', fileName: `wasm/${name}`, source: readFileSync(file) });
      }
    },
  };
}

/**
 * tfjs runs only in the sampling worker. The page itself imports a few pure
 * helpers (parseStrategy/formatStrategy from @tarflow/solvers, BACKEND_NAMES
 * from @tarflow/backends) whose packages also import tfjs; in production
 * builds those imports resolve to a stub here, so the page's bundle does not
 * transform tfjs a second time (it halves the build) and any accidental tfjs
 * call on the page fails loudly. The same stub stands for node:fs/promises,
 * which @tarflow/zoo imports only to read `file:` URLs in Node. Worker
 * bundles do not get this plugin (in builds, top-level plugins apply to the
 * page only), and dev is unchanged.
 */
const PAGE_STUBBED = new Set([
  '@tarflow/tensor',
  '@tarflow/backend-webgpu',
  '@tensorflow/tfjs-backend-wasm',
  '@tensorflow/tfjs-backend-webgl',
  '@tensorflow/tfjs-core',
  'node:fs/promises',
  'fs/promises',
]);
const STUB_PREFIX = '\0tarflow-playground:stub:';

function noTfjsOnThePage(): Plugin {
  return {
    name: 'tarflow-playground:no-tfjs-on-the-page',
    apply: 'build',
    enforce: 'pre',
    resolveId(id) {
      return PAGE_STUBBED.has(id) ? STUB_PREFIX + id : null; // one stub per name: some are imported dynamically, some statically
    },
    load(id) {
      if (!id.startsWith(STUB_PREFIX)) return null;
      const code = [
        `const fail = () => { throw new Error("${id.slice(STUB_PREFIX.length)} is not available on the page (tfjs runs in the sampling worker)"); };`,
        'const stub = new Proxy(fail, { get: () => stub, apply: fail });',
        // the names the page's imports take from these modules
        'export const tf = stub, patchWasmMatMul = stub, seededNoise = stub, tfSeed = stub;',
        'export default stub;',
      ].join('\n');
      return { code, moduleSideEffects: false };
    },
  };
}

/** Cross-origin isolation lets tfjs-backend-wasm use threads (SharedArrayBuffer). */
const isolation = {
  'Cross-Origin-Opener-Policy': 'same-origin',
  'Cross-Origin-Embedder-Policy': 'require-corp',
};

/**
 * In builds, the worker takes tfjs-core and its cpu and webgl backends from
 * their own flat ESM bundles (the packages @tarflow/tensor and
 * @tarflow/backends resolve) instead of ~1,500 modules: a third less build
 * CPU. Every bare `@tensorflow/tfjs-core` import maps to the one core bundle,
 * so the wasm and WebGPU backends register with the same engine. Dev serves
 * the modules as they are.
 */
const here = dirname(fileURLToPath(import.meta.url));
const flatBundle = (from: string, pkg: string, file: string) =>
  join(dirname(createRequire(join(realpathSync(join(here, 'node_modules', '@tarflow', from)), 'package.json')).resolve(`${pkg}/package.json`)), 'dist', file);
const tfjsFlat = [
  { find: /^@tensorflow\/tfjs-core$/, replacement: flatBundle('tensor', '@tensorflow/tfjs-core', 'tf-core.fesm.min.js') },
  { find: /^@tensorflow\/tfjs-backend-cpu$/, replacement: flatBundle('tensor', '@tensorflow/tfjs-backend-cpu', 'tf-backend-cpu.fesm.min.js') },
  { find: /^@tensorflow\/tfjs-backend-webgl$/, replacement: flatBundle('backends', '@tensorflow/tfjs-backend-webgl', 'tf-backend-webgl.fesm.min.js') },
];

export default defineConfig(({ command }) => ({
  base: './',
  resolve: command === 'build' ? { alias: tfjsFlat } : {},
  plugins: [tfjsWasmFiles(), noTfjsOnThePage()],
  server: { headers: isolation },
  preview: { headers: isolation },
  worker: { format: 'es' },
  build: {
    target: 'es2022',
    outDir: 'dist',
    emptyOutDir: true,
    // tfjs is one large chunk by nature; computing gzip sizes of it only slows the build.
    reportCompressedSize: false,
    chunkSizeWarningLimit: 4096,
    sourcemap: false,
  },
}));
