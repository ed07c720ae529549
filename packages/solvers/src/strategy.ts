/**
 * Per-block solving strategies and the paper's [Stack-GS-J-Else] notation.
 *
 * Blocks are indexed in sampling order (the last forward block first), as the
 * GS-Jacobi reference code lists them.
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

export class StrategyError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'StrategyError';
  }
}

function positiveInt(v: unknown, what: string): number {
  if (typeof v !== 'number' || !Number.isInteger(v) || v < 1) {
    throw new StrategyError(`${what} must be a positive integer, got ${JSON.stringify(v)}`);
  }
  return v;
}

/** Validates one block strategy (throws StrategyError naming the problem). */
export function validateBlockStrategy(s: unknown, where = 'block strategy'): BlockStrategy {
  if (typeof s !== 'object' || s === null) throw new StrategyError(`${where}: expected an object, got ${JSON.stringify(s)}`);
  const o = s as Record<string, unknown>;
  if (o.kind === 'sequential') return { kind: 'sequential' };
  if (o.kind !== 'jacobi') throw new StrategyError(`${where}: unknown kind ${JSON.stringify(o.kind)} (expected 'sequential' or 'jacobi')`);
  const out: JacobiStrategy = {
    kind: 'jacobi',
    modules: positiveInt(o.modules ?? 1, `${where}.modules`),
    maxIterations: positiveInt(o.maxIterations, `${where}.maxIterations`),
  };
  if (o.tolerance !== undefined) {
    if (typeof o.tolerance !== 'number' || !(o.tolerance >= 0) || !Number.isFinite(o.tolerance)) {
      throw new StrategyError(`${where}.tolerance must be a finite number >= 0, got ${JSON.stringify(o.tolerance)}`);
    }
    out.tolerance = o.tolerance;
  }
  if (o.guess !== undefined) {
    if (o.guess !== 'noise' && o.guess !== 'zeros') {
      throw new StrategyError(`${where}.guess must be 'noise' or 'zeros', got ${JSON.stringify(o.guess)}`);
    }
    out.guess = o.guess;
  }
  return out;
}

/** Validates a whole-model strategy against the number of blocks. */
export function validateStrategy(s: unknown, numBlocks: number): Strategy {
  if (!Array.isArray(s)) throw new StrategyError(`strategy must be an array of ${numBlocks} block strategies`);
  if (s.length !== numBlocks) {
    throw new StrategyError(`strategy has ${s.length} block entries but the model has ${numBlocks} blocks`);
  }
  return s.map((b, i) => validateBlockStrategy(b, `strategy[${i}]`));
}

const NOTATION = /^\[\s*(\d+(?:\s*\/\s*\d+)*)\s*-\s*(\d+)\s*-\s*(\d+)\s*-\s*(\d+)\s*\]$/;

/**
 * Parses the paper's [Stack-GS-J-Else] notation: the blocks listed in Stack
 * (sampling-order indices separated by '/') are split into GS modules of at
 * most J Jacobi iterations each; every other block runs plain Jacobi with at
 * most Else iterations. `[6-8-32-10]`, `[0/6-8-32-20]`.
 */
export function parseNotation(text: string, numBlocks: number, extra: Partial<Pick<JacobiStrategy, 'tolerance' | 'guess'>> = {}): Strategy {
  const m = NOTATION.exec(text.trim());
  if (!m) {
    throw new StrategyError(
      `cannot parse strategy ${JSON.stringify(text)}: expected [Stack-GS-J-Else], e.g. [6-8-32-10] or [0/6-8-32-20]`,
    );
  }
  const stack = m[1].split('/').map((s) => Number(s.trim()));
  const gs = Number(m[2]);
  const j = Number(m[3]);
  const other = Number(m[4]);
  for (const b of stack) {
    if (b >= numBlocks) throw new StrategyError(`strategy ${text}: block ${b} does not exist (the model has ${numBlocks} blocks, 0…${numBlocks - 1})`);
  }
  if (gs < 1) throw new StrategyError(`strategy ${text}: GS (number of modules) must be at least 1`);
  if (j < 1 || other < 1) throw new StrategyError(`strategy ${text}: iteration counts must be at least 1`);
  const out: Strategy = [];
  for (let b = 0; b < numBlocks; b++) {
    const inStack = stack.includes(b);
    out.push({ kind: 'jacobi', modules: inStack ? gs : 1, maxIterations: inStack ? j : other, ...extra });
  }
  return out;
}

/**
 * Formats a strategy in [Stack-GS-J-Else] notation when it fits one (every
 * block Jacobi, no per-block tolerance/guess differences, one GS setting for
 * the stacked blocks), else returns null.
 */
export function formatNotation(strategy: Strategy): string | null {
  if (strategy.length === 0) return null;
  if (strategy.some((b) => b.kind !== 'jacobi')) return null;
  const js = strategy as JacobiStrategy[];
  const tol = js[0].tolerance;
  const guess = js[0].guess ?? 'noise';
  if (js.some((b) => b.tolerance !== tol || (b.guess ?? 'noise') !== guess)) return null;
  const stacked = js.map((b, i) => ({ b, i })).filter(({ b }) => b.modules > 1);
  const plain = js.filter((b) => b.modules === 1);
  if (plain.length > 0 && plain.some((b) => b.maxIterations !== plain[0].maxIterations)) return null;
  if (stacked.some(({ b }) => b.modules !== stacked[0].b.modules || b.maxIterations !== stacked[0].b.maxIterations)) return null;
  if (stacked.length === 0) return null; // plain Jacobi everywhere has no Stack; use JSON or describe it directly
  const other = plain.length > 0 ? plain[0].maxIterations : stacked[0].b.maxIterations;
  return `[${stacked.map(({ i }) => i).join('/')}-${stacked[0].b.modules}-${stacked[0].b.maxIterations}-${other}]`;
}

/** Formats a strategy: the notation where it fits, else compact JSON. */
export function formatStrategy(strategy: Strategy): string {
  return formatNotation(strategy) ?? JSON.stringify(strategy);
}

/**
 * Parses a strategy given as [Stack-GS-J-Else] notation, as JSON (an array of
 * block strategies), or as one of the names 'sequential' (every block exact) and
 * 'jacobi' (plain Jacobi everywhere with T − 1 iterations, i.e. exact, unless a
 * tolerance stops it sooner).
 */
export function parseStrategy(
  text: string,
  numBlocks: number,
  tokens: number,
  extra: Partial<Pick<JacobiStrategy, 'tolerance' | 'guess'>> = {},
): Strategy {
  const t = text.trim();
  if (t === 'sequential') return Array.from({ length: numBlocks }, () => ({ kind: 'sequential' as const }));
  if (t === 'jacobi') {
    return Array.from({ length: numBlocks }, () => ({ kind: 'jacobi' as const, modules: 1, maxIterations: Math.max(1, tokens - 1), ...extra }));
  }
  if (t.startsWith('[') && !t.startsWith('[{')) return parseNotation(t, numBlocks, extra);
  let parsed: unknown;
  try {
    parsed = JSON.parse(t);
  } catch (e) {
    throw new StrategyError(
      `cannot parse strategy ${JSON.stringify(text)}: not [Stack-GS-J-Else] notation, 'sequential', 'jacobi' or JSON (${(e as Error).message})`,
    );
  }
  const s = validateStrategy(parsed, numBlocks);
  return s.map((b) => (b.kind === 'jacobi' ? { ...extra, ...b } : b));
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
