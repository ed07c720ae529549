// Bundles scripts/gpu-bench/main.ts into one ES module for Node 20 (used by
// gpu-bench-prepare.sh). Everything is bundled except the `webgpu` package,
// whose index.js loads its native dawn.node from beside itself; the bundle
// folder carries a trimmed copy of that package in node_modules/webgpu.
//   node scripts/gpu-bench/build.mjs <outfile> [entry]   (entry: default main.ts; gpu-train-prepare.sh bundles studies/train-default.ts)
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const here = dirname(fileURLToPath(import.meta.url));
const root = join(here, '..', '..');
// esbuild is a dependency of packages/webgpu-tests; resolve it from there.
const require = createRequire(join(root, 'packages', 'webgpu-tests', 'package.json'));
const { build } = require('esbuild');

const outfile = process.argv[2];
if (!outfile) {
  console.error('usage: node scripts/gpu-bench/build.mjs <outfile> [entry]');
  process.exit(2);
}
// tfjs-backend-cpu registers the cpu backend when imported, but its package.json
// lists side effects for its browser files only, so esbuild would drop
// @tarflow/tensor's bare import of it from a Node bundle (and `--backend cpu`
// would find no backend): keep that import.
const keepBackendRegistration = {
  name: 'keep-backend-registration',
  setup(b) {
    b.onResolve({ filter: /^@tensorflow\/tfjs-backend-cpu$/ }, async (args) => {
      if (args.pluginData?.kept) return undefined;
      const r = await b.resolve(args.path, { resolveDir: args.resolveDir, kind: args.kind, importer: args.importer, pluginData: { kept: true } });
      return r.errors.length > 0 ? { errors: r.errors } : { path: r.path, sideEffects: true };
    });
  },
};
await build({
  entryPoints: [process.argv[3] ?? join(here, 'main.ts')],
  plugins: [keepBackendRegistration],
  outfile,
  bundle: true,
  platform: 'node',
  format: 'esm',
  target: 'node20',
  external: ['webgpu'],
  // main.ts imports @tarflow/* packages, which packages/webgpu-tests depends on.
  nodePaths: [join(root, 'packages', 'webgpu-tests', 'node_modules')],
  minifyWhitespace: true,
  minifySyntax: true,
  legalComments: 'none',
  logLevel: 'warning',
  define: { 'process.env.NODE_ENV': '"production"' },
  // tfjs' CommonJS code uses require, __dirname and __filename.
  banner: {
    js: [
      "import { createRequire as __tfCreateRequire } from 'node:module';",
      "import { dirname as __tfDirname } from 'node:path';",
      "import { fileURLToPath as __tfFileURLToPath } from 'node:url';",
      'const require = __tfCreateRequire(import.meta.url);',
      'const __filename = __tfFileURLToPath(import.meta.url);',
      'const __dirname = __tfDirname(__filename);',
    ].join('\n'),
  },
});
