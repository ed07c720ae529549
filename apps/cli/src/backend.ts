/**
 * The tfjs backend of a command (--backend), through @tarflow/backends'
 * selectBackend: `auto` takes WebGPU when an adapter exists (Dawn in Node),
 * else wasm, else cpu; a named backend is used exactly or the command fails
 * saying why.
 */
import { tf } from '@tarflow/tensor';
import { describeSelection, selectBackend, type BackendSelection } from '@tarflow/backends';
import type { BackendChoice } from './constants.js';
import { CliError, messageOf } from './errors.js';

export type { BackendChoice } from './constants.js';

export interface ActiveBackend {
  name: string;
  /** One line: what was set up, and what was skipped why. */
  detail: string;
}

/** Activates the backend and returns the one in use. */
export async function useBackend(choice: BackendChoice = 'auto'): Promise<ActiveBackend> {
  // tfjs's console hints (e.g. "install tfjs-node") are not for CLI users.
  tf.env().set('PROD', true);
  let selection: BackendSelection;
  try {
    selection = await selectBackend(choice);
  } catch (e) {
    throw new CliError(`--backend ${choice}: ${messageOf(e)}`);
  }
  return { name: selection.name, detail: describeSelection(selection) };
}
