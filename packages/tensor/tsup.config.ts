import { tarflowTsup } from '@tarflow/tsup-config';

// The Tensor methods (x.slice(…), …) are declared by tfjs-core's chained-op
// modules, which index.ts imports for their side effects only; the bundled
// declarations would drop that import.
export default tarflowTsup(['src/index.ts', 'src/random.ts', 'src/hash.ts'], {
  dtsBanner: "import '@tensorflow/tfjs-core/dist/public/chained_ops/register_all_chained_ops.js';",
});
