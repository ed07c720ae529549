/**
 * Plans that ship with a model: the safetensors metadata key `plans` holds
 *
 *   { "tables": { <hash>: GuessTable, … }, "plans": [PlanRecord, …] }
 *
 * — per objective and backend kind, each record with its settings, batch
 * range and the weights' hash (plan-cache.ts); a joint plan's guess table
 * once per model under its hash. A record is used only where the weights'
 * hash, the backend, the engine, the objective and the settings match and
 * the batch is in range; `tarflow plan --save-into` writes them.
 */
import type { TarFlow } from '@tarflow/model';
import type { GuessTable } from '@tarflow/solvers';
import { findPlan, toRecord, mismatch, type PlanLookup, type PlanQuery, type PlanRecord } from './plan-cache.js';
import type { Plan } from './planner.js';

/** The metadata key of shipped plans. */
export const PLANS_KEY = 'plans';

export interface ShippedPlans {
  tables: Record<string, GuessTable>;
  plans: PlanRecord[];
}

/** The shipped plans of a file's metadata (empty where there are none), or the reason they cannot be read. */
export function readShippedPlans(metadata: Record<string, string>): { shipped: ShippedPlans; problem?: string } {
  const text = metadata[PLANS_KEY];
  const empty: ShippedPlans = { tables: {}, plans: [] };
  if (text === undefined) return { shipped: empty };
  try {
    const v = JSON.parse(text) as ShippedPlans;
    if (typeof v !== 'object' || v === null || !Array.isArray(v.plans) || typeof v.tables !== 'object' || v.tables === null) {
      throw new Error('expected { tables, plans }');
    }
    return { shipped: v };
  } catch (e) {
    return { shipped: empty, problem: `metadata '${PLANS_KEY}' is unreadable (${(e as Error).message})` };
  }
}

/** The shipped plan for `query`, and why each other shipped plan was not used. */
export function findShippedPlan(metadata: Record<string, string>, query: PlanQuery, model: TarFlow): PlanLookup {
  const { shipped, problem } = readShippedPlans(metadata);
  const r = findPlan(shipped.plans, query, (h) => shipped.tables[h], { blocks: model.blocks.length, tokens: model.tokens });
  return problem ? { ...r, broken: [problem, ...r.broken] } : r;
}

/**
 * Metadata with `plan` added to the shipped plans (replacing one for the same
 * weights, backend, engine, objective, settings and batch), its guess table stored
 * once; tables no plan refers to any more are dropped.
 */
export function withShippedPlan(metadata: Record<string, string>, plan: Plan, query: Omit<PlanQuery, 'batch'>, note?: string): Record<string, string> {
  const { shipped } = readShippedPlans(metadata);
  const { record, table } = toRecord(plan, query, note);
  const same = { ...query, batch: record.plan.batch.min };
  const plans = shipped.plans.filter((r) => {
    try {
      return !(mismatch(r, same) === null && r.plan.batch.min === record.plan.batch.min);
    } catch {
      return false;
    }
  });
  plans.push(record);
  const tables: Record<string, GuessTable> = { ...shipped.tables, ...(table ? { [table.hash]: table.table } : {}) };
  const used = new Set(plans.map((r) => r.plan?.guessTableHash).filter(Boolean));
  for (const h of Object.keys(tables)) if (!used.has(h)) delete tables[h];
  return { ...metadata, [PLANS_KEY]: JSON.stringify({ tables, plans }) };
}
