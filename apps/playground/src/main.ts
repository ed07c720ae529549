/**
 * The playground page: controls, and the drawing of what the sampling worker
 * (worker.ts) returns. No sampling logic lives here — the page only turns
 * form fields into library inputs (strategies, guidance settings, labels) and
 * library outputs (reports, metrics, images) into DOM.
 */
import './style.css';
import { DEFAULT_MODEL_SAMPLING, defaultModelUrl } from '@tarflow/zoo';
import { seededLabels } from '@tarflow/tensor/random';
import { BACKEND_NAMES, type BackendPreference } from '@tarflow/backends';
import { formatSamplingStrategy, parseSamplingStrategy, type BlockReport, type JacobiStrategy, type SamplingStrategy, type SolveReport } from '@tarflow/solvers';
import type { GuidanceSettings } from '@tarflow/model';
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
import { blockColour, describeBlockStrategy, drawImages, el, formatMs, formatNum, residualChart } from './render.js';

// ------------------------------------------------------------------ worker client

class StoppedError extends Error {
  constructor() {
    super('stopped');
    this.name = 'StoppedError';
  }
}

/** Sends requests to the sampling worker; progress arrives through a callback. */
class WorkerClient {
  private worker!: Worker;
  private nextId = 1;
  private readonly pending = new Map<number, { resolve(v: unknown): void; reject(e: Error): void; progress?: (p: Progress) => void }>();

  constructor() {
    this.spawn();
  }

  private spawn(): void {
    this.worker = new Worker(new URL('./worker.ts', import.meta.url), { type: 'module', name: 'tarflow-sampler' });
    this.worker.onmessage = (e: MessageEvent<Reply>) => {
      const r = e.data;
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

const client = new WorkerClient();
const params = new URLSearchParams(location.search);
const wasmPaths = new URL('wasm/', document.baseURI).href;

let model: ModelInfo | null = null;
/** The loaded file's bytes, kept to reload the model when the worker restarts. */
let modelFile: { name: string; bytes: ArrayBuffer } | null = null;
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
  for (const id of ['sample', 'compare', 'metrics', 'load-default', 'model-file', 'backend']) {
    ($(id) as HTMLButtonElement | HTMLInputElement | HTMLSelectElement).disabled = busy || (id !== 'backend' && id !== 'load-default' && id !== 'model-file' && !model);
  }
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

function setProgress(message: string, fraction?: number): void {
  lastProgress = message;
  paintProgressText();
  if (fraction !== undefined) $('progress-fill').style.width = `${Math.round(Math.max(0, Math.min(1, fraction)) * 100)}%`;
}

// ------------------------------------------------------------------ backend

function showBackend(info: BackendInfo): void {
  $('backend-name').textContent = info.name;
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
  if (digits.size === 0 || [...digits].some((d) => d >= c.num_classes)) {
    digits.clear();
    for (let k = 0; k < c.num_classes; k++) digits.add(k);
  }
  renderLabels();
  validateSolver();
}

async function loadBytes(name: string, bytes: ArrayBuffer): Promise<boolean> {
  setBusy(1);
  showError('model-error', null);
  setProgress(`loading ${name}…`, 0);
  try {
    const copy = bytes.slice(0);
    const info = await client.call({ type: 'load', name, bytes: copy }, undefined, [copy]);
    model = info;
    modelFile = { name, bytes };
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

async function loadDefaultModel(): Promise<void> {
  let bytes: ArrayBuffer;
  try {
    const res = await fetch(defaultModelUrl);
    if (!res.ok) throw new Error(`HTTP ${res.status} ${res.statusText}`);
    bytes = await res.arrayBuffer();
  } catch (e) {
    showError('model-error', `Cannot fetch the default model from ${defaultModelUrl.href}: ${errorText(e)}`);
    return;
  }
  await loadBytes('default MNIST model', bytes);
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
      const b = el('button', { type: 'button', class: `digit${labelMode === 'digits' && digits.has(k) ? ' on' : ''}`, 'data-label': k }, k);
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
  if (K === 0) box.append(el('span', { class: 'muted small' }, 'this model is unconditional'));
  $('labels-random').classList.toggle('on', labelMode === 'random');
  $('labels-none').classList.toggle('on', labelMode === 'none');
  for (const id of ['labels-all', 'labels-random', 'labels-none']) $<HTMLButtonElement>(id).disabled = K === 0;
  const batch = readInt('batch', 1, 64) ?? 8;
  const seed = readInt('seed', 0, 2147483646) ?? 0;
  const labels = labelsFor(batch, seed);
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
  if (kind === 'sequential') return { spec: { kind: 'strategy', strategy: Array.from({ length: blocks }, () => ({ kind: 'sequential' as const })) } };
  if (kind === 'auto') return { spec: { kind: 'auto', objective: select('objective').value as 'depth' | 'time' } };
  if (tol.error) return { error: tol.error, where: kind === 'strategy' ? 'strategy-error' : 'solver-error' };
  const extra = tol.value !== undefined ? { tolerance: tol.value } : {};
  if (kind === 'strategy') {
    try {
      return { spec: { kind: 'strategy', strategy: parseSamplingStrategy(input('strategy-text').value, blocks, model.tokens, extra) } };
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
  $('strategy-preview').textContent = 'spec' in r && r.spec.kind === 'strategy' && kind === 'strategy' ? `= ${formatSamplingStrategy(r.spec.strategy)}` : '';
  return 'spec' in r;
}

function readGuidance(): GuidanceSettings | null | undefined {
  const scale = readNumber('guidance-scale', 0);
  const attnTemp = readNumber('attn-temp', 0.01);
  if (scale === null || attnTemp === null) return undefined;
  if (scale === 0) return null;
  return { scale, on: select('guidance-on').value as GuidanceSettings['on'], annealed: input('annealed').checked, attnTemp };
}

function readSettings(): SampleSettings | null {
  const batch = readInt('batch', 1, 64);
  const seed = readInt('seed', 0, 2147483646);
  const guidance = readGuidance();
  const temperature = readNumber('temperature', 0.01);
  const solver = readSolver();
  validateSolver();
  if (batch === null || seed === null || guidance === undefined || temperature === null || 'error' in solver) {
    showRunError(
      batch === null
        ? 'batch size must be an integer from 1 to 64'
        : seed === null
          ? 'seed must be an integer from 0 to 2147483646'
          : guidance === undefined
            ? 'guidance scale must be ≥ 0 and attention temperature > 0'
            : temperature === null
              ? 'sampling temperature must be > 0'
              : 'the solver settings are not valid (see the message under the solver)',
    );
    return null;
  }
  return { batch, seed, labels: labelsFor(batch, seed), guidance, temperature, denoise: input('denoise').checked, solver: solver.spec, trace: input('trace').checked };
}

function describeSettings(s: SampleSettings): string {
  const labels = s.labels ? `labels ${s.labels.map((l) => (l < 0 ? '∅' : l)).join(' ')}` : 'unconditional';
  const g = s.guidance ? `guidance ${s.guidance.scale} on ${s.guidance.on}${s.guidance.annealed ? ' annealed' : ''}${s.guidance.attnTemp !== 1 ? `, attn temp ${s.guidance.attnTemp}` : ''}` : 'no guidance';
  const t = s.temperature !== 1 ? ` · temperature ${s.temperature}` : '';
  return `${s.batch} sample${s.batch === 1 ? '' : 's'} · seed ${s.seed} · ${labels} · ${g}${t}`;
}

// ------------------------------------------------------------------ results

function showRunError(message: string | null): void {
  showError('run-error', message);
}

/**
 * A report's strategy as text: the notation where it fits, else — where every
 * block has the same strategy — that one in words (formatStrategy prints JSON
 * for those), else the JSON.
 */
function strategyText(report: SolveReport): string {
  if (!report.strategy.startsWith('[{')) return report.strategy;
  const first = JSON.stringify(report.blocks[0]?.strategy);
  if (report.blocks.every((b) => JSON.stringify(b.strategy) === first)) {
    const only = report.blocks[0].strategy;
    return only.kind === 'sequential' ? 'sequential' : `${describeBlockStrategy(only)}, every block`;
  }
  return report.strategy;
}

/** A strategy for display: short text, with long JSON folded away (still there to copy). */
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
    el('div', { class: 'muted small' }, 'strategy ', strategyNode(strategyText(report))),
  );
}

function renderReportTable(blocks: BlockReport[], total: number): void {
  const table = $('report-table');
  const head = el(
    'tr',
    {},
    ...['block', 'solver', 'iterations per module', 'depth', 'fallbacks', 'wall', 'residual per iteration (log)'].map((h) => el('th', {}, h)),
  );
  const rows = blocks.map((b, k) => {
    const tol = b.strategy.kind === 'jacobi' ? b.strategy.tolerance : undefined;
    const fallbacks = b.modules.filter((m) => m.fallback).map((m) => `${m.start}…${m.end}: ${m.fallback!.reason}`);
    return el(
      'tr',
      { 'data-block': k },
      el('td', { class: 'nowrap' }, el('span', { class: 'chip', style: `background:${blockColour(k)}` }), `${k} `, el('span', { class: 'muted small' }, `(fwd ${total - 1 - k})`)),
      el('td', {}, describeBlockStrategy(b.strategy)),
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

function button(label: string, onClick: () => void): HTMLButtonElement {
  const b = el('button', { type: 'button', class: 'small-button' }, label);
  b.addEventListener('click', onClick);
  return b;
}

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
        `planned for ${plan.objective}${plan.tolerance !== null ? ` (tolerance ${plan.tolerance})` : ''}${plan.cached ? ', from the plan cache' : ''}: `,
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
      el('ul', { class: 'small' }, ...plan.blocks.map((b) => el('li', {}, el('b', {}, `block ${b.samplingIndex}: ${b.choice}`), ` — ${b.reason}`))),
    ),
  );
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
  drawImages($<HTMLCanvasElement>('grid'), r.images, { columns: Math.min(B, 8), scale: 8, fitWidth: 720 });
  $('samples-caption').textContent = `${describeSettings(s)} · ${r.denoised ? 'after one denoising step' : 'raw samples'}`;
  $('report-card').hidden = false;
  const summary = $('report-summary');
  summary.replaceChildren(reportSummary(r.report));
  renderPlan(r.plan);
  renderReportTable(r.report.blocks, r.report.blocks.length);
  renderTrace(r.trace, r.report.blocks.length);
}

function renderCompare(r: CompareResult, s: SampleSettings): void {
  $('empty').hidden = true;
  $('compare-card').hidden = false;
  const B = r.sequential.images.shape[0];
  const pane = (title: string, part: { images: Images; report: SolveReport }, id: string) => {
    const canvas = el('canvas', { class: 'pixelated', id: `compare-${id}` });
    drawImages(canvas, part.images, { columns: Math.min(B, 4), scale: 6, fitWidth: 300 });
    return el(
      'div',
      { class: 'pane' },
      el('h3', {}, title),
      canvas,
      el('div', {}, 'depth ', el('b', { id: `compare-${id}-depth` }, part.report.depth), ` · ${formatMs(part.report.wallMs)}`, part.report.fallbacks ? ` · ${part.report.fallbacks} fallbacks` : ''),
      el('div', { class: 'muted small' }, strategyNode(strategyText(part.report))),
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
  if (r.solver.plan) $('compare-body').append(el('div', { class: 'muted small' }, `planned for ${r.solver.plan.objective}: `, strategyNode(r.solver.plan.text)));
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
  const settings = readSettings();
  if (!settings) return;
  setBusy(1);
  const blocks = model.config.num_blocks;
  const live: BlockReport[] = [];
  const phases = kind === 'compare' ? ['sequential', 'sample'] : kind === 'metrics' ? ['sequential'] : ['sample'];
  setProgress(kind === 'metrics' ? 'CRM / IGM…' : 'sampling…', 0);
  if (kind === 'sample') {
    $('empty').hidden = true;
    $('report-card').hidden = false;
    $('report-summary').replaceChildren(el('div', { class: 'muted' }, 'sampling…'));
    renderPlan(undefined);
    renderReportTable([], blocks);
  }
  const onProgress = (p: Progress) => {
    const at = Math.max(0, phases.indexOf(p.phase));
    const fraction = p.total ? (at + (p.done ?? 0) / p.total) / phases.length : undefined;
    setProgress(p.message, fraction);
    if (kind === 'sample' && p.phase === 'sample' && p.block) {
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
  } catch (e) {
    if (e instanceof StoppedError) {
      setProgress('stopped', 0);
    } else {
      showRunError(`${kind} failed: ${errorText(e)}`);
      setProgress(`${kind} failed`, 0);
    }
  } finally {
    setBusy(-1);
  }
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

  const g = DEFAULT_MODEL_SAMPLING.guidance;
  input('guidance-scale').value = String(g.scale);
  select('guidance-on').value = g.on;
  input('attn-temp').value = '1';
  input('annealed').checked = false;
  input('denoise').checked = DEFAULT_MODEL_SAMPLING.denoise;
  input('temperature').value = String(DEFAULT_MODEL_SAMPLING.temperature);

  for (const [name, id] of [
    ['batch', 'batch'],
    ['seed', 'seed'],
    ['temperature', 'temperature'],
    ['strategy', 'strategy-text'],
  ] as const) {
    const v = params.get(name);
    if (v !== null) input(id).value = v;
  }
  const solver = params.get('solver');
  if (solver && [...select('solver').options].some((o) => o.value === solver)) select('solver').value = solver;
  else select('solver').value = 'jacobi';

  for (const id of ['solver', 'modules', 'iterations', 'tolerance', 'objective', 'strategy-text']) {
    $(id).addEventListener('input', () => validateSolver());
    $(id).addEventListener('change', () => validateSolver());
  }
  for (const id of ['batch', 'seed']) $(id).addEventListener('input', () => renderLabels());
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
