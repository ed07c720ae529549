/**
 * selectBackend's logic, shared by the Node and browser entries, which differ
 * only in how each backend is set up (and each loads its package lazily, so
 * a browser bundle never pulls in Node code and a CLI run with `--backend cpu`
 * never loads Dawn).
 */
import { tf } from '@tarflow/tensor';

export type BackendName = 'webgpu' | 'webgl' | 'wasm' | 'cpu';
export type BackendPreference = BackendName | 'auto';

/** The order 'auto' tries backends in. */
export const AUTO_ORDER: readonly BackendName[] = ['webgpu', 'webgl', 'wasm', 'cpu'];
export const BACKEND_NAMES: readonly BackendPreference[] = ['auto', ...AUTO_ORDER];

/** What selectBackend set up. */
export interface BackendSelection {
  /** The active tfjs backend. */
  name: BackendName;
  /** One line for logs: the adapter for webgpu, SIMD/threads for wasm, … */
  detail: string;
  /** Facts worth reporting about the choice (workarounds applied, why threads are off, …). */
  notes: string[];
  /** Backends tried before this one, each with the reason it was not used. */
  skipped: Array<{ name: BackendName; reason: string }>;
  /** The backend package's own report (WebGPUInfo, NodeBackendInfo, …). */
  info: unknown;
}

/** Thrown when the named backend (or, for 'auto', every backend) is unavailable. */
export class BackendUnavailableError extends Error {
  constructor(
    readonly backend: BackendPreference,
    readonly reason: string,
  ) {
    super(backend === 'auto' ? `no tfjs backend is available: ${reason}` : `backend '${backend}' is unavailable: ${reason}`);
    this.name = 'BackendUnavailableError';
  }
}

/** Validates a backend name given by a user (e.g. the CLI's --backend). */
export function parseBackendPreference(text: string): BackendPreference {
  const t = text.trim().toLowerCase();
  if ((BACKEND_NAMES as readonly string[]).includes(t)) return t as BackendPreference;
  throw new Error(`unknown backend ${JSON.stringify(text)}: expected one of ${BACKEND_NAMES.join(', ')}`);
}

/** Sets up one backend and makes it active, or throws saying why it cannot. */
export type BackendInitializer = () => Promise<{ detail: string; notes: string[]; info: unknown }>;

/** Raised by an initializer for a backend that does not exist on this platform. */

function reasonOf(e: unknown): string {
  if (e && typeof e === 'object' && 'reason' in e && typeof (e as { reason: unknown }).reason === 'string') {
    return (e as { reason: string }).reason;
  }
  return e instanceof Error ? e.message : String(e);
}

/** Tries the preferred backend (or each in AUTO_ORDER) with the platform's initializers. */
export async function selectWith(
  initializers: Record<BackendName, BackendInitializer>,
  preference: BackendPreference,
): Promise<BackendSelection> {
  const order = preference === 'auto' ? AUTO_ORDER : [preference];
  const skipped: BackendSelection['skipped'] = [];
  for (const name of order) {
    try {
      const r = await initializers[name]();
      if (tf.getBackend() !== name) throw new Error(`tfjs reports '${tf.getBackend()}' active after setting up '${name}'`);
      return { name, detail: r.detail, notes: r.notes, info: r.info, skipped };
    } catch (e) {
      if (preference !== 'auto') throw new BackendUnavailableError(name, reasonOf(e));
      skipped.push({ name, reason: reasonOf(e) });
    }
  }
  throw new BackendUnavailableError('auto', skipped.map((s) => `${s.name}: ${s.reason}`).join('; '));
}

/** A one-line account of a selection, e.g. for a CLI's stderr. */
export function describeSelection(s: BackendSelection): string {
  const skipped = s.skipped.length > 0 ? ` (skipped ${s.skipped.map((k) => `${k.name}: ${k.reason}`).join('; ')})` : '';
  return `backend ${s.name}: ${s.detail}${skipped}`;
}
