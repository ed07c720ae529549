/**
 * Plans are costly to make (an exact calibration pass and trial solves) and
 * cheap to keep: this caches them by everything they depend on — the model's
 * weights, the backend, the batch size, the guidance and the planner options.
 */
import { tf } from '@tarflow/tensor';
import type { TarFlow } from '@tarflow/model';
import { planStrategy, type Plan, type PlanOptions } from './planner.js';

/** Where plans are kept: in memory, in a file (see `@tarflow/metrics/node`), or in localStorage. */
export interface PlanStore {
  get(key: string): Plan | undefined;
  set(key: string, plan: Plan): void;
}

/** Bumped whenever the planner's method changes, so stale plans are not reused. */
export const PLANNER_VERSION = 6;

/** A plan store in memory (per process / page). */
export function memoryPlanStore(): PlanStore {
  const m = new Map<string, Plan>();
  return { get: (k) => m.get(k), set: (k, p) => void m.set(k, p) };
}

/** A plan store over the Web Storage API (e.g. window.localStorage). */
export function webStoragePlanStore(storage: Pick<Storage, 'getItem' | 'setItem'>, prefix = 'tarflow-plan:'): PlanStore {
  return {
    get(key) {
      const text = storage.getItem(prefix + key);
      if (!text) return undefined;
      try {
        return JSON.parse(text) as Plan;
      } catch {
        return undefined;
      }
    },
    set(key, plan) {
      storage.setItem(prefix + key, JSON.stringify(plan));
    },
  };
}

/** 32-bit FNV-1a over bytes, continuing from `h`. */
function fnv1a(bytes: Uint8Array, h = 0x811c9dc5): number {
  for (let i = 0; i < bytes.length; i++) {
    h ^= bytes[i];
    h = Math.imul(h, 0x01000193) >>> 0;
  }
  return h;
}

/** A fingerprint of the model's weights and config (hashes every parameter). */
export function modelFingerprint(model: TarFlow): string {
  let h = fnv1a(new TextEncoder().encode(JSON.stringify(model.config)));
  for (const v of [...model.trainableVariables(), model.priorVar]) {
    const data = v.dataSync() as Float32Array;
    h = fnv1a(new Uint8Array(data.buffer, data.byteOffset, data.byteLength), h);
  }
  return h.toString(16).padStart(8, '0');
}

/** The cache key of a plan: model, backend, and every option that changes the result. */
export function planKey(model: TarFlow, options: PlanOptions, fingerprint = modelFingerprint(model)): string {
  const labels = options.labels ? Array.from(options.labels.dataSync()) : null;
  const parts = {
    v: PLANNER_VERSION,
    model: fingerprint,
    backend: tf.getBackend(),
    objective: options.objective ?? 'time',
    batch: options.batch ?? null,
    labels,
    guidance: options.guidance ?? null,
    temperature: options.temperature ?? 1,
    seed: options.seed ?? null,
    target: options.targetMeanAbsDiff ?? null,
    targetMax: options.targetMaxAbsDiff ?? null,
    confidence: options.confidence ?? null,
    calibrationCount: options.calibration ?? null,
    joint: options.joint ?? null,
    guessPerClass: options.guessPerClass ?? null,
    tolerances: options.tolerances ?? null,
    modules: options.modules ?? null,
    toughFactor: options.toughFactor ?? null,
    trim: options.trim ?? null,
    cost: options.cost ? 'given' : null,
    calibration: options.calibrationImages ? fnv1a(new Uint8Array((options.calibrationImages.dataSync() as Float32Array).buffer)) : null,
  };
  return fnv1a(new TextEncoder().encode(JSON.stringify(parts))).toString(16).padStart(8, '0') + '-' + fingerprint;
}

/**
 * planStrategy, answered from `store` when an identical plan was made before.
 * Returns the plan and whether it came from the cache.
 */
export function planStrategyCached(model: TarFlow, options: PlanOptions, store: PlanStore): { plan: Plan; cached: boolean } {
  const key = planKey(model, options);
  const hit = store.get(key);
  if (hit) return { plan: hit, cached: true };
  const plan = planStrategy(model, options);
  store.set(key, plan);
  return { plan, cached: false };
}
