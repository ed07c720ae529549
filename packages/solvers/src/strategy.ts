/**
 * Sampling strategies: what each block's solver does, or one joint solve of
 * all blocks — their types, validation, the one text parser, printing and a
 * description in words.
 *
 * Blocks are indexed in sampling order (the last forward block first), as the
 * GS-Jacobi reference code lists them. The text forms (Liu & Qin 2025 write
 * the second one as [Stack-GS-J-Else]):
 *
 *     sequential                        every block exact, T − 1 dependent steps
 *     [Stack-GS-J-Else] (options)       blocks in Stack (indices joined by '/') split into GS modules
 *                                       of at most J Jacobi iterations; every other block plain Jacobi
 *                                       with at most Else iterations: [6-8-32-10], [0/6-8-32-20]
 *     jacobi:N (options)                plain Jacobi on every block, at most N iterations ('jacobi': T − 1)
 *     joint:N (options)                 all blocks iterate together, at most N joint iterations
 *                                       ('joint': blocks × (T − 1), which is exact)
 *     options: tol ε, <noise|zeros|table> guess   e.g. joint:19 (tol 1e-3, table guess)
 *
 * and JSON: an array of block strategies, or a joint strategy object.
 */

/** How the initial Jacobi guess is formed from the block input z. */
export type InitialGuess = 'noise' | 'zeros';

/** The exact KV-cache loop: T − 1 dependent steps. */
export interface SequentialStrategy {
  kind: 'sequential';
}

/**
 * GS-Jacobi: the positions 1 … T−1 split into `modules` consecutive modules
 * solved one after another, each by at most `maxIterations` Jacobi iterations
 * (stopping early once the residual is below `tolerance`). `modules: 1` is
 * plain Jacobi over the whole sequence.
 */
export interface JacobiStrategy {
  kind: 'jacobi';
  modules: number;
  maxIterations: number;
  tolerance?: number;
  guess?: InitialGuess;
}

export type BlockStrategy = SequentialStrategy | JacobiStrategy;

/** A strategy for a whole model: one entry per block, in sampling order. */
export type Strategy = BlockStrategy[];

/**
 * Joint Jacobi over all blocks: at most `maxIterations` joint iterations,
 * stopping early once no block's iterate moves by more than `tolerance`.
 */
export interface JointStrategy {
  kind: 'joint';
  maxIterations: number;
  tolerance?: number;
  /**
   * Initial iterate of the first block: its input ('noise'), zeros, or a
   * calibrated guess table ('table'; the table itself is passed beside the
   * strategy — @tarflow/metrics' classMeanGuess makes one). Later blocks start
   * from their input, which the first joint iterations then refine.
   */
  guess?: InitialGuess | 'table';
}

/** What a sampler accepts: one strategy per block, or one joint solve of all blocks. */
export type SamplingStrategy = Strategy | JointStrategy;

/** Tolerance and guess a parser fills in where the text does not give them. */
export type StrategyDefaults = Partial<Pick<JacobiStrategy, 'tolerance' | 'guess'>>;

export class StrategyError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'StrategyError';
  }
}

/** The largest iteration count a strategy may ask for. */
export const MAX_ITERATIONS = 1_000_000;

/** The exact sequential inverse on every block. */
export function sequentialStrategy(numBlocks: number): Strategy {
  return Array.from({ length: numBlocks }, () => ({ kind: 'sequential' as const }));
}

export function isJointStrategy(s: SamplingStrategy): s is JointStrategy {
  return !Array.isArray(s) && (s as JointStrategy).kind === 'joint';
}

/** Whether a strategy is the exact sequential sampler: block by block, every block sequential. */
export function isSequentialStrategy(s: SamplingStrategy): boolean {
  return !isJointStrategy(s) && s.length > 0 && s.every((b) => b.kind === 'sequential');
}

// ------------------------------------------------------------------ validation

const FIELDS = {
  sequential: ['kind'],
  jacobi: ['kind', 'modules', 'maxIterations', 'tolerance', 'guess'],
  joint: ['kind', 'maxIterations', 'tolerance', 'guess'],
} as const;

function checkFields(o: Record<string, unknown>, kind: keyof typeof FIELDS, where: string): void {
  const allowed: readonly string[] = FIELDS[kind];
  for (const key of Object.keys(o)) {
    if (allowed.includes(key)) continue;
    const hint = key === 'table' ? ' (a guess table is passed beside the strategy, not inside it)' : '';
    throw new StrategyError(`${where}: unknown field ${JSON.stringify(key)} for kind '${kind}'${hint}; allowed: ${allowed.join(', ')}`);
  }
}

/** A value of a strategy's JSON as its message shows it (a missing field as such, not as 'undefined'). */
function shown(v: unknown): string {
  return v === undefined ? 'nothing (the field is missing)' : JSON.stringify(v);
}

function count(v: unknown, what: string, max = MAX_ITERATIONS): number {
  if (typeof v !== 'number' || !Number.isInteger(v) || v < 1) {
    throw new StrategyError(`${what} must be a positive integer, got ${shown(v)}`);
  }
  if (v > max) throw new StrategyError(`${what} is ${String(v)}, above the limit of ${max}`);
  return v;
}

function tolerance(v: unknown, what: string): number {
  if (typeof v !== 'number' || !Number.isFinite(v) || v < 0) {
    throw new StrategyError(`${what} must be a finite number >= 0, got ${shown(v)}`);
  }
  return v;
}

/** Positions a block solves: T − 1 (position 0 is its input), at least one. */
function positions(tokens: number): number {
  return Math.max(1, tokens - 1);
}

/**
 * Validates one block strategy (throws StrategyError naming the problem).
 * With `tokens`, also checks that there are no more GS modules than positions.
 */
export function validateBlockStrategy(s: unknown, where = 'block strategy', tokens?: number): BlockStrategy {
  if (typeof s !== 'object' || s === null || Array.isArray(s)) throw new StrategyError(`${where}: expected an object, got ${shown(s)}`);
  const o = s as Record<string, unknown>;
  if (o.kind === 'sequential') {
    checkFields(o, 'sequential', where);
    return { kind: 'sequential' };
  }
  if (o.kind !== 'jacobi') throw new StrategyError(`${where}: unknown kind ${shown(o.kind)} (expected 'sequential' or 'jacobi')`);
  checkFields(o, 'jacobi', where);
  const limit = tokens === undefined ? MAX_ITERATIONS : positions(tokens);
  const out: JacobiStrategy = {
    kind: 'jacobi',
    modules: count('modules' in o ? o.modules : 1, `${where}.modules`, limit),
    maxIterations: count(o.maxIterations, `${where}.maxIterations`),
  };
  if (o.tolerance !== undefined) out.tolerance = tolerance(o.tolerance, `${where}.tolerance`);
  if (o.guess !== undefined) {
    if (o.guess !== 'noise' && o.guess !== 'zeros') throw new StrategyError(`${where}.guess must be 'noise' or 'zeros', got ${JSON.stringify(o.guess)}`);
    out.guess = o.guess;
  }
  return out;
}

/** Validates a whole-model strategy against the number of blocks (and, given, the sequence length). */
export function validateStrategy(s: unknown, numBlocks: number, tokens?: number): Strategy {
  if (!Array.isArray(s)) throw new StrategyError(`strategy must be an array of ${numBlocks} block strategies`);
  if (s.length !== numBlocks) {
    throw new StrategyError(`strategy has ${s.length} block entries but the model has ${numBlocks} blocks`);
  }
  return s.map((b, i) => validateBlockStrategy(b, `strategy[${i}]`, tokens));
}

/** Validates a joint strategy (throws StrategyError naming the problem). */
export function validateJointStrategy(s: unknown, where = 'joint strategy'): JointStrategy {
  if (typeof s !== 'object' || s === null || Array.isArray(s)) throw new StrategyError(`${where}: expected an object, got ${shown(s)}`);
  const o = s as Record<string, unknown>;
  if (o.kind !== 'joint') throw new StrategyError(`${where}: kind must be 'joint', got ${shown(o.kind)}`);
  checkFields(o, 'joint', where);
  const out: JointStrategy = { kind: 'joint', maxIterations: count(o.maxIterations, `${where}.maxIterations`) };
  if (o.tolerance !== undefined) out.tolerance = tolerance(o.tolerance, `${where}.tolerance`);
  if (o.guess !== undefined) {
    if (o.guess !== 'noise' && o.guess !== 'zeros' && o.guess !== 'table') {
      throw new StrategyError(`${where}.guess must be 'noise', 'zeros' or 'table', got ${JSON.stringify(o.guess)}`);
    }
    out.guess = o.guess;
  }
  return out;
}

/** Validates either kind of sampling strategy against the number of blocks (and, given, the sequence length). */
export function validateSamplingStrategy(s: unknown, numBlocks: number, tokens?: number): SamplingStrategy {
  if (!Array.isArray(s) && typeof s === 'object' && s !== null && (s as { kind?: unknown }).kind === 'joint') return validateJointStrategy(s);
  return validateStrategy(s, numBlocks, tokens);
}

// ------------------------------------------------------------------ parsing

const NOTATION = /^\[\s*(\d+(?:\s*\/\s*\d+)*)\s*-\s*(\d+)\s*-\s*(\d+)\s*-\s*(\d+)\s*\]$/;
const NAMED = /^(jacobi|joint)(?:\s*:\s*([^\s(]+))?$/;
const DECIMAL = /^(?:\d+\.?\d*|\.\d+)(?:e[+-]?\d+)?$/i;

/** A decimal count from text (no signs, hex or exponents), checked like a JSON one. */
function countText(text: string, what: string, max = MAX_ITERATIONS): number {
  if (!/^\d+$/.test(text)) throw new StrategyError(`${what} must be a positive integer in decimal digits, got ${JSON.stringify(text)}`);
  return count(Number(text), what, max);
}

/** The `(tol ε, <guess> guess)` suffix of the text forms. */
function parseOptions(text: string, source: string): { tolerance?: number; guess?: string } {
  const out: { tolerance?: number; guess?: string } = {};
  for (const part of text.split(',').map((p) => p.trim()).filter((p) => p !== '')) {
    const tol = /^tol\s+(\S+)$/.exec(part);
    const guess = /^(\S+)\s+guess$/.exec(part);
    if (tol) {
      if (!DECIMAL.test(tol[1])) throw new StrategyError(`strategy ${source}: tolerance must be a decimal number >= 0, got ${JSON.stringify(tol[1])}`);
      out.tolerance = Number(tol[1]);
    } else if (guess) {
      out.guess = guess[1];
    } else {
      throw new StrategyError(`strategy ${source}: unknown option ${JSON.stringify(part)} (expected 'tol <eps>' or '<noise|zeros|table> guess')`);
    }
  }
  return out;
}

/**
 * Parses a strategy from text: `sequential`, [Stack-GS-J-Else] notation,
 * `jacobi[:N]` or `joint[:N]`, each but `sequential` optionally followed by
 * `(tol ε, <guess> guess)`, or JSON (an array of block strategies or a joint
 * strategy object). `defaults` fills in tolerance and guess where the text
 * leaves them out. Throws StrategyError with a one-line message.
 */
export function parseStrategy(text: unknown, numBlocks: number, tokens: number, defaults: StrategyDefaults = {}): SamplingStrategy {
  if (typeof text !== 'string') {
    throw new StrategyError(`a strategy must be text such as 'sequential', '[0-4-12-6]' or 'joint:19', got ${text === null ? 'null' : text === undefined ? 'nothing' : typeof text}`);
  }
  if (!Number.isSafeInteger(numBlocks) || numBlocks < 1) throw new StrategyError(`the number of blocks must be a positive integer, got ${numBlocks}`);
  if (!Number.isSafeInteger(tokens) || tokens < 1) throw new StrategyError(`the number of tokens must be a positive integer, got ${tokens}`);
  const source = JSON.stringify(text);
  const t = text.trim();
  if (t === '') throw new StrategyError(`a strategy must not be empty: use e.g. 'sequential', '[0-4-12-6]' or 'joint:19'`);
  if (t.startsWith('{') || /^\[\s*[{\]]/.test(t)) return parseJson(t, source, numBlocks, tokens, defaults);
  if (t === 'sequential') return sequentialStrategy(numBlocks);

  const m = /^([^(]*?)\s*(?:\((.*)\))?$/.exec(t);
  if (!m) throw new StrategyError(`cannot parse strategy ${source}: options go in one pair of parentheses at the end, such as 'jacobi:10 (tol 1e-4)'`);
  const form = m[1];
  const options = parseOptions(m[2] ?? '', source);
  const named = NAMED.exec(form);
  if (named?.[1] === 'joint') {
    const n = named[2] === undefined ? numBlocks * positions(tokens) : countText(named[2], `strategy ${source}: joint:N`);
    return validateJointStrategy({ kind: 'joint', maxIterations: n, ...defaults, ...options }, `strategy ${source}`);
  }
  if (options.guess === 'table') throw new StrategyError(`strategy ${source}: the table guess is for the joint solve only (joint:N)`);
  const block = (modules: number, maxIterations: number) =>
    validateBlockStrategy({ kind: 'jacobi', modules, maxIterations, ...defaults, ...options }, `strategy ${source}`, tokens);
  if (named) {
    const n = named[2] === undefined ? positions(tokens) : countText(named[2], `strategy ${source}: jacobi:N`);
    return Array.from({ length: numBlocks }, () => block(1, n));
  }
  const nm = NOTATION.exec(form);
  if (!nm) {
    throw new StrategyError(
      `cannot parse strategy ${source}: expected 'sequential', [Stack-GS-J-Else] such as [6-8-32-10] or [0/6-8-32-20], 'jacobi:N', 'joint:N' or JSON`,
    );
  }
  const stack = nm[1].split('/').map((s) => s.trim());
  for (const b of stack) {
    if (!/^\d+$/.test(b) || Number(b) >= numBlocks) {
      throw new StrategyError(`strategy ${source}: block ${b} does not exist (the model has ${numBlocks} blocks, 0…${numBlocks - 1})`);
    }
  }
  const gs = countText(nm[2], `strategy ${source}: GS (modules per stacked block)`);
  if (gs > positions(tokens)) {
    throw new StrategyError(`strategy ${source}: GS = ${gs} modules, but a block has only T − 1 = ${positions(tokens)} positions to split (at most ${positions(tokens)} modules)`);
  }
  const j = countText(nm[3], `strategy ${source}: J (iterations per module)`);
  const other = countText(nm[4], `strategy ${source}: Else (iterations of the other blocks)`);
  const stacked = new Set(stack.map(Number));
  return Array.from({ length: numBlocks }, (_, b) => (stacked.has(b) ? block(gs, j) : block(1, other)));
}

function parseJson(t: string, source: string, numBlocks: number, tokens: number, defaults: StrategyDefaults): SamplingStrategy {
  let parsed: unknown;
  try {
    parsed = JSON.parse(t);
  } catch (e) {
    throw new StrategyError(`cannot parse strategy ${source}: ${(e as Error).message}`);
  }
  if (!Array.isArray(parsed)) return validateJointStrategy({ ...defaults, ...(parsed as object) }, 'strategy');
  const withDefaults = parsed.map((b) => ((b as { kind?: unknown } | null)?.kind === 'jacobi' ? { ...defaults, ...(b as object) } : b));
  return validateStrategy(withDefaults, numBlocks, tokens);
}

// ------------------------------------------------------------------ printing

/** A number as short exact text: 0.01, 1e-4, 3. */
function exactNumber(x: number): string {
  const plain = String(x);
  const exp = x.toExponential().replace('e+', 'e');
  return exp.length < plain.length ? exp : plain;
}

/** One significant digit: 0.05, 0.3, 1, 1e-4. */
function shortNumber(x: number): string {
  if (x === 0) return '0';
  return Math.abs(x) >= 1e-2 && Math.abs(x) < 1e4 ? x.toPrecision(1) : x.toExponential(0);
}

function optionsText(tolerance: number | undefined, guess: string | undefined): string {
  const parts: string[] = [];
  if (tolerance !== undefined) parts.push(`tol ${exactNumber(tolerance)}`);
  if (guess && guess !== 'noise') parts.push(`${guess} guess`);
  return parts.length > 0 ? ` (${parts.join(', ')})` : '';
}

/**
 * The [Stack-GS-J-Else] notation of a Jacobi-only strategy whose split blocks
 * share one setting and whose other blocks share one budget, else null (also
 * when no block is split: that is `jacobi:N`). Tolerance and guess are not part of it.
 */
function notation(strategy: Strategy): string | null {
  if (strategy.length === 0 || strategy.some((b) => b.kind !== 'jacobi')) return null;
  const js = strategy as JacobiStrategy[];
  const stacked = js.map((b, i) => ({ b, i })).filter(({ b }) => b.modules > 1);
  const plain = js.filter((b) => b.modules === 1);
  if (stacked.length === 0) return null;
  if (plain.some((b) => b.maxIterations !== plain[0].maxIterations)) return null;
  if (stacked.some(({ b }) => b.modules !== stacked[0].b.modules || b.maxIterations !== stacked[0].b.maxIterations)) return null;
  const other = plain.length > 0 ? plain[0].maxIterations : stacked[0].b.maxIterations;
  return `[${stacked.map(({ i }) => i).join('/')}-${stacked[0].b.modules}-${stacked[0].b.maxIterations}-${other}]`;
}

/** Text parseStrategy reads back to the same strategy: a text form where one fits, else JSON. */
function parseableText(strategy: SamplingStrategy): string {
  if (isJointStrategy(strategy)) return `joint:${strategy.maxIterations}${optionsText(strategy.tolerance, strategy.guess)}`;
  if (isSequentialStrategy(strategy)) return 'sequential';
  if (strategy.length === 0 || strategy.some((b) => b.kind !== 'jacobi')) return JSON.stringify(strategy);
  const js = strategy as JacobiStrategy[];
  const { tolerance: tol, guess = 'noise' } = js[0];
  if (js.some((b) => b.tolerance !== tol || (b.guess ?? 'noise') !== guess)) return JSON.stringify(strategy);
  const options = optionsText(tol, guess);
  if (js.every((b) => b.modules === 1 && b.maxIterations === js[0].maxIterations)) return `jacobi:${js[0].maxIterations}${options}`;
  const n = notation(strategy);
  return n ? `${n}${options}` : JSON.stringify(strategy);
}

/**
 * A short name (what the CLI and the benchmarks print; not always parseable):
 * 'sequential', the notation where it fits, else one token per block in
 * sampling order — `seq`, `J14` (Jacobi, at most 14 iterations), `GS4×12`
 * (4 modules, at most 12 iterations each), `z` for the zeros guess — with the
 * tolerance when all blocks share it; a joint strategy as its text.
 */
function compactText(strategy: SamplingStrategy): string {
  if (isJointStrategy(strategy)) return parseableText(strategy);
  if (strategy.every((b) => b.kind === 'sequential')) return 'sequential';
  const tols = new Set(strategy.map((b) => (b.kind === 'jacobi' ? b.tolerance : undefined)).filter((t) => t !== undefined));
  const tolText = tols.size === 1 ? `, tol ${shortNumber([...tols][0]!)}` : '';
  const js = strategy as JacobiStrategy[];
  const uniform = js.every((b) => b.tolerance === js[0].tolerance && (b.guess ?? 'noise') === (js[0].guess ?? 'noise'));
  const n = uniform ? notation(strategy) : null;
  if (n) return `${n}${tolText}`;
  const blocks = strategy.map((b) => {
    if (b.kind === 'sequential') return 'seq';
    const core = b.modules === 1 ? `J${b.maxIterations}` : `GS${b.modules}×${b.maxIterations}`;
    const tol = tols.size > 1 && b.tolerance !== undefined ? `@${shortNumber(b.tolerance)}` : '';
    return `${core}${b.guess === 'zeros' ? 'z' : ''}${tol}`;
  });
  if (blocks.every((b) => b === blocks[0])) return `${blocks[0]} on every block${tolText}`;
  return `${blocks.join(' ')}${tolText}`;
}

/**
 * A strategy as text. By default text that parseStrategy reads back to the
 * same strategy (`sequential`, `[0-4-12-6] (tol 1e-4)`, `jacobi:8`,
 * `joint:19 (table guess)`, else JSON); `compact` gives the short name the CLI
 * and the benchmarks print (`seq J2 J2 J2, tol 1`, `J8 on every block`).
 */
export function formatStrategy(strategy: SamplingStrategy, options: { compact?: boolean } = {}): string {
  return options.compact ? compactText(strategy) : parseableText(strategy);
}

/** One block's strategy in words: `sequential`, `Jacobi ≤ 12 it, tol 1e-4`, `GS-Jacobi G=4, ≤ 8 it/module, zeros guess`. */
export function describeBlockStrategy(s: BlockStrategy): string {
  if (s.kind === 'sequential') return 'sequential';
  const core = s.modules === 1 ? `Jacobi ≤ ${s.maxIterations} it` : `GS-Jacobi G=${s.modules}, ≤ ${s.maxIterations} it/module`;
  return [core, ...(s.tolerance !== undefined ? [`tol ${exactNumber(s.tolerance)}`] : []), ...(s.guess === 'zeros' ? ['zeros guess'] : [])].join(', ');
}

/**
 * A whole strategy in words: 'sequential', one block's description followed
 * by 'on every block' when all blocks agree, the joint solve's budget, else
 * the compact name.
 */
export function describeStrategy(s: SamplingStrategy): string {
  if (isJointStrategy(s)) {
    const extras = [...(s.tolerance !== undefined ? [`tol ${exactNumber(s.tolerance)}`] : []), ...(s.guess && s.guess !== 'noise' ? [`${s.guess} guess`] : [])];
    return [`all blocks jointly, ≤ ${s.maxIterations} joint it`, ...extras].join(', ');
  }
  if (isSequentialStrategy(s)) return 'sequential';
  const first = JSON.stringify(s[0]);
  if (s.length > 0 && s.every((b) => JSON.stringify(b) === first)) return `${describeBlockStrategy(s[0])}, on every block`;
  return compactText(s);
}

/** The module boundaries [start, end] (inclusive) GS-Jacobi uses for T positions and G modules. */
export function moduleBounds(tokens: number, modules: number): Array<[number, number]> {
  const unknown = tokens - 1;
  if (unknown <= 0) return [];
  const g = Math.min(Math.max(1, modules), unknown);
  // Module size as the reference computes it (s = T // G), kept whenever it
  // covers every position; where T is not divisible by G the reference leaves
  // positions unsolved, so we fall back to an even split of the T − 1 unknowns.
  const s = Math.floor(tokens / g);
  const out: Array<[number, number]> = [];
  if (s >= 1 && (g - 1) * s + 1 <= unknown && tokens % g === 0) {
    for (let k = 0; k < g; k++) out.push([k * s + 1, k === g - 1 ? unknown : (k + 1) * s]);
    return out;
  }
  let start = 1;
  for (let k = 0; k < g; k++) {
    const size = Math.floor(unknown / g) + (k < unknown % g ? 1 : 0);
    out.push([start, start + size - 1]);
    start += size;
  }
  return out;
}
