/**
 * Node-only helpers of @tarflow/metrics: a plan store in a folder
 * (by default ~/.cache/tarflow/plans, or $TARFLOW_CACHE_DIR/plans).
 */
import { mkdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { homedir } from 'node:os';
import { join } from 'node:path';
import type { Plan } from './planner.js';
import type { PlanStore } from './plan-cache.js';

/** The default folder for cached plans. */
export function defaultPlanDir(): string {
  const base = process.env.TARFLOW_CACHE_DIR ?? join(process.env.XDG_CACHE_HOME ?? join(homedir(), '.cache'), 'tarflow');
  return join(base, 'plans');
}

/** Plans as JSON files in a folder; writes are atomic (temp file, then rename). Unreadable entries count as misses. */
export function filePlanStore(dir = defaultPlanDir()): PlanStore {
  return {
    get(key) {
      try {
        return JSON.parse(readFileSync(join(dir, `${key}.json`), 'utf8')) as Plan;
      } catch {
        return undefined;
      }
    },
    set(key, plan) {
      try {
        mkdirSync(dir, { recursive: true });
        const path = join(dir, `${key}.json`);
        const tmp = `${path}.${process.pid}.tmp`;
        writeFileSync(tmp, JSON.stringify(plan));
        renameSync(tmp, path);
      } catch {
        // A cache that cannot be written is only a slower cache.
      }
    },
  };
}
