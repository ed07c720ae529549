/**
 * Plans kept across visits. The planner's PlanStore (@tarflow/metrics) keys
 * JSON values by model hash (plans-<hash>: the records, each naming its
 * backend, objective, settings and planner version; table-<hash>: a joint
 * plan's guess table). A worker has no localStorage, so the store is split:
 *
 *   page:   readStoredPlans(localStorage) → entries ──(request 'plans')──→ worker
 *   worker: bridgedPlanStore(entries, send) — get from the entries; set keeps
 *           the value and sends its JSON back ──(reply 'store')──→ page
 *   page:   writeStoredPlan(localStorage, key, value)
 *
 * An entry that is not JSON is removed with a note; a full storage is a note
 * (the plan stays in this visit's memory), never a failure.
 */
import type { PlanStore } from '@tarflow/metrics';

/** The localStorage key prefix of kept plans. */
export const PLAN_KEY_PREFIX = 'tarflow.plan.';

type Storage_ = Pick<Storage, 'length' | 'key' | 'getItem' | 'setItem' | 'removeItem'>;

/** Every stored plan entry (by plan-store key), and a note for each one that could not be read (and was removed). */
export function readStoredPlans(storage: Storage_): { entries: Record<string, unknown>; notes: string[] } {
  const entries: Record<string, unknown> = {};
  const notes: string[] = [];
  const keys: string[] = [];
  for (let i = 0; i < storage.length; i++) {
    const k = storage.key(i);
    if (k?.startsWith(PLAN_KEY_PREFIX)) keys.push(k);
  }
  for (const k of keys) {
    const key = k.slice(PLAN_KEY_PREFIX.length);
    try {
      entries[key] = JSON.parse(storage.getItem(k) ?? '');
    } catch {
      storage.removeItem(k);
      notes.push(`the kept plan entry ${key} was not readable and was removed`);
    }
  }
  return { entries, notes };
}

/** Writes one entry; a note when the storage refuses it (full, or disabled). */
export function writeStoredPlan(storage: Storage_, key: string, json: string): string | null {
  try {
    storage.setItem(PLAN_KEY_PREFIX + key, json);
    return null;
  } catch (e) {
    return `this plan is kept for this visit only: the browser's storage refused it (${e instanceof Error ? e.name : String(e)})`;
  }
}

/** The worker's plan store: reads `entries`, and hands each kept value (as JSON, what localStorage holds) to `send` as well. */
export function bridgedPlanStore(entries: Map<string, unknown>, send: (key: string, json: string) => void): PlanStore {
  return {
    get: (key) => entries.get(key),
    set(key, value) {
      const json = JSON.stringify(value);
      entries.set(key, JSON.parse(json));
      send(key, json);
    },
  };
}
