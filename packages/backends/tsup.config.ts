import { tarflowTsup } from '@tarflow/tsup-config';

export default tarflowTsup(['src/node.ts', 'src/browser.ts']);
