import { tarflowVitest } from '@tarflow/vitest-config';

export default tarflowVitest({ globalSetup: ['test/global-setup.ts'] });
