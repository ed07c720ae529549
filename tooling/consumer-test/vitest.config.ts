import { tarflowVitest } from '@tarflow/vitest-config';

// Packing and `npm install` take a minute or two on a cold npm cache.
export default tarflowVitest({ testTimeout: 600_000, hookTimeout: 900_000 });
