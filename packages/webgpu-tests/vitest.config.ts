import { tarflowVitest } from '@tarflow/vitest-config';

// Cases on the software WebGPU adapter take up to a minute each on a busy 2-core machine.
export default tarflowVitest({ testTimeout: 600_000, hookTimeout: 300_000 });
