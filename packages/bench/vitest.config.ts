import { tarflowVitest } from '@tarflow/vitest-config';

export default tarflowVitest();
