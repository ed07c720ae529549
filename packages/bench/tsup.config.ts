import { tarflowTsup } from '@tarflow/tsup-config';

export default tarflowTsup();
