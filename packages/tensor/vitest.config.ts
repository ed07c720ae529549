import { tarflowVitest } from '@tarflow/vitest-config';

// tfjs-core's deep dist/ modules (gradients, chained ops) are ES modules Node
// cannot load as they are: the tests, like the build, let Vite transform them.
export default tarflowVitest({ server: { deps: { inline: [/@tensorflow\/tfjs-core\/dist\//] } } });
