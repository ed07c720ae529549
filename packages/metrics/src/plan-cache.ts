/**
 * Plans are costly to make (an exact calibration pass and trial solves) and
 * cheap to keep. A kept plan is a PlanRecord: the plan with everything it
 * depends on — the model's weights (a hash), the backend kind, the sampling
 * engine its cost model was timed with (fused or plain: the same solve costs
 * differently on each), the objective, the sampling settings and the planner
 * version — and the batches it is valid
 * for (every batch ≥ the one it was made for: its acceptance bound
 * σ·√(1/n + 1/B) only shrinks as B grows). A joint plan's guess table is
 * kept once per model under its own hash, never copied into the records.
 *
 * Records live in a PlanStore (memory, files, localStorage: JSON values by
 * key) or ship in a model file's metadata (shipped-plans.ts). A record that
 * does not match, or does not validate, is never used: lookups say why.
 */
import { tf } from '@tarflow/tensor';
import { fnv1a } from '@tarflow/tensor/hash';
import { chooseEngine, type GuidanceSettings, type TarFlow } from '@tarflow/model';
import { validateGuessTable, validateSamplingStrategy, type GuessTable } from '@tarflow/solvers';
import { planStrategy, type Objective, type Plan, type PlanOptions } from './planner.js';

/** Bumped whenever the planner's method or the shape of its plans changes, so stale plans are not reused. */
export const PLANNER_VERSION = 11;

/** Where plans are kept: JSON values by key, in memory, in files (see `@tarflow/metrics/node`), or in localStorage. */
export interface PlanStore {
  /** The value kept under `key`, or undefined (a missing or unreadable entry). */
  get(key: string): unknown;
  set(key: string, value: unknown): void;
}

/** The settings a plan depends on, besides the model, the backend and the objective. */
export interface PlanSettings {
  guidance: GuidanceSettings | null;
  temperature: number;
  labels: number[] | null;
  targetMeanAbsDiff: number | null;
  targetMaxAbsDiff: number | null;
  confidence: number | null;
  /** Hash of any other planner option given (tolerances, modules, calibration images, …), or null. */
  options: string | null;
}

/** A plan as kept: the table of a joint plan's table guess is referenced by hash. */
export type StoredPlan = Omit<Plan, 'guessTable'> & { guessTableHash?: string };

export interface PlanRecord {
  version: number;
  /** modelFingerprint of the weights the plan was made for. */
  model: string;
  /** tf.getBackend() where it was made: webgpu, wasm, cpu, … */
  backend: string;
  /** The engine that evaluated the maps where it was made (and timed its cost model): fused or plain. */
  engine: 'fused' | 'plain';
  objective: Objective;
  settings: PlanSettings;
  plan: StoredPlan;
  /** How the record came to be, where that is not simply "planned here" (e.g. a depth plan shipped for a GPU). */
  note?: string;
}

/** What a look-up is for. */
export interface PlanQuery {
  model: string;
  backend: string;
  /** The engine the sampling run uses on this backend. */
  engine: 'fused' | 'plain';
  objective: Objective;
  settings: PlanSettings;
  batch: number;
}

/** A plan store in memory (per process / page). */
export function memoryPlanStore(): PlanStore {
  const m = new Map<string, string>();
  return { get: (k) => (m.has(k) ? JSON.parse(m.get(k)!) : undefined), set: (k, v) => void m.set(k, JSON.stringify(v)) };
}

/** A plan store over the Web Storage API (e.g. window.localStorage). */
export function webStoragePlanStore(storage: Pick<Storage, 'getItem' | 'setItem'>, prefix = 'tarflow-plan:'): PlanStore {
  return {
    get(key) {
      const text = storage.getItem(prefix + key);
      if (!text) return undefined;
      try {
        return JSON.parse(text);
      } catch {
        return undefined;
      }
    },
    set(key, value) {
      try {
        storage.setItem(prefix + key, JSON.stringify(value));
      } catch {
        // A full storage is only a slower cache.
      }
    },
  };
}

const hex = (h: number) => h.toString(16).padStart(8, '0');
const hashText = (s: string) => hex(fnv1a(new TextEncoder().encode(s)));

/** A fingerprint of the model's weights and config (hashes every parameter). */
export function modelFingerprint(model: TarFlow): string {
  let h = fnv1a(new TextEncoder().encode(JSON.stringify(model.config)));
  for (const v of [...model.trainableVariables(), model.priorVar]) {
    const data = v.dataSync() as Float32Array;
    h = fnv1a(new Uint8Array(data.buffer, data.byteOffset, data.byteLength), h);
  }
  return hex(h);
}

/** The hash a guess table is kept under (of its values). */
export function guessTableHash(table: GuessTable): string {
  return hashText(JSON.stringify([table.rows, table.tokens, table.dim, table.data, table.scale ?? null]));
}

/** The settings part of a look-up, from planner options (the calibration seed is not part of it: any seed plans the same model). */
export function planSettings(options: PlanOptions): PlanSettings {
  const other = {
    calibration: options.calibration ?? null,
    tolerances: options.tolerances ?? null,
    modules: options.modules ?? null,
    toughFactor: options.toughFactor ?? null,
    trim: options.trim ?? null,
    joint: options.joint ?? null,
    guessPerClass: options.guessPerClass ?? null,
    confirm: options.confirm ?? null,
    cost: options.cost ? 'given' : null,
    images: options.calibrationImages ? hex(fnv1a(new Uint8Array((options.calibrationImages.dataSync() as Float32Array).buffer))) : null,
  };
  return {
    guidance: options.guidance && options.guidance.scale > 0 ? options.guidance : null,
    temperature: options.temperature ?? 1,
    labels: options.labels ? Array.from(options.labels.dataSync()) : null,
    targetMeanAbsDiff: options.targetMeanAbsDiff ?? null,
    targetMaxAbsDiff: options.targetMaxAbsDiff ?? null,
    confidence: options.confidence ?? null,
    options: Object.values(other).some((v) => v !== null) ? hashText(JSON.stringify(other)) : null,
  };
}

/** The look-up for a plan of `model` on the running backend, with the engine options.engine gives there. */
export function planQuery(model: TarFlow, options: PlanOptions, fingerprint = modelFingerprint(model)): PlanQuery {
  return {
    model: fingerprint,
    backend: tf.getBackend(),
    engine: chooseEngine(options.engine).name,
    objective: options.objective ?? 'time',
    settings: planSettings(options),
    batch: options.batch ?? 16,
  };
}

/** Settings compared as canonical JSON (guidance keys in a fixed order). */
function settingsText(s: PlanSettings): string {
  const g = s.guidance;
  const guidance = g ? { scale: g.scale, on: g.on ?? 'both', annealed: g.annealed ?? false, attnTemp: g.attnTemp ?? 1 } : null;
  return JSON.stringify([guidance, s.temperature, s.labels, s.targetMeanAbsDiff, s.targetMaxAbsDiff, s.confidence, s.options]);
}

/** A kept plan split from its guess table. */
export function toRecord(plan: Plan, query: Omit<PlanQuery, 'batch'>, note?: string): { record: PlanRecord; table?: { hash: string; table: GuessTable } } {
  const { guessTable, ...rest } = plan;
  const table = guessTable ? { hash: guessTableHash(guessTable), table: guessTable } : undefined;
  const record: PlanRecord = {
    version: PLANNER_VERSION,
    model: query.model,
    backend: query.backend,
    engine: query.engine,
    objective: query.objective,
    settings: query.settings,
    plan: { ...rest, ...(table ? { guessTableHash: table.hash } : {}) },
    ...(note ? { note } : {}),
  };
  return { record, ...(table ? { table } : {}) };
}

/** Why a record does not serve a query, or null when it does. */
export function mismatch(record: PlanRecord, query: PlanQuery): string | null {
  if (record.version !== PLANNER_VERSION) return `made by planner version ${record.version}, this is ${PLANNER_VERSION}`;
  if (record.model !== query.model) return `made for other weights (hash ${record.model}, these are ${query.model})`;
  if (record.backend !== query.backend) return `made for backend ${record.backend}, this is ${query.backend}`;
  if (record.engine !== query.engine) return `made for the ${record.engine} engine, this run uses the ${query.engine} engine`;
  if (record.objective !== query.objective) return `objective ${record.objective}, not ${query.objective}`;
  if (settingsText(record.settings) !== settingsText(query.settings)) return 'made for other sampling settings';
  if (!(query.batch >= record.plan.batch.min)) return `valid for batches of ${record.plan.batch.min} or more, not ${query.batch}`;
  return null;
}

/** Checks a kept value's shape; throws an Error naming the problem. */
function checkRecord(value: unknown, blocks: number, tokens: number): PlanRecord {
  const r = value as PlanRecord;
  if (typeof r !== 'object' || r === null) throw new Error('not an object');
  if (typeof r.version !== 'number' || typeof r.model !== 'string' || typeof r.backend !== 'string') throw new Error('no version, model or backend');
  if (typeof r.settings !== 'object' || r.settings === null) throw new Error('no settings');
  const p = r.plan;
  if (typeof p !== 'object' || p === null || typeof p.batch?.min !== 'number' || !(p.batch.min >= 1)) throw new Error('no plan or batch range');
  validateSamplingStrategy(p.strategy, blocks, tokens);
  return r;
}

export interface FoundPlan {
  plan: Plan;
  record: PlanRecord;
}

/** A look-up's answer: the plan found, why the records that do not serve the query were passed over, and records that could not be read. */
export interface PlanLookup {
  found?: FoundPlan;
  ignored: string[];
  broken: string[];
}

/**
 * The best record for `query` among `records` — valid for the batch, made
 * for the largest batch (the closest calibration), thorough before quick —
 * with its guess table from `tables`; and why every other one was passed over.
 */
export function findPlan(
  records: unknown,
  query: PlanQuery,
  tables: (hash: string) => unknown,
  model: { blocks: number; tokens: number },
): PlanLookup {
  const ignored: string[] = [];
  const broken: string[] = [];
  if (records === undefined) return { ignored, broken };
  if (!Array.isArray(records)) return { ignored, broken: ['the plan list is not a list'] };
  const fits: PlanRecord[] = [];
  records.forEach((value, i) => {
    let r: PlanRecord;
    try {
      r = checkRecord(value, model.blocks, model.tokens);
    } catch (e) {
      broken.push(`plan ${i} is unreadable (${(e as Error).message})`);
      return;
    }
    const why = mismatch(r, query);
    if (why) ignored.push(`plan ${i} (${r.backend}, ${r.engine ?? 'no'} engine, ${r.objective}, batch ≥ ${r.plan.batch.min}): ${why}`);
    else fits.push(r);
  });
  fits.sort((a, b) => b.plan.batch.min - a.plan.batch.min || (a.plan.effort === 'thorough' ? -1 : 1));
  for (const record of fits) {
    const { guessTableHash: hash, ...plan } = record.plan;
    if (hash === undefined) return { found: { plan, record }, ignored, broken };
    let table: GuessTable;
    try {
      table = validateGuessTable(tables(hash));
      if (guessTableHash(table) !== hash) throw new Error('its values do not match its hash');
      if (table.tokens !== model.tokens) throw new Error(`it is for ${table.tokens} tokens, the model has ${model.tokens}`);
    } catch (e) {
      broken.push(`the guess table ${hash} of the plan for batch ≥ ${record.plan.batch.min} is unusable (${(e as Error).message})`);
      continue;
    }
    return { found: { plan: { ...plan, guessTable: table }, record }, ignored, broken };
  }
  return { ignored, broken };
}

const plansKey = (model: string) => `plans-${model}`;
const tableKey = (hash: string) => `table-${hash}`;

/** A kept plan for `query` from `store`, with the reasons other kept plans were not used. */
export function lookupPlan(store: PlanStore, query: PlanQuery, model: TarFlow): PlanLookup {
  return findPlan(store.get(plansKey(query.model)), query, (h) => store.get(tableKey(h)), { blocks: model.blocks.length, tokens: model.tokens });
}

/** Keeps `plan` in `store` (replacing a record for the same backend, objective, settings and batch). */
export function keepPlan(store: PlanStore, plan: Plan, query: Omit<PlanQuery, 'batch'>, note?: string): void {
  const { record, table } = toRecord(plan, query, note);
  if (table) store.set(tableKey(table.hash), table.table);
  const old = store.get(plansKey(query.model));
  const kept = (Array.isArray(old) ? old : []).filter((r: PlanRecord) => {
    try {
      return !(r.version === PLANNER_VERSION && r.backend === record.backend && r.engine === record.engine && r.objective === record.objective &&
        settingsText(r.settings) === settingsText(record.settings) && r.plan.batch.min === record.plan.batch.min);
    } catch {
      return false;
    }
  });
  store.set(plansKey(query.model), [...kept, record]);
}

/**
 * planStrategy, answered from `store` when a plan for the same weights,
 * backend, engine, objective and settings, valid for the batch, was kept before.
 * New plans are kept when complete (not cut short by the planning budget).
 */
export function planStrategyCached(model: TarFlow, options: PlanOptions, store: PlanStore): { plan: Plan; cached: boolean; broken: string[] } {
  const query = planQuery(model, options);
  const { found, broken } = lookupPlan(store, query, model);
  if (found) return { plan: found.plan, cached: true, broken };
  const plan = planStrategy(model, options);
  if (plan.complete) keepPlan(store, plan, query);
  return { plan, cached: false, broken };
}
