/**
 * Node-only helpers of @tarflow/metrics: a plan store in a folder of JSON
 * files, by default the platform cache folder ($XDG_CACHE_HOME/tarflow, else
 * ~/.cache/tarflow).
 */
import { mkdirSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { homedir } from 'node:os';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';
import type { PlanStore } from './plan-cache.js';

/** The default folder for kept plans: $XDG_CACHE_HOME/tarflow/plans, else ~/.cache/tarflow/plans. */
export function defaultPlanDir(env: Record<string, string | undefined> = process.env): string {
  const xdg = env.XDG_CACHE_HOME;
  return join(xdg && xdg.startsWith('/') ? xdg : join(homedir(), '.cache'), 'tarflow', 'plans');
}

export interface FilePlanStoreOptions {
  /** Told, in one line, about an entry that cannot be read or written (default: nothing). */
  onNote?: (message: string) => void;
}

/**
 * Plans as JSON files in a folder. Writes are atomic (a temporary file of a
 * unique name, then a rename), so concurrent processes never read a
 * half-written entry: the last writer's whole file wins. An entry that cannot
 * be read or parsed counts as a miss, with a note, and is replaced by the
 * next write.
 */
export function filePlanStore(dir = defaultPlanDir(), options: FilePlanStoreOptions = {}): PlanStore {
  const note = options.onNote ?? (() => {});
  const pathOf = (key: string) => {
    if (!/^[A-Za-z0-9._-]+$/.test(key)) throw new Error(`plan store key ${JSON.stringify(key)} is not a plain file name`);
    return join(dir, `${key}.json`);
  };
  return {
    get(key) {
      const path = pathOf(key);
      let text: string;
      try {
        text = readFileSync(path, 'utf8');
      } catch (e) {
        if ((e as NodeJS.ErrnoException).code !== 'ENOENT') note(`plan cache: cannot read ${path} (${(e as Error).message}): ignored`);
        return undefined;
      }
      try {
        return JSON.parse(text);
      } catch (e) {
        note(`plan cache: ${path} is corrupt (${(e as Error).message}): ignored, and rewritten when a plan is kept`);
        return undefined;
      }
    },
    set(key, value) {
      const path = pathOf(key);
      const tmp = `${path}.${process.pid}.${randomBytes(4).toString('hex')}.tmp`;
      try {
        mkdirSync(dir, { recursive: true });
        writeFileSync(tmp, JSON.stringify(value));
        renameSync(tmp, path);
      } catch (e) {
        rmSync(tmp, { force: true });
        note(`plan cache: cannot write ${path} (${(e as Error).message}): the plan is not kept`);
      }
    },
  };
}
