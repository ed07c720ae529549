import { tarflowTsup } from '@tarflow/tsup-config';

export default tarflowTsup(['src/index.ts', 'src/node.ts']);
