/**
 * The tfjs backend of a command (--backend). Node offers the WebAssembly
 * backend (fast, one core) and the plain JavaScript `cpu` backend; `auto`
 * takes wasm and falls back to cpu.
 */
import { tf } from '@tarflow/tensor';
import { initBackend } from '@tarflow/train';
import { CliError, messageOf } from './errors.js';

import type { BackendChoice } from './constants.js';

export type { BackendChoice } from './constants.js';

/** Activates the backend and returns the name of the one in use. */
export async function useBackend(choice: BackendChoice = 'auto'): Promise<string> {
  // tfjs's console hints (e.g. "install tfjs-node") are not for CLI users.
  tf.env().set('PROD', true);
  if (choice === 'auto') {
    try {
      return await initBackend('wasm');
    } catch {
      return initBackend('cpu');
    }
  }
  try {
    return await initBackend(choice);
  } catch (e) {
    throw new CliError(`--backend ${choice}: ${messageOf(e)}`);
  }
}
