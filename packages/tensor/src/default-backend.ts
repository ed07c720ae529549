/**
 * The backend TarFlow runs on when the program chose none.
 *
 * Left alone, tfjs picks the highest-priority registered backend on first
 * use — in Node its plain-JavaScript cpu backend, silently but for a hint to
 * install tfjs-node. TarFlow's entry points call ensureBackend() (or, where
 * they are synchronous, ensureBackendSync()) instead: when no backend has
 * been chosen, it sets up the best one available and says so once, on one
 * line of stderr:
 *
 *   ensureBackend():     wasm (if @tensorflow/tfjs-backend-wasm is installed, Node) → cpu
 *   ensureBackendSync(): cpu (wasm starts asynchronously)
 *
 * A program that chose one first (tf.setBackend, or selectBackend from
 * @tarflow/backends) hears nothing and keeps its choice. When tfjs picks
 * cpu by itself (a tensor op before any choice), that is said once as well.
 */
import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-backend-cpu';
import { patchWasmMatMul } from './wasm-kernels.js';

let said = false;

function sayOnce(line: string): void {
  if (said) return;
  said = true;
  const stderr = (globalThis as { process?: { stderr?: { write?: (s: string) => unknown } } }).process?.stderr;
  if (typeof stderr?.write === 'function') stderr.write(`${line}\n`);
  else console.warn(line);
}

function isNode(): boolean {
  return typeof (globalThis as { process?: { versions?: { node?: string } } }).process?.versions?.node === 'string';
}

/** True once a backend has been chosen (by the program, by tfjs on first use, or by ensureBackend). */
export function backendChosen(): boolean {
  return tf.engine().backendName != null;
}

/** Activates tfjs' cpu backend, with our line on stderr in place of tfjs' Node hint. */
function useCpu(): string {
  void tf.setBackend('cpu'); // synchronous for cpu: no asynchronous initialisation
  (tf.backend() as { firstUse?: boolean }).firstUse = false;
  return 'cpu';
}

const HOW_TO_CHOOSE = "choose one with selectBackend() from @tarflow/backends, or tf.setBackend()";
const CPU_NOTE = `using cpu, plain JavaScript and slow (await ensureBackend() from @tarflow/tensor for wasm, or ${HOW_TO_CHOOSE})`;

/**
 * A tensor op run before any choice makes tfjs pick its highest-priority
 * backend itself (cpu, unless the program registered others). The cpu
 * factory is wrapped so that this implicit choice is said once too, in place
 * of tfjs' Node hint. tf.setBackend names the backend before calling the
 * factory; tfjs' own pick calls it with no name set yet.
 */
function announceImplicitCpu(): void {
  const factory = tf.findBackendFactory('cpu');
  if (!factory || (factory as { tarflowAnnounced?: boolean }).tarflowAnnounced) return;
  // Replacing the factory would drop a cpu backend already in use: only before any choice.
  if (backendChosen() || (tf.engine() as unknown as { registry: Record<string, unknown> }).registry.cpu) return;
  const wrapped = Object.assign(
    () => {
      const implicit = tf.engine().backendName == null;
      const backend = factory() as tf.KernelBackend & { firstUse?: boolean };
      if (implicit) {
        backend.firstUse = false;
        sayOnce(`tarflow: no tfjs backend was chosen; ${CPU_NOTE}`);
      }
      return backend;
    },
    { tarflowAnnounced: true },
  );
  tf.removeBackend('cpu');
  tf.registerBackend('cpu', wrapped, 1);
}
announceImplicitCpu();

/**
 * The active backend's name; when none was chosen, first sets up the best
 * available — wasm in Node (when @tensorflow/tfjs-backend-wasm is installed),
 * else tfjs' own best registered backend in browsers, else cpu — and says so
 * once on stderr.
 */
export async function ensureBackend(): Promise<string> {
  if (backendChosen()) {
    await tf.ready();
    return tf.getBackend();
  }
  let reason = '';
  if (isNode()) {
    try {
      await import('@tensorflow/tfjs-backend-wasm');
      if (await tf.setBackend('wasm')) {
        await tf.ready();
        patchWasmMatMul();
        sayOnce(`tarflow: no tfjs backend was chosen; using wasm (${HOW_TO_CHOOSE})`);
        return 'wasm';
      }
      reason = 'wasm did not initialise';
    } catch (e) {
      reason = `wasm is unavailable: ${(e as Error).message.split('\n')[0]}`;
    }
  } else {
    await tf.ready(); // the highest-priority backend the page registered
    sayOnce(`tarflow: no tfjs backend was chosen; using ${tf.getBackend()} (${HOW_TO_CHOOSE})`);
    return tf.getBackend();
  }
  useCpu();
  sayOnce(`tarflow: no tfjs backend was chosen; using cpu, plain JavaScript and slow (${reason}; ${HOW_TO_CHOOSE})`);
  return 'cpu';
}

/**
 * ensureBackend() for synchronous entry points: the active backend's name;
 * when none was chosen, activates cpu (wasm needs an asynchronous start) and
 * says so once on stderr, pointing to ensureBackend(). Throws when the chosen
 * backend is still initialising (await tf.ready() first).
 */
export function ensureBackendSync(): string {
  if (backendChosen()) return tf.getBackend();
  useCpu();
  sayOnce(`tarflow: no tfjs backend was chosen; ${CPU_NOTE}`);
  return 'cpu';
}
