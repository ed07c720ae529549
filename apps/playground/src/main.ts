/**
 * The playground page: controls, and the drawing of what the sampling worker
 * (worker.ts) returns. No sampling logic lives here — the page only turns
 * form fields into library inputs (strategies, guidance settings, labels) and
 * library outputs (reports, metrics, images) into DOM.
 */
import './style.css';
import { DEFAULT_MODEL_NAME, DEFAULT_MODEL_SAMPLING, ZOO_MODELS, type ZooModel } from '@tarflow/zoo';
import { seededLabels } from '@tarflow/tensor/random';
import { BACKEND_NAMES, type BackendPreference } from '@tarflow/backends';
import { describeBlockStrategy, describeStrategy, formatStrategy, isJointStrategy, parseStrategy, sequentialStrategy, type BlockReport, type JacobiStrategy, type SamplingStrategy, type SolveReport } from '@tarflow/solvers';
import type { GuidanceSettings, RecommendedSampling } from '@tarflow/model';
import type {
  BackendInfo,
  CompareResult,
  Images,
  MetricsResult,
  ModelInfo,
  PlanSummary,
  Progress,
  Reply,
  Request,
  ResultOf,
  SampleResult,
  SampleSettings,
  SolverSpec,
} from './protocol.js';
import { blockColour, drawImages, el, formatMs, formatNum, residualChart } from './render.js';
import { readStoredPlans, writeStoredPlan } from './plan-store.js';

// ------------------------------------------------------------------ worker client

class StoppedError extends Error {
  constructor() {
    super('stopped');
    this.name = 'StoppedError';
  }
}

/**
 * Sends requests to the sampling worker; progress arrives through a callback.
 * Each worker starts with the kept plans (`plans()`), and every plan it keeps
 * comes back through `onStore`.
 */
class WorkerClient {
  private worker!: Worker;
  private nextId = 1;
  private readonly pending = new Map<number, { resolve(v: unknown): void; reject(e: Error): void; progress?: (p: Progress) => void }>();

  constructor(
    private readonly plans: () => Record<string, unknown>,
    private readonly onStore: (key: string, json: string) => void,
  ) {
    this.spawn();
  }

  private spawn(): void {
    this.worker = new Worker(new URL('./worker.ts', import.meta.url), { type: 'module', name: 'tarflow-sampler' });
    this.worker.onmessage = (e: MessageEvent<Reply>) => {
      const r = e.data;
      if (r.kind === 'store') {
        this.onStore(r.key, r.json);
        return;
      }
      const p = this.pending.get(r.id);
      if (!p) return;
      if (r.kind === 'progress') {
        p.progress?.(r.progress);
        return;
      }
      this.pending.delete(r.id);
      if (r.kind === 'result') p.resolve(r.result);
      else p.reject(Object.assign(new Error(r.message), { name: r.name }));
    };
    this.worker.onerror = (e) => {
      e.preventDefault();
      this.failAll(new Error(`the sampling worker failed: ${e.message || 'it could not start'}`));
    };
    // Requests run in order: the plans are in place before any run.
    this.call({ type: 'plans', entries: this.plans() }).catch(() => undefined);
  }

  call<T extends Request['type']>(request: Extract<Request, { type: T }>, progress?: (p: Progress) => void, transfer: Transferable[] = []): Promise<ResultOf[T]> {
    const id = this.nextId++;
    return new Promise((resolve, reject) => {
      this.pending.set(id, { resolve: resolve as (v: unknown) => void, reject, progress });
      this.worker.postMessage({ id, request }, transfer);
    });
  }

  /** Ends the worker (and whatever it is computing) and starts a fresh one. */
  restart(): void {
    this.worker.terminate();
    this.failAll(new StoppedError());
    this.spawn();
  }

  private failAll(e: Error): void {
    for (const p of this.pending.values()) p.reject(e);
    this.pending.clear();
  }
}

// ------------------------------------------------------------------ elements and state

const $ = <T extends HTMLElement = HTMLElement>(id: string): T => {
  const e = document.getElementById(id);
  if (!e) throw new Error(`playground: #${id} is missing from index.html`);
  return e as T;
};
const input = (id: string) => $<HTMLInputElement>(id);
const select = (id: string) => $<HTMLSelectElement>(id);

/** Plans kept from earlier visits and this one (plan-store.ts), by plan-store key; written to localStorage as they come. */
const keptPlans: Record<string, unknown> = {};
const planStoreNotes: string[] = [];
function storage(): Storage | null {
  try {
    return window.localStorage;
  } catch {
    return null; // storage disabled (e.g. some private modes): plans last one visit
  }
}
{
  const s = storage();
  if (s) {
    const { entries, notes } = readStoredPlans(s);
    Object.assign(keptPlans, entries);
    planStoreNotes.push(...notes);
  } else planStoreNotes.push('the browser gives this page no storage: plans are kept for this visit only');
}
const client = new WorkerClient(
  () => ({ ...keptPlans }),
  (key, json) => {
    keptPlans[key] = JSON.parse(json);
    const s = storage();
    const note = s ? writeStoredPlan(s, key, json) : null;
    if (note && !planStoreNotes.includes(note)) planStoreNotes.push(note);
    showPlanStoreNotes();
  },
);

/** Notes about the kept plans (unreadable entries removed, a full storage), under the solver. */
function showPlanStoreNotes(): void {
  const box = document.getElementById('plan-store-note');
  if (!box) return;
  box.hidden = planStoreNotes.length === 0;
  box.textContent = planStoreNotes.map((n) => `note: ${n}`).join(' · ');
}
const params = new URLSearchParams(location.search);
const wasmPaths = new URL('wasm/', document.baseURI).href;

let model: ModelInfo | null = null;
/** The loaded file's bytes, kept to reload the model when the worker restarts. */
let modelFile: { name: string; bytes: ArrayBuffer } | null = null;
/** Class names of the loaded model when it is one of the zoo's (label buttons show them as titles). */
let classNames: readonly string[] | null = null;
let backendPreference: BackendPreference = 'auto';
let labelMode: 'digits' | 'random' | 'none' = 'digits';
const digits = new Set<number>();
let busyCount = 0;
let runStarted = 0;
let progressTimer: number | undefined;
let lastProgress = '';

function errorText(e: unknown): string {
  return e instanceof Error ? e.message : String(e);
}

function showError(id: string, message: string | null): void {
  const box = $(id);
  box.hidden = message === null;
  box.textContent = message ?? '';
}

function setBusy(delta: 1 | -1): void {
  busyCount = Math.max(0, busyCount + delta);
  const busy = busyCount > 0;
  document.body.dataset.state = busy ? 'busy' : 'idle';
  for (const id of ['sample', 'compare', 'metrics', 'load-default', 'open-file', 'model-file', 'backend']) {
    ($(id) as HTMLButtonElement | HTMLInputElement | HTMLSelectElement).disabled = busy || (['sample', 'compare', 'metrics'].includes(id) && !model);
  }
  for (const b of document.querySelectorAll<HTMLButtonElement>('button[data-zoo]')) b.disabled = busy;
  $<HTMLButtonElement>('stop').disabled = !busy;
  if (busy && progressTimer === undefined) {
    runStarted = performance.now();
    progressTimer = window.setInterval(() => paintProgressText(), 250);
  } else if (!busy && progressTimer !== undefined) {
    window.clearInterval(progressTimer);
    progressTimer = undefined;
  }
}

function paintProgressText(): void {
  const elapsed = busyCount > 0 ? ` · ${formatMs(performance.now() - runStarted)}` : '';
  $('progress-text').textContent = `${lastProgress}${elapsed}`;
}

/**
 * The progress line and bar: `fraction` in [0, 1], or undefined while a phase
 * of unknown length runs (planning, calibrating), which the bar shows as a
 * moving stripe. Screen readers hear each new message once (#progress-live),
 * not the ticking elapsed time.
 */
function setProgress(message: string, fraction?: number): void {
  if (message !== lastProgress) $('progress-live').textContent = message;
  lastProgress = message;
  paintProgressText();
  const bar = $('progress-bar');
  bar.classList.toggle('indeterminate', fraction === undefined && busyCount > 0);
  if (fraction === undefined) {
    bar.removeAttribute('aria-valuenow');
    return;
  }
  const percent = Math.round(Math.max(0, Math.min(1, fraction)) * 100);
  $('progress-fill').style.width = `${percent}%`;
  bar.setAttribute('aria-valuenow', String(percent));
}

// ------------------------------------------------------------------ backend

function showBackend(info: BackendInfo): void {
  $('backend-name').textContent = info.name;
  $('backend-reason').textContent = info.reason;
  const status = $('backend-status');
  status.replaceChildren(
    el('div', {}, info.detail),
    ...info.skipped.map((s) => el('div', { class: 'muted' }, `skipped ${s.name}: ${s.reason}`)),
    ...info.notes.map((n) => el('div', { class: 'muted' }, `note: ${n}`)),
  );
}

async function applyBackend(preference: BackendPreference): Promise<void> {
  setBusy(1);
  showError('backend-error', null);
  setProgress(`setting up the ${preference} backend…`, 0);
  try {
    const info = await client.call({ type: 'backend', preference, wasmPaths });
    backendPreference = preference;
    showBackend(info);
    setProgress(`backend ${info.name} ready`, 1);
  } catch (e) {
    if (e instanceof StoppedError) return;
    showError('backend-error', errorText(e));
    setProgress('backend set-up failed', 0);
  } finally {
    setBusy(-1);
  }
}

// ------------------------------------------------------------------ model

function showModel(info: ModelInfo): void {
  const c = info.config;
  const trained = info.metadata.train_step ? ` · trained ${info.metadata.train_step} steps` : '';
  $('model-summary').textContent = `${info.name} — ${c.in_channels}×${c.img_size}×${c.img_size}, ${c.num_blocks} blocks, ${c.num_classes > 0 ? `${c.num_classes} classes` : 'unconditional'}`;
  $('model-status').replaceChildren(
    el('div', {}, el('b', {}, info.name), ` (${(info.bytes / 1e6).toFixed(1)} MB)`),
    el(
      'div',
      { class: 'muted small' },
      `${c.in_channels}×${c.img_size}×${c.img_size} images · patch ${c.patch_size} → T = ${info.tokens} tokens of D = ${info.patchDim} · ` +
        `${c.num_blocks} blocks × ${c.layers_per_block} layers · ${c.channels} channels · ` +
        `${c.num_classes > 0 ? `${c.num_classes} classes` : 'unconditional'} · ${(info.parameters / 1e6).toFixed(2)} M parameters${trained}`,
    ),
  );
  applyRecommended(info.recommended);
  if (digits.size === 0 || [...digits].some((d) => d >= c.num_classes)) {
    digits.clear();
    for (let k = 0; k < c.num_classes; k++) digits.add(k);
  }
  renderLabels();
  validateSolver();
}

/** Fields a URL parameter set: the first model's recommended settings leave them alone. */
const fromUrl = new Set<string>();

/** Puts the model's recommended sampling settings (or the embedded model's) into the guidance fields. */
function applyRecommended(r: RecommendedSampling | null): void {
  const g = r?.guidance ?? (r ? { scale: 0 } : DEFAULT_MODEL_SAMPLING.guidance);
  const set = (id: string, value: string) => {
    if (!fromUrl.has(id)) input(id).value = value;
  };
  set('guidance-scale', String(g.scale));
  select('guidance-on').value = ('on' in g && g.on) || 'both';
  input('annealed').checked = ('annealed' in g && g.annealed) || false;
  set('attn-temp', String(('attnTemp' in g && g.attnTemp) || 1));
  set('temperature', String(r?.temperature ?? (r ? 1 : DEFAULT_MODEL_SAMPLING.temperature)));
  input('denoise').checked = r?.denoise ?? (r ? false : DEFAULT_MODEL_SAMPLING.denoise);
  $('defaults-note').textContent = r ? "(defaults: this model's recommended settings)" : '(this model recommends none: the embedded model’s defaults)';
  fromUrl.clear();
  refreshValidity();
}

async function loadBytes(name: string, bytes: ArrayBuffer, zooClassNames: readonly string[] | null = null): Promise<boolean> {
  setBusy(1);
  showError('model-error', null);
  setProgress(`loading ${name}…`, 0);
  try {
    const copy = bytes.slice(0);
    const info = await client.call({ type: 'load', name, bytes: copy }, undefined, [copy]);
    model = info;
    modelFile = { name, bytes };
    classNames = zooClassNames;
    showModel(info);
    clearResults();
    setProgress(`model loaded: ${name}`, 1);
    return true;
  } catch (e) {
    if (e instanceof StoppedError) return false;
    const still = model ? ` — still using ${model.name}.` : '';
    showError('model-error', `Cannot load ${name}: ${errorText(e)}${still}`);
    setProgress('the model could not be loaded', 0);
    return false;
  } finally {
    setBusy(-1);
  }
}

/** The name a zoo model is shown under. */
function zooTitle(zoo: ZooModel): string {
  return `${zoo.name === DEFAULT_MODEL_NAME ? 'default ' : ''}${zoo.title} model`;
}

async function loadZooModel(zoo: ZooModel): Promise<void> {
  let bytes: ArrayBuffer;
  try {
    const res = await fetch(zoo.modelUrl);
    if (!res.ok) throw new Error(`HTTP ${res.status} ${res.statusText}`);
    bytes = await res.arrayBuffer();
  } catch (e) {
    showError('model-error', `Cannot fetch the ${zooTitle(zoo)} from ${zoo.modelUrl.href}: ${errorText(e)}`);
    return;
  }
  await loadBytes(zooTitle(zoo), bytes, zoo.classNames);
}

async function loadDefaultModel(): Promise<void> {
  await loadZooModel(ZOO_MODELS.find((m) => m.name === DEFAULT_MODEL_NAME)!);
}

async function loadFile(file: File): Promise<void> {
  if (file.size === 0) {
    showError('model-error', `Cannot load ${file.name}: the file is empty.`);
    return;
  }
  await loadBytes(file.name, await file.arrayBuffer());
}

function clearResults(): void {
  for (const id of ['samples-card', 'report-card', 'trace-card', 'compare-card', 'metrics-card', 'run-error']) $(id).hidden = true;
  $('empty').hidden = false;
}

/** The results of earlier runs, hidden when a run fails so that they are not read as its output. */
function hideResults(): void {
  for (const id of ['samples-card', 'report-card', 'trace-card', 'compare-card', 'metrics-card']) $(id).hidden = true;
  $('empty').hidden = true;
}

// ------------------------------------------------------------------ labels

function numClasses(): number {
  return model?.config.num_classes ?? 0;
}

/** One label per sample: the chosen digits in turn, seeded random ones, or -1 (unconditional). */
function labelsFor(batch: number, seed: number): number[] | null {
  const K = numClasses();
  if (K === 0) return null;
  if (labelMode === 'none') return new Array(batch).fill(-1);
  if (labelMode === 'random') {
    return Array.from(seededLabels(seed, Array.from({ length: batch }, (_, i) => i), K)); // as `tarflow sample --seed`
  }
  const list = digits.size > 0 ? [...digits].sort((a, b) => a - b) : Array.from({ length: K }, (_, k) => k);
  return Array.from({ length: batch }, (_, i) => list[i % list.length]);
}

function renderLabels(): void {
  const K = numClasses();
  const box = $('label-buttons');
  box.replaceChildren(
    ...Array.from({ length: K }, (_, k) => {
      const on = labelMode === 'digits' && digits.has(k);
      const b = el('button', { type: 'button', class: `digit${on ? ' on' : ''}`, 'data-label': k, 'aria-pressed': String(on), title: classNames?.[k] }, k);
      b.addEventListener('click', () => {
        if (labelMode !== 'digits') {
          labelMode = 'digits';
          digits.clear();
        }
        if (digits.has(k)) digits.delete(k);
        else digits.add(k);
        renderLabels();
      });
      return b;
    }),
  );
  if (K === 0) box.append(el('span', { class: 'muted small' }, model ? 'this model is unconditional' : 'loading the model…'));
  for (const [id, mode] of [
    ['labels-random', 'random'],
    ['labels-none', 'none'],
  ] as const) {
    $(id).classList.toggle('on', labelMode === mode);
    $(id).setAttribute('aria-pressed', String(labelMode === mode));
  }
  for (const id of ['labels-all', 'labels-random', 'labels-none']) $<HTMLButtonElement>(id).disabled = K === 0;
  const batch = readInt('batch', 1, 64);
  const seed = readInt('seed', 0, 2147483646);
  const labels = batch !== null && seed !== null ? labelsFor(batch, seed) : null;
  $('labels-preview').textContent = labels ? `labels: ${labels.map((l) => (l < 0 ? '∅' : l)).join(' ')}` : '';
}

// ------------------------------------------------------------------ settings

function readInt(id: string, min: number, max: number): number | null {
  const v = Number(input(id).value);
  const ok = input(id).value.trim() !== '' && Number.isInteger(v) && v >= min && v <= max;
  input(id).classList.toggle('invalid', !ok);
  return ok ? v : null;
}

function readNumber(id: string, min: number): number | null {
  const v = Number(input(id).value);
  const ok = input(id).value.trim() !== '' && Number.isFinite(v) && v >= min;
  input(id).classList.toggle('invalid', !ok);
  return ok ? v : null;
}

/** The tolerance field: undefined when empty. */
function readTolerance(): { value?: number; error?: string } {
  const text = input('tolerance').value.trim();
  if (text === '' || text === 'none') return {};
  const v = Number(text);
  if (!Number.isFinite(v) || v < 0) return { error: `tolerance must be a number ≥ 0 (or empty for none), got ${JSON.stringify(text)}` };
  return { value: v };
}

/** The solver as chosen in the form, or the reason it is not valid (shown inline). */
function readSolver(): { spec: SolverSpec } | { error: string; where: 'strategy-error' | 'solver-error' } {
  if (!model) return { error: 'no model is loaded', where: 'solver-error' };
  const blocks = model.config.num_blocks;
  const kind = select('solver').value;
  const tol = readTolerance();
  if (kind === 'sequential') return { spec: { kind: 'strategy', strategy: sequentialStrategy(blocks) } };
  if (kind === 'auto') return { spec: { kind: 'auto', objective: select('objective').value as 'depth' | 'time', effort: select('effort').value as 'quick' | 'thorough' } };
  if (tol.error) return { error: tol.error, where: kind === 'strategy' ? 'strategy-error' : 'solver-error' };
  const extra = tol.value !== undefined ? { tolerance: tol.value } : {};
  if (kind === 'strategy') {
    try {
      return { spec: { kind: 'strategy', strategy: parseStrategy(input('strategy-text').value, blocks, model.tokens, extra) } };
    } catch (e) {
      return { error: errorText(e), where: 'strategy-error' };
    }
  }
  const iterations = readInt('iterations', 1, 100_000);
  if (iterations === null) return { error: 'max iterations must be a positive integer', where: 'solver-error' };
  if (kind === 'joint') {
    const guess = select('joint-guess').value as 'table' | 'zeros' | 'noise';
    return { spec: { kind: 'strategy', strategy: { kind: 'joint', maxIterations: iterations, guess, ...extra } } };
  }
  const modules = kind === 'gs-jacobi' ? readInt('modules', 1, Math.max(1, model.tokens - 1)) : 1;
  if (modules === null) return { error: `modules must be an integer from 1 to ${model.tokens - 1} (T − 1)`, where: 'solver-error' };
  const block: JacobiStrategy = { kind: 'jacobi', modules, maxIterations: iterations, ...extra };
  return { spec: { kind: 'strategy', strategy: Array.from({ length: blocks }, () => ({ ...block })) } };
}

/** Shows the solver fields of the chosen kind, validates, and previews the parsed strategy. */
function validateSolver(): boolean {
  const kind = select('solver').value;
  for (const e of document.querySelectorAll<HTMLElement>('[data-solver]')) e.hidden = !e.dataset.solver!.split(' ').includes(kind);
  const r = readSolver();
  showError('strategy-error', 'error' in r && r.where === 'strategy-error' ? r.error : null);
  showError('solver-error', 'error' in r && r.where === 'solver-error' && model ? r.error : null);
  input('strategy-text').classList.toggle('invalid', 'error' in r && r.where === 'strategy-error');
  $('strategy-preview').textContent = 'spec' in r && r.spec.kind === 'strategy' && kind === 'strategy' ? `= ${formatStrategy(r.spec.strategy)}` : '';
  return 'spec' in r;
}

function readGuidance(): GuidanceSettings | null | undefined {
  const scale = readNumber('guidance-scale', 0);
  const attnTemp = readNumber('attn-temp', 0.01);
  if (scale === null || attnTemp === null) return undefined;
  if (scale === 0) return null;
  return { scale, on: select('guidance-on').value as GuidanceSettings['on'], annealed: input('annealed').checked, attnTemp };
}

/** The settings in the form, or what is wrong with them (fields outlined as a side effect). */
function checkSettings(): { settings: SampleSettings } | { error: string } {
  const batch = readInt('batch', 1, 64);
  const seed = readInt('seed', 0, 2147483646);
  const guidance = readGuidance();
  const temperature = readNumber('temperature', 0.01);
  const solver = readSolver();
  validateSolver();
  if (batch === null) return { error: 'batch size must be an integer from 1 to 64' };
  if (seed === null) return { error: 'seed must be an integer from 0 to 2147483646' };
  if (guidance === undefined) return { error: 'guidance scale must be ≥ 0 and attention temperature > 0' };
  if (temperature === null) return { error: 'sampling temperature must be > 0' };
  if ('error' in solver) return { error: 'the solver settings are not valid (see the message under the solver)' };
  return { settings: { batch, seed, labels: labelsFor(batch, seed), guidance, temperature, denoise: input('denoise').checked, solver: solver.spec, trace: input('trace').checked } };
}

/** Whether the run error on show is about the settings (and so goes once they are valid). */
let settingsErrorShown = false;

function readSettings(): SampleSettings | null {
  const r = checkSettings();
  if ('error' in r) {
    showRunError(r.error);
    settingsErrorShown = true;
    return null;
  }
  return r.settings;
}

/** Re-checks the form after an edit: outlines and a settings error clear as soon as the values are valid. */
function refreshValidity(): void {
  if (!model) return;
  const r = checkSettings();
  if (!settingsErrorShown) return;
  if ('error' in r) {
    showRunError(r.error);
    settingsErrorShown = true;
  } else {
    showRunError(null);
    settingsErrorShown = false;
  }
}

function describeSettings(s: SampleSettings): string {
  const labels = s.labels ? `labels ${s.labels.map((l) => (l < 0 ? '∅' : l)).join(' ')}` : 'unconditional';
  const g = s.guidance ? `guidance ${s.guidance.scale} on ${s.guidance.on}${s.guidance.annealed ? ' annealed' : ''}${s.guidance.attnTemp !== 1 ? `, attn temp ${s.guidance.attnTemp}` : ''}` : 'no guidance';
  const t = s.temperature !== 1 ? ` · temperature ${s.temperature}` : '';
  return `${s.batch} sample${s.batch === 1 ? '' : 's'} · seed ${s.seed} · ${labels} · ${g}${t}`;
}

// ------------------------------------------------------------------ results

function showRunError(message: string | null): void {
  settingsErrorShown = false;
  showError('run-error', message);
}

/**
 * A report's strategy for display: its text (formatStrategy: `sequential`,
 * `jacobi:8`, the notation, `joint:19 …`), with the per-block JSON of
 * strategies whose blocks differ folded away (still there to copy).
 */
function strategyNode(text: string): Node {
  if (!text.startsWith('[{')) return el('code', {}, text);
  return el('details', { class: 'json' }, el('summary', {}, 'per block (JSON)'), el('code', {}, text));
}

/** Puts a strategy into the strategy-text field, to edit or rerun it. */
function useStrategy(text: string): void {
  select('solver').value = 'strategy';
  input('strategy-text').value = text;
  validateSolver();
}

function reportSummary(report: SolveReport): HTMLElement {
  const speedup = report.depth > 0 ? report.sequentialDepth / report.depth : Infinity;
  return el(
    'div',
    { class: 'summary' },
    el('span', { class: 'metric' }, 'depth ', el('b', { id: 'total-depth', 'data-value': report.depth }, report.depth)),
    el('span', { class: 'metric' }, 'sequential depth ', el('b', { id: 'sequential-depth', 'data-value': report.sequentialDepth }, report.sequentialDepth)),
    el('span', { class: 'metric' }, 'speed-up in depth ', el('b', { id: 'depth-speedup', 'data-value': speedup }, `${speedup.toFixed(2)}×`)),
    el('span', { class: 'metric' }, 'wall time ', el('b', {}, formatMs(report.wallMs))),
    el('span', { class: 'metric' }, 'fallbacks ', el('b', { id: 'fallbacks' }, report.fallbacks)),
    el('div', { class: 'muted small' }, 'strategy ', strategyNode(report.strategy)),
    unconvergedWarning(report),
  );
}

/** The blocks (sampling order) that stopped at their iteration budget above their tolerance. */
function unconvergedBlocks(report: SolveReport): number[] {
  return [...new Set((report.unconverged ?? []).map((u) => u.block))];
}

/** A warning that a solve stopped at its budget above its tolerance: its samples are not exact. */
function unconvergedWarning(report: SolveReport): HTMLElement | null {
  const list = report.unconverged ?? [];
  if (list.length === 0) return null;
  const worst = list.reduce((a, b) => (b.residual > a.residual ? b : a));
  const blocks = unconvergedBlocks(report);
  const where = report.joint ? 'The joint solve' : `Block${blocks.length === 1 ? '' : 's'} ${blocks.join(', ')}`;
  return el(
    'div',
    { class: 'warning', id: 'unconverged', role: 'note', 'data-blocks': blocks.join(',') },
    `⚠ Not converged: ${where} stopped at the iteration budget (${worst.iterations}) with residual ${formatNum(worst.residual)}, above the tolerance ${formatNum(worst.tolerance)}. ` +
      'These samples are not the exact ones: raise max iterations, or use auto or sequential; Compare shows how far off they are.',
  );
}

function renderReportTable(blocks: BlockReport[], total: number, report?: SolveReport): void {
  if (report?.joint) return renderJointTable(report);
  const table = $('report-table');
  const head = el(
    'tr',
    {},
    ...['block', 'solver', 'iterations per module', 'depth', 'fallbacks', 'wall', 'residual per iteration (log)'].map((h) => el('th', { scope: 'col' }, h)),
  );
  const flagged = new Map((report?.unconverged ?? []).map((u) => [`${u.block}/${u.module}`, u]));
  const rows = blocks.map((b, k) => {
    const tol = b.strategy.kind === 'jacobi' ? b.strategy.tolerance : undefined;
    const fallbacks = b.modules.filter((m) => m.fallback).map((m) => `${m.start}…${m.end}: ${m.fallback!.reason}`);
    const stopped = b.modules.map((_, j) => flagged.get(`${k}/${j}`)).filter((u) => u !== undefined);
    return el(
      'tr',
      { 'data-block': k, class: stopped.length > 0 ? 'unconverged' : undefined },
      el('td', { class: 'nowrap' }, el('span', { class: 'chip', style: `background:${blockColour(k)}` }), `${k} `, el('span', { class: 'muted small' }, `(fwd ${total - 1 - k})`)),
      el(
        'td',
        {},
        describeBlockStrategy(b.strategy),
        stopped.length > 0
          ? el('div', { class: 'flag' }, `⚠ stopped at budget: residual ${formatNum(Math.max(...stopped.map((u) => u.residual)))} > ${formatNum(stopped[0].tolerance)}`)
          : null,
      ),
      el('td', { class: 'mono' }, b.strategy.kind === 'sequential' ? '—' : b.modules.map((m) => m.iterations).join(' · ')),
      el('td', { class: 'num' }, b.depth),
      el('td', { class: 'num', title: fallbacks.join('\n') }, b.fallbacks),
      el('td', { class: 'num' }, formatMs(b.wallMs)),
      el('td', {}, residualChart(b.modules, blockColour(k), tol)),
    );
  });
  const pending = Array.from({ length: total - blocks.length }, (_, i) =>
    el('tr', { class: 'pending' }, el('td', {}, `${blocks.length + i} `, el('span', { class: 'muted small' }, `(fwd ${total - 1 - blocks.length - i})`)), el('td', { colspan: 6, class: 'muted' }, '…')),
  );
  table.replaceChildren(el('thead', {}, head), el('tbody', {}, ...rows, ...pending));
}

/**
 * A joint solve as what it is: one row for all blocks (they iterate together;
 * depth counts joint iterations), the residual of the last block, which
 * iterates longest, and a note on how such a solve is judged.
 */
function renderJointTable(report: SolveReport | null, maxIterations?: number): void {
  const head = el('tr', {}, ...['blocks', 'solver', 'joint iterations', 'depth', 'fallbacks', 'wall', 'residual of the last block (log)'].map((h) => el('th', { scope: 'col' }, h)));
  if (!report) {
    const row = el('tr', { class: 'pending' }, el('td', {}, 'all'), el('td', { colspan: 6, class: 'muted' }, `joint solve, at most ${maxIterations ?? '…'} iterations…`));
    $('report-table').replaceChildren(el('thead', {}, head), el('tbody', {}, row));
    return;
  }
  const last = report.blocks[report.blocks.length - 1];
  const strategy = parseStrategyText(report.strategy);
  const tol = last?.strategy.kind === 'jacobi' ? last.strategy.tolerance : undefined;
  const row = el(
    'tr',
    { 'data-joint': '', class: (report.unconverged ?? []).length > 0 ? 'unconverged' : undefined },
    el('td', { class: 'nowrap' }, ...report.blocks.map((_, k) => el('span', { class: 'chip', style: `background:${blockColour(k)}` })), `0–${report.blocks.length - 1}`),
    el('td', {}, strategy ? describeStrategy(strategy) : report.strategy),
    el('td', { class: 'num', id: 'joint-iterations' }, report.joint?.iterations ?? ''),
    el('td', { class: 'num' }, report.depth),
    el('td', { class: 'num' }, report.fallbacks),
    el('td', { class: 'num' }, formatMs(report.wallMs)),
    el('td', {}, last ? residualChart(last.modules, blockColour(report.blocks.length - 1), tol) : ''),
  );
  const note = el(
    'tr',
    {},
    el(
      'td',
      { colspan: 7, class: 'muted small' },
      'All blocks iterate together, so the depth is the number of joint iterations. While later blocks wait for their inputs to settle their residuals stay high, ' +
        'and a short joint solve can end with residuals near 1: judge it by its samples (Compare measures them against the exact sampler).',
    ),
  );
  $('report-table').replaceChildren(el('thead', {}, head), el('tbody', {}, row), el('tfoot', {}, note));
}

/** The strategy of a report's text, for describing it in words (null if it does not parse here). */
function parseStrategyText(text: string): SamplingStrategy | null {
  if (!model) return null;
  try {
    return parseStrategy(text, model.config.num_blocks, model.tokens);
  } catch {
    return null;
  }
}

function button(label: string, onClick: () => void): HTMLButtonElement {
  const b = el('button', { type: 'button', class: 'small-button' }, label);
  b.addEventListener('click', onClick);
  return b;
}

const PLAN_SOURCES: Record<PlanSummary['source'], string> = {
  shipped: 'shipped in the model file',
  kept: 'kept in this browser from an earlier run',
  planned: 'planned now (kept in this browser for next time)',
};

function renderPlan(plan: PlanSummary | undefined): void {
  const box = $('plan');
  if (!plan) {
    box.replaceChildren();
    return;
  }
  const p = plan.predicted;
  box.replaceChildren(
    el(
      'div',
      { class: 'plan' },
      el(
        'div',
        {},
        `${plan.objective} plan${plan.tolerance !== null ? ` (tolerance ${plan.tolerance})` : ''}, `,
        el('span', { id: 'plan-source', 'data-source': plan.source }, PLAN_SOURCES[plan.source]),
        ': ',
        strategyNode(plan.text),
        ' ',
        button('use as strategy text', () => useStrategy(plan.text)),
      ),
      el(
        'div',
        { class: 'muted small' },
        `predicted depth ${p.depth} of ${p.sequentialDepth}` +
          (p.ms !== undefined && p.sequentialMs !== undefined ? ` · ${formatMs(p.ms)} vs ${formatMs(p.sequentialMs)} sequential` : '') +
          ` · calibration mean |Δ| ${formatNum(p.meanAbsDiff)} (accepted on the bound ${formatNum(p.meanAbsDiffBound)}), max |Δ| ${formatNum(p.maxAbsDiff)}`,
      ),
      el('ul', { class: 'small' }, ...planReasons(plan)),
      ...plan.warnings.map((w) => el('div', { class: 'muted small' }, `note: ${w}`)),
      el(
        'div',
        { class: 'muted small note', id: 'plan-acceptance' },
        `How a plan is accepted: by the quality of the samples it draws, measured against the exact sampler on calibration samples (mean |Δ| ${formatNum(p.meanAbsDiff)} within the bound ${formatNum(p.meanAbsDiffBound)}), not by residuals — ` +
          'a few iterations can leave residuals near 1 in places the image does not show. Compare measures it on these settings.',
      ),
    ),
  );
}

/** The plan's reasons, blocks with the same choice and reason on one line (a joint plan has one). */
function planReasons(plan: PlanSummary): HTMLElement[] {
  const groups = new Map<string, { blocks: number[]; choice: string; reason: string }>();
  for (const b of plan.blocks) {
    const key = `${b.choice}\u0000${b.reason}`;
    const g = groups.get(key) ?? { blocks: [], choice: b.choice, reason: b.reason };
    g.blocks.push(b.samplingIndex);
    groups.set(key, g);
  }
  return [...groups.values()].map((g) => {
    const which = g.blocks.length === plan.blocks.length && g.blocks.length > 1 ? 'all blocks' : `block${g.blocks.length === 1 ? '' : 's'} ${g.blocks.join(', ')}`;
    return el('li', {}, el('b', {}, `${which}: ${g.choice}`), ` — ${g.reason}`);
  });
}

function renderTrace(trace: Images[] | undefined, blocks: number): void {
  const card = $('trace-card');
  card.hidden = !trace;
  if (!trace) return;
  $('trace-body').replaceChildren(
    ...trace.map((step, s) => {
      const canvas = el('canvas', { class: 'pixelated' });
      drawImages(canvas, step, { columns: step.shape[0], scale: 3, fitWidth: 640 });
      const label = s === 0 ? 'noise (√var · z)' : `after block ${s - 1} (fwd ${blocks - s})`;
      return el('div', { class: 'trace-row', 'data-step': s }, el('span', { class: 'trace-label small' }, label), canvas);
    }),
  );
}

function renderSample(r: SampleResult, s: SampleSettings): void {
  $('empty').hidden = true;
  $('samples-card').hidden = false;
  const B = r.images.shape[0];
  const grid = $<HTMLCanvasElement>('grid');
  drawGrid(grid, r.images, $('samples-card'));
  const stopped = unconvergedBlocks(r.report);
  const exactness = stopped.length > 0 ? ` · not exact: ${r.report.joint ? 'the joint solve' : `block${stopped.length === 1 ? '' : 's'} ${stopped.join(', ')}`} stopped above the tolerance` : '';
  grid.setAttribute('aria-label', `${B} sample${B === 1 ? '' : 's'}${s.labels ? `: digits ${s.labels.map((l) => (l < 0 ? 'unconditional' : l)).join(', ')}` : ''}${exactness}`);
  $('samples-caption').replaceChildren(
    `${describeSettings(s)} · ${r.denoised ? 'after one denoising step' : 'raw samples'}`,
    stopped.length > 0 ? el('div', { class: 'flag', id: 'samples-unconverged' }, `⚠ not exact${exactness.slice(' · not exact'.length)} (see the solve report)`) : '',
  );
  $('report-card').hidden = false;
  const summary = $('report-summary');
  summary.replaceChildren(reportSummary(r.report));
  renderPlan(r.plan);
  renderReportTable(r.report.blocks, r.report.blocks.length, r.report);
  renderTrace(r.trace, r.report.blocks.length);
}

/**
 * Draws a batch at one cell size whatever the batch (4 CSS px an image pixel),
 * as many columns as fit the card (at most 8), so phones get 3 readable
 * columns rather than 8 tiny ones.
 */
function drawGrid(canvas: HTMLCanvasElement, images: Images, card: HTMLElement): void {
  const [B, , , W] = images.shape;
  const scale = 4;
  const width = card.clientWidth - 24 || 720;
  const columns = Math.max(1, Math.min(B, 8, Math.floor(width / ((W + 1) * scale))));
  drawImages(canvas, images, { columns, scale });
}

function renderCompare(r: CompareResult, s: SampleSettings): void {
  $('empty').hidden = true;
  $('compare-card').hidden = false;
  const B = r.sequential.images.shape[0];
  const pane = (title: string, part: { images: Images; report: SolveReport }, id: string) => {
    const canvas = el('canvas', { class: 'pixelated', id: `compare-${id}`, role: 'img', 'aria-label': `${B} samples, ${title}` });
    drawImages(canvas, part.images, { columns: Math.min(B, 4), scale: 6, fitWidth: 300 });
    return el(
      'div',
      { class: 'pane' },
      el('h3', {}, title),
      canvas,
      el('div', {}, 'depth ', el('b', { id: `compare-${id}-depth` }, part.report.depth), ` · ${formatMs(part.report.wallMs)}`, part.report.fallbacks ? ` · ${part.report.fallbacks} fallbacks` : ''),
      part.report.strategy !== title ? el('div', { class: 'muted small' }, strategyNode(part.report.strategy)) : null,
      unconvergedWarning(part.report),
    );
  };
  const depthUp = r.solver.report.depth > 0 ? r.sequential.report.depth / r.solver.report.depth : Infinity;
  const timeUp = r.solver.report.wallMs > 0 ? r.sequential.report.wallMs / r.solver.report.wallMs : Infinity;
  $('compare-body').replaceChildren(
    el(
      'div',
      { class: 'compare' },
      pane('sequential', r.sequential, 'sequential'),
      el(
        'div',
        { class: 'pane stats' },
        el('div', {}, 'mean |Δ| ', el('b', { id: 'compare-mean' }, formatNum(r.meanAbsDiff))),
        el('div', {}, 'max |Δ| ', el('b', { id: 'compare-max' }, formatNum(r.maxAbsDiff))),
        el('div', {}, 'depth ', el('b', {}, `${depthUp.toFixed(2)}×`), ' fewer'),
        el('div', {}, 'wall time ', el('b', {}, `${timeUp.toFixed(2)}×`), timeUp >= 1 ? ' faster' : ' (slower: one parallel pass costs more than a step here)'),
      ),
      pane(select('solver').selectedOptions[0]?.textContent ?? 'solver', r.solver, 'solver'),
    ),
    el('div', { class: 'muted small' }, describeSettings(s)),
  );
  if (r.solver.plan) $('compare-body').append(el('div', { class: 'muted small' }, `${r.solver.plan.objective} plan, ${PLAN_SOURCES[r.solver.plan.source]}: `, strategyNode(r.solver.plan.text)));
}

function renderMetrics(r: MetricsResult): void {
  $('empty').hidden = true;
  $('metrics-card').hidden = false;
  const n = r.metrics.blocks.length;
  const bySampling = [...r.metrics.blocks].sort((a, b) => a.samplingIndex - b.samplingIndex);
  const stacked = el(
    'div',
    { class: 'stacked', title: 'CRM share per block, sampling order' },
    ...bySampling.map((b) =>
      el('span', { style: `width:${(b.crmShare * 100).toFixed(2)}%;background:${blockColour(b.samplingIndex)}`, title: `block ${b.samplingIndex}: ${(b.crmShare * 100).toFixed(1)}%` }),
    ),
  );
  const head = el('tr', {}, ...['block', 'CRM', 'share', 'IGM noise guess', 'IGM zeros guess', 'better guess'].map((h) => el('th', {}, h)));
  const rows = bySampling.map((b) => {
    const better = b.igm[0] <= b.igm[1] ? 'noise' : 'zeros';
    return el(
      'tr',
      { 'data-block': b.samplingIndex },
      el('td', { class: 'nowrap' }, el('span', { class: 'chip', style: `background:${blockColour(b.samplingIndex)}` }), `${b.samplingIndex} `, el('span', { class: 'muted small' }, `(fwd ${b.forwardIndex})`)),
      el('td', { class: 'num', title: `‖mean(exp(−a)·x)‖ ${formatNum(b.crmTerms[0])} · ‖W_a‖ ${formatNum(b.crmTerms[1])} + ‖W_c‖ ${formatNum(b.crmTerms[2])}` }, formatNum(b.crm)),
      el(
        'td',
        {},
        el('span', { class: 'share' }, el('span', { style: `width:${(b.crmShare * 100).toFixed(1)}%;background:${blockColour(b.samplingIndex)}` })),
        ` ${(b.crmShare * 100).toFixed(1)}%`,
      ),
      el('td', { class: `num${better === 'noise' ? ' best' : ''}` }, formatNum(b.igm[0])),
      el('td', { class: `num${better === 'zeros' ? ' best' : ''}` }, formatNum(b.igm[1])),
      el('td', {}, better),
    );
  });
  $('metrics-body').replaceChildren(
    stacked,
    el('table', { id: 'metrics-table' }, el('thead', {}, head), el('tbody', {}, ...rows)),
    el(
      'div',
      { class: 'muted small' },
      `${r.batch} exact samples${r.reused ? ' (reused from the last exact run)' : ''} · ${r.metrics.norm}-norm · ${n} blocks, sampling order. ` +
        'A large CRM share marks a block that converges slowly under Jacobi (a candidate for GS modules); the lower IGM is the better initial guess.',
    ),
  );
}

// ------------------------------------------------------------------ runs

type RunKind = 'sample' | 'compare' | 'metrics';

async function run(kind: RunKind): Promise<void> {
  if (!model || busyCount > 0) return;
  showRunError(null);
  showError('model-error', null); // a failed load is old news once the loaded model runs
  const settings = readSettings();
  if (!settings) return;
  setBusy(1);
  const blocks = model.config.num_blocks;
  const live: BlockReport[] = [];
  const phases = kind === 'compare' ? ['sequential', 'sample'] : kind === 'metrics' ? ['sequential'] : ['sample'];
  setProgress(kind === 'metrics' ? 'CRM / IGM…' : 'sampling…', 0);
  const joint = settings.solver.kind === 'strategy' && isJointStrategy(settings.solver.strategy) ? settings.solver.strategy : null;
  if (kind === 'sample') {
    $('empty').hidden = true;
    $('report-card').hidden = false;
    $('report-summary').replaceChildren(el('div', { class: 'muted' }, 'sampling…'));
    renderPlan(undefined);
    if (joint) renderJointTable(null, joint.maxIterations);
    else renderReportTable([], blocks);
  }
  const onProgress = (p: Progress) => {
    const at = Math.max(0, phases.indexOf(p.phase));
    const fraction = p.total ? (at + (p.done ?? 0) / p.total) / phases.length : undefined;
    setProgress(p.message, fraction);
    // A joint solve finishes every block together: its row appears with the result.
    if (kind === 'sample' && p.phase === 'sample' && p.block && !joint) {
      live.push(p.block);
      renderReportTable(live, blocks);
    }
  };
  try {
    if (kind === 'sample') {
      const r = await client.call({ type: 'sample', settings }, onProgress);
      renderSample(r, settings);
      setProgress(`sampled ${settings.batch} in ${formatMs(r.report.wallMs)} · depth ${r.report.depth} of ${r.report.sequentialDepth}`, 1);
    } else if (kind === 'compare') {
      const r = await client.call({ type: 'compare', settings }, onProgress);
      renderCompare(r, settings);
      setProgress(`compared: mean |Δ| ${formatNum(r.meanAbsDiff)}, max |Δ| ${formatNum(r.maxAbsDiff)}`, 1);
    } else {
      const r = await client.call({ type: 'metrics', settings }, onProgress);
      renderMetrics(r);
      setProgress('CRM / IGM done', 1);
    }
    revealResults(kind);
  } catch (e) {
    if (e instanceof StoppedError) {
      setProgress('stopped', 0);
    } else {
      hideResults();
      showRunError(`${kind} failed: ${errorText(e)}`);
      setProgress(`${kind} failed`, 0);
    }
  } finally {
    setBusy(-1);
  }
}

/** On a narrow screen the results are below the controls: bring the new ones into view. */
function revealResults(kind: RunKind): void {
  if (!window.matchMedia('(max-width: 900px)').matches) return;
  const card = $(kind === 'sample' ? 'samples-card' : kind === 'compare' ? 'compare-card' : 'metrics-card');
  card.scrollIntoView({ block: 'start', behavior: 'smooth' });
}

/** Stops the running request: restarts the worker, then restores its backend and model. */
async function stop(): Promise<void> {
  client.restart();
  await Promise.resolve();
  await applyBackend(backendPreference);
  if (modelFile) await loadBytes(modelFile.name, modelFile.bytes);
  setProgress('stopped — the worker was restarted', 0);
}

// ------------------------------------------------------------------ wiring

function init(): void {
  const backend = select('backend');
  backend.replaceChildren(...BACKEND_NAMES.map((n) => el('option', { value: n }, n)));
  const wanted = params.get('backend');
  backendPreference = (BACKEND_NAMES as readonly string[]).includes(wanted ?? '') ? (wanted as BackendPreference) : 'auto';
  backend.value = backendPreference;
  backend.addEventListener('change', () => void applyBackend(backend.value as BackendPreference));

  // The model's recommended settings fill the guidance fields once it loads; these are the embedded model's.
  applyRecommended(null);
  $('defaults-note').textContent = "(defaults: the model's recommended settings)";

  for (const [name, id] of [
    ['batch', 'batch'],
    ['seed', 'seed'],
    ['temperature', 'temperature'],
    ['strategy', 'strategy-text'],
    ['iterations', 'iterations'],
    ['tolerance', 'tolerance'],
  ] as const) {
    const v = params.get(name);
    if (v !== null) {
      input(id).value = v;
      fromUrl.add(id);
    }
  }
  // Auto is the default: the default model ships a time plan for wasm (no planning), and a plan made here is kept for later visits.
  const solver = params.get('solver');
  select('solver').value = solver && [...select('solver').options].some((o) => o.value === solver) ? solver : 'auto';
  for (const id of ['objective', 'effort']) {
    const v = params.get(id);
    if (v !== null && [...select(id).options].some((o) => o.value === v)) select(id).value = v;
  }
  showPlanStoreNotes();

  for (const id of ['solver', 'modules', 'iterations', 'tolerance', 'objective', 'effort', 'strategy-text']) {
    $(id).addEventListener('input', () => validateSolver());
    $(id).addEventListener('change', () => validateSolver());
  }
  for (const id of ['batch', 'seed']) $(id).addEventListener('input', () => renderLabels());
  // Outlines and a settings error go as soon as the values are valid again.
  for (const e of $('controls').querySelectorAll('input, select')) {
    e.addEventListener('input', () => refreshValidity());
    e.addEventListener('change', () => refreshValidity());
  }
  $('seed-new').addEventListener('click', () => {
    input('seed').value = String(Math.floor(Math.random() * 100_000));
    renderLabels();
  });
  $('labels-all').addEventListener('click', () => {
    labelMode = 'digits';
    for (let k = 0; k < numClasses(); k++) digits.add(k);
    renderLabels();
  });
  $('labels-random').addEventListener('click', () => {
    labelMode = 'random';
    renderLabels();
  });
  $('labels-none').addEventListener('click', () => {
    labelMode = 'none';
    renderLabels();
  });

  $('sample').addEventListener('click', () => void run('sample'));
  $('compare').addEventListener('click', () => void run('compare'));
  $('metrics').addEventListener('click', () => void run('metrics'));
  $('stop').addEventListener('click', () => void stop());
  input('strategy-text').addEventListener('keydown', (e) => {
    if (e.key === 'Enter') void run('sample');
  });
  $('load-default').addEventListener('click', () => void loadDefaultModel());
  // The zoo's other models, each a button beside the default one.
  $('load-default').after(
    ...ZOO_MODELS.filter((m) => m.name !== DEFAULT_MODEL_NAME).map((zoo) => {
      const b = el('button', { type: 'button', 'data-zoo': zoo.name, title: zoo.description }, zoo.title);
      b.addEventListener('click', () => void loadZooModel(zoo));
      return b;
    }),
  );
  $('open-file').addEventListener('click', () => input('model-file').click());
  input('model-file').addEventListener('change', () => {
    const file = input('model-file').files?.[0];
    input('model-file').value = '';
    if (file) void loadFile(file);
  });
  document.addEventListener('dragover', (e) => {
    e.preventDefault();
    document.body.classList.add('dragging');
  });
  document.addEventListener('dragleave', (e) => {
    if (e.relatedTarget === null) document.body.classList.remove('dragging');
  });
  document.addEventListener('drop', (e) => {
    e.preventDefault();
    document.body.classList.remove('dragging');
    const file = e.dataTransfer?.files[0];
    if (file && busyCount === 0) void loadFile(file);
  });

  renderLabels();
  validateSolver();
  setBusy(1);
  void (async () => {
    await applyBackend(backendPreference);
    await loadDefaultModel();
    setBusy(-1);
    if (model) setProgress(`ready — ${model.name} on ${$('backend-name').textContent}`, 0);
  })();
}

init();

// For scripted use (tests, the console): the state the page shows.
declare global {
  interface Window {
    tarflowPlayground: { model(): ModelInfo | null; strategy(): SamplingStrategy | null };
  }
}
window.tarflowPlayground = {
  model: () => model,
  strategy: () => {
    const r = readSolver();
    return 'spec' in r && r.spec.kind === 'strategy' ? r.spec.strategy : null;
  },
};
