/**
 * Joint Jacobi over a chain of causal affine maps — a whole flow inverted at once.
 *
 * Block-by-block solving waits for each block to converge before the next one
 * starts, so the depths of the blocks add up. In a joint iteration every stage
 * takes one Jacobi step at once, each on the current iterate of the stage
 * before it: the stages of one iteration are independent, so (evaluated
 * together) one joint iteration is one dependent step, and the stages after
 * the first converge while the first is still converging. The fixed point is
 * the exact inverse of the whole chain; after stages × (T − 1) iterations the
 * result is exact (each stage is exact T − 1 iterations after its input is).
 */
import { tf, type PatchSeq } from '@tarflow/tensor';
import { disposeParams, type AffineParams, type CausalAffineMap } from './map.js';
import { NonFiniteError, readScalar, solveBlockSteps, type BlockReport, type ReadSteps } from './solve.js';
import type { SolveReport } from './report.js';
import { formatNotation, formatStrategy, parseStrategy, StrategyError, validateStrategy, type InitialGuess, type JacobiStrategy, type Strategy } from './strategy.js';

/**
 * A chain of causal affine maps inverted one after another (a flow's blocks in
 * sampling order), each in its own position order.
 */
export interface CausalChain {
  /** Sequence length T of every stage. */
  readonly tokens: number;
  /** Feature dimension D of every stage. */
  readonly dim: number;
  /** Number of stages. */
  readonly stages: number;
  /**
   * Evaluates stages [from, stages) on whole sequences, without caches:
   * `xs[i]` is the iterate [B, T, D] of stage from + i (only positions
   * 0 … T − 2 are read). Returns, per stage, the parameters producing
   * positions 1 … T − 1 ([B, T − 1, D] each). The stages of one call are
   * independent, so a chain may evaluate them together in one dispatch.
   */
  evaluateFrom(from: number, xs: PatchSeq[]): AffineParams[];
  /** Stage k's output in stage k + 1's position order (a new tensor). */
  link(k: number, x: PatchSeq): PatchSeq;
  /** Stage k as a map, for the exact fallback of a diverging joint solve. */
  map(k: number): CausalAffineMap<unknown>;
}

/**
 * A calibrated initial iterate of the first stage (in its position order):
 * row r of `data` for label r, the last row for unlabelled (unconditional,
 * label −1) samples — a model without classes has one row — plus, where
 * `scale` is given, scale ⊙ z with z the stage's input (a per-position,
 * per-feature linear term: x ≈ row + scale · z).
 */
export interface GuessTable {
  rows: number;
  tokens: number;
  dim: number;
  /** rows × tokens × dim values, row-major. */
  data: number[];
  /** tokens × dim values. */
  scale?: number[];
}

/**
 * Joint Jacobi over all stages: at most `maxIterations` joint iterations,
 * stopping early once no stage's iterate moves by more than `tolerance`.
 */
export interface JointStrategy {
  kind: 'joint';
  maxIterations: number;
  tolerance?: number;
  /**
   * Initial iterate of the first stage: its input ('noise'), zeros, or the
   * calibrated guess of `table` ('table'; a sampler needs the table then —
   * @tarflow/metrics' classMeanGuess makes one). Later stages start from
   * their input, which the first joint iterations then refine.
   */
  guess?: InitialGuess | 'table';
  table?: GuessTable;
}

/** Validates a joint strategy (throws StrategyError naming the problem). */
export function validateJointStrategy(s: unknown, where = 'joint strategy'): JointStrategy {
  if (typeof s !== 'object' || s === null) throw new StrategyError(`${where}: expected an object, got ${JSON.stringify(s)}`);
  const o = s as Record<string, unknown>;
  if (o.kind !== 'joint') throw new StrategyError(`${where}: kind must be 'joint', got ${JSON.stringify(o.kind)}`);
  if (typeof o.maxIterations !== 'number' || !Number.isInteger(o.maxIterations) || o.maxIterations < 1) {
    throw new StrategyError(`${where}.maxIterations must be a positive integer, got ${JSON.stringify(o.maxIterations)}`);
  }
  const out: JointStrategy = { kind: 'joint', maxIterations: o.maxIterations };
  if (o.tolerance !== undefined) {
    if (typeof o.tolerance !== 'number' || !(o.tolerance >= 0) || !Number.isFinite(o.tolerance)) {
      throw new StrategyError(`${where}.tolerance must be a finite number >= 0, got ${JSON.stringify(o.tolerance)}`);
    }
    out.tolerance = o.tolerance;
  }
  if (o.guess !== undefined) {
    if (o.guess !== 'noise' && o.guess !== 'zeros' && o.guess !== 'table') {
      throw new StrategyError(`${where}.guess must be 'noise', 'zeros' or 'table', got ${JSON.stringify(o.guess)}`);
    }
    out.guess = o.guess;
  }
  if (o.table !== undefined) out.table = validateGuessTable(o.table, `${where}.table`);
  return out;
}

function validateGuessTable(t: unknown, where: string): GuessTable {
  if (typeof t !== 'object' || t === null) throw new StrategyError(`${where}: expected an object`);
  const o = t as Record<string, unknown>;
  for (const k of ['rows', 'tokens', 'dim'] as const) {
    if (typeof o[k] !== 'number' || !Number.isInteger(o[k]) || (o[k] as number) < 1) {
      throw new StrategyError(`${where}.${k} must be a positive integer, got ${JSON.stringify(o[k])}`);
    }
  }
  const rows = o.rows as number;
  const tokens = o.tokens as number;
  const dim = o.dim as number;
  if (!Array.isArray(o.data) || o.data.length !== rows * tokens * dim || o.data.some((v) => typeof v !== 'number' || !Number.isFinite(v))) {
    throw new StrategyError(`${where}.data must hold rows × tokens × dim = ${rows * tokens * dim} finite numbers`);
  }
  if (o.scale !== undefined && (!Array.isArray(o.scale) || o.scale.length !== tokens * dim || o.scale.some((v) => typeof v !== 'number' || !Number.isFinite(v)))) {
    throw new StrategyError(`${where}.scale must hold tokens × dim = ${tokens * dim} finite numbers`);
  }
  return { rows, tokens, dim, data: o.data as number[], ...(o.scale !== undefined ? { scale: o.scale as number[] } : {}) };
}

/**
 * Formats a joint strategy as text parseSamplingStrategy reads back:
 * `joint:19`, `joint:19 (tol 0.01, table guess)`. A guess table's values are
 * not part of the text (a 'table' guess is recomputed where it is missing).
 */
export function formatJointStrategy(s: JointStrategy): string {
  const parts: string[] = [];
  if (s.tolerance !== undefined) parts.push(`tol ${s.tolerance}`);
  if (s.guess && s.guess !== 'noise') parts.push(`${s.guess} guess`);
  return `joint:${s.maxIterations}${parts.length > 0 ? ` (${parts.join(', ')})` : ''}`;
}

/**
 * The guess a table gives a batch with first-stage input `z` [B, T, D]: row
 * `label` per sample (the last row for label −1 or no labels), plus
 * scale ⊙ z where the table has a scale. Returns [B, T, D].
 */
export function guessFromTable(table: GuessTable, z: PatchSeq, labels?: tf.Tensor1D): PatchSeq {
  const batch = z.shape[0];
  return tf.tidy(() => {
    const rows = tf.tensor3d(table.data, [table.rows, table.tokens, table.dim]);
    const base =
      !labels || table.rows === 1
        ? tf.tile(tf.slice(rows, [table.rows - 1, 0, 0], [1, -1, -1]), [batch, 1, 1])
        : tf.gather(rows, tf.where(tf.less(labels, 0), tf.fill([batch], table.rows - 1, 'int32'), tf.minimum(labels, tf.scalar(table.rows - 2, 'int32'))));
    if (!table.scale) return base as PatchSeq;
    return tf.add(base, tf.mul(tf.tensor2d(table.scale, [table.tokens, table.dim]), z)) as PatchSeq;
  });
}

/** What a sampler accepts: one strategy per block, or one joint solve of all blocks. */
export type SamplingStrategy = Strategy | JointStrategy;

export function isJointStrategy(s: SamplingStrategy): s is JointStrategy {
  return !Array.isArray(s) && (s as JointStrategy).kind === 'joint';
}

/** Validates either kind of sampling strategy against the number of blocks. */
export function validateSamplingStrategy(s: unknown, numBlocks: number): SamplingStrategy {
  if (!Array.isArray(s) && typeof s === 'object' && s !== null && (s as { kind?: unknown }).kind === 'joint') return validateJointStrategy(s);
  return validateStrategy(s, numBlocks);
}

/** Formats either kind of sampling strategy. */
export function formatSamplingStrategy(s: SamplingStrategy): string {
  return isJointStrategy(s) ? formatJointStrategy(s) : formatStrategy(s);
}

/**
 * A short name for a whole sampling strategy (what the CLI and the benchmarks
 * print): 'sequential', the [Stack-GS-J-Else]
 * notation where it fits, else one token per block in sampling order —
 * `seq`, `J14` (Jacobi, at most 14 iterations), `GS4×12` (4 modules, at most
 * 12 iterations each), `z` for the zeros guess — with the tolerance when all
 * blocks share it.
 */
export function compactStrategy(strategy: SamplingStrategy): string {
  if (isJointStrategy(strategy)) return formatSamplingStrategy(strategy);
  if (strategy.every((b) => b.kind === 'sequential')) return 'sequential';
  const tols = new Set(strategy.map((b) => (b.kind === 'jacobi' ? b.tolerance : undefined)).filter((t) => t !== undefined));
  const tolText = tols.size === 1 ? `, tol ${shortNumber([...tols][0]!)}` : '';
  const notation = formatNotation(strategy);
  if (notation) return `${notation}${tolText}`;
  const blocks = strategy.map((b) => {
    if (b.kind === 'sequential') return 'seq';
    const core = b.modules === 1 ? `J${b.maxIterations}` : `GS${b.modules}×${b.maxIterations}`;
    const tol = tols.size > 1 && b.tolerance !== undefined ? `@${shortNumber(b.tolerance)}` : '';
    return `${core}${b.guess === 'zeros' ? 'z' : ''}${tol}`;
  });
  if (blocks.every((b) => b === blocks[0])) return `${blocks[0]} on every block${tolText}`;
  return `${blocks.join(' ')}${tolText}`;
}

/** One significant digit: 0.05, 0.3, 1, 1e-4. */
function shortNumber(x: number): string {
  if (x === 0) return '0';
  return Math.abs(x) >= 1e-2 && Math.abs(x) < 1e4 ? x.toPrecision(1) : x.toExponential(0);
}

/**
 * parseStrategy, plus the joint solve: `joint:N` (at most N joint iterations)
 * or a JSON object `{"kind":"joint", …}`. `extra` fills in tolerance/guess.
 */
export function parseSamplingStrategy(
  text: string,
  numBlocks: number,
  tokens: number,
  extra: Partial<Pick<JacobiStrategy, 'tolerance' | 'guess'>> = {},
): SamplingStrategy {
  const t = text.trim();
  const m = /^joint(?::\s*([^\s(]+))?\s*(?:\((.*)\))?$/.exec(t);
  if (m) {
    const n = m[1] === undefined ? numBlocks * Math.max(1, tokens - 1) : Number(m[1]);
    if (!Number.isInteger(n) || n < 1) throw new StrategyError(`strategy ${JSON.stringify(text)}: joint:N needs a positive integer N of joint iterations`);
    const options: Record<string, unknown> = {};
    for (const part of (m[2] ?? '').split(',').map((p) => p.trim()).filter((p) => p !== '')) {
      const tol = /^tol\s+(\S+)$/.exec(part);
      const guess = /^(\S+)\s+guess$/.exec(part);
      if (tol) options.tolerance = Number(tol[1]);
      else if (guess) options.guess = guess[1];
      else throw new StrategyError(`strategy ${JSON.stringify(text)}: unknown joint option ${JSON.stringify(part)} (expected 'tol <eps>' or '<noise|zeros|table> guess')`);
    }
    return validateJointStrategy({ kind: 'joint', maxIterations: n, ...extra, ...options });
  }
  if (t.startsWith('{')) {
    let parsed: unknown;
    try {
      parsed = JSON.parse(t);
    } catch (e) {
      throw new StrategyError(`cannot parse strategy ${JSON.stringify(text)}: ${(e as Error).message}`);
    }
    return validateJointStrategy({ ...extra, ...(parsed as object) });
  }
  return parseStrategy(t, numBlocks, tokens, extra);
}

/** A chain whose stages are evaluated one after another (for any maps). */
export function chainFromMaps(maps: CausalAffineMap<unknown>[], link: (k: number, x: PatchSeq) => PatchSeq): CausalChain {
  if (maps.length === 0) throw new Error('chainFromMaps: no maps');
  const { tokens, dim } = maps[0];
  if (maps.some((m) => m.tokens !== tokens || m.dim !== dim)) throw new Error('chainFromMaps: the maps disagree on [T, D]');
  return {
    tokens,
    dim,
    stages: maps.length,
    evaluateFrom(from, xs) {
      return xs.map((x, i) => {
        const map = maps[from + i];
        const empty = map.emptyCache(x.shape[0]);
        const head = tf.slice(x, [0, 0, 0], [-1, tokens - 1, -1]) as PatchSeq;
        const r = map.evaluate(head, 0, empty);
        head.dispose();
        map.disposeCache(empty);
        map.disposeCache(r.cache);
        return r.params;
      });
    },
    link,
    map: (k) => maps[k],
  };
}

/** x[0] = z[0]; x[t] = exp(logScale[t − 1]) · z[t] + shift[t − 1]. */
function jacobiUpdate(z: tf.Tensor, p: AffineParams): PatchSeq {
  return tf.tidy(() => {
    const T = z.shape[1]!;
    const rest = tf.slice(z, [0, 1, 0], [-1, T - 1, -1]);
    return tf.concat([tf.slice(z, [0, 0, 0], [-1, 1, -1]), tf.add(tf.mul(tf.exp(p.logScale), rest), p.shift)], 1) as PatchSeq;
  });
}

export interface ChainSolveOptions {
  /** The first stage's initial iterate [B, T, D] (position 0 is replaced by the input); needed for guess 'table'. */
  guess?: PatchSeq;
  /**
   * Called after each joint iteration with its number, each active stage's
   * residual, and the last stage's current iterate (borrowed: valid during the
   * call only) — e.g. to measure the quality at every depth in one solve.
   */
  onIteration?: (iteration: number, residuals: number[], last: PatchSeq) => void;
}

/**
 * The steps of a joint Jacobi solve of a chain from the first stage's input
 * `z` (in its position order). Returns the last stage's output (in its
 * position order) and a report whose depth is the number of joint iterations.
 * A stage stops being evaluated once its input is final and it has either
 * converged to the tolerance or had T − 1 iterations on that final input (then
 * it is exact). A non-finite iterate makes the unfinished stages be solved
 * exactly, one after another.
 */
export function* solveChainSteps(
  chain: CausalChain,
  z: PatchSeq,
  strategy: JointStrategy,
  options: ChainSolveOptions = {},
): ReadSteps<{ x: PatchSeq; report: SolveReport }> {
  const t0 = typeof performance !== 'undefined' ? performance.now() : Date.now();
  const T = chain.tokens;
  const L = chain.stages;
  const [B, Tz, D] = z.shape;
  if (Tz !== T || D !== chain.dim) throw new Error(`solveChain: input has shape [${B}, ${Tz}, ${D}] but the chain expects [batch, ${T}, ${chain.dim}]`);
  const s = validateJointStrategy(strategy);
  const guessKind = s.guess ?? 'noise';
  if (guessKind === 'table' && !options.guess) throw new Error("solveChain: guess 'table' needs options.guess (the table's rows for the batch)");
  if (options.guess && (options.guess.shape[0] !== B || options.guess.shape[1] !== T || options.guess.shape[2] !== D)) {
    throw new Error(`solveChain: the guess has shape [${options.guess.shape.join(', ')}], expected [${B}, ${T}, ${D}]`);
  }
  const blockStrategy = { kind: 'jacobi' as const, modules: 1, maxIterations: s.maxIterations, ...(s.tolerance !== undefined ? { tolerance: s.tolerance } : {}) };
  const reports: BlockReport[] = Array.from({ length: L }, () => ({
    strategy: blockStrategy,
    modules: [{ start: 1, end: T - 1, iterations: 0, residuals: [], depth: 0 }],
    depth: 0,
    positionsEvaluated: 0,
    fallbacks: 0,
    wallMs: 0,
  }));

  // Initial iterates: the first stage from its guess, every later stage from its input.
  const xs: PatchSeq[] = [];
  xs.push(
    tf.tidy(() => {
      if (guessKind === 'noise') return tf.clone(z);
      const g = guessKind === 'zeros' ? tf.zeros([B, T - 1, D]) : tf.slice(options.guess!, [0, 1, 0], [-1, T - 1, -1]);
      return tf.concat([tf.slice(z, [0, 0, 0], [-1, 1, -1]), g], 1);
    }) as PatchSeq,
  );
  for (let k = 1; k < L; k++) xs.push(chain.link(k - 1, xs[k - 1]));

  let from = 0; // stages < from are final
  let frozenInput: PatchSeq = tf.clone(z); // input of stage `from` (final)
  let onFinalInput = 0; // iterations stage `from` has had on its final input
  let iterations = 0;
  let extraDepth = 0;
  let fallback = false;
  try {
    while (from < L && iterations < s.maxIterations) {
      iterations += 1;
      const active = xs.slice(from);
      const inputs = active.map((_, i) => (i === 0 ? frozenInput : chain.link(from + i - 1, xs[from + i - 1])));
      const params = chain.evaluateFrom(from, active);
      const next = params.map((p, i) => jacobiUpdate(inputs[i], p));
      params.forEach(disposeParams);
      inputs.slice(1).forEach((t) => t.dispose());
      const residuals: number[] = [];
      for (let i = 0; i < next.length; i++) {
        residuals.push(yield* readScalar(tf.tidy(() => tf.max(tf.abs(tf.sub(next[i], active[i]))))));
      }
      for (let i = 0; i < next.length; i++) {
        const r = reports[from + i];
        r.modules[0].iterations += 1;
        r.modules[0].residuals.push(residuals[i]);
        r.modules[0].depth += 1;
        r.depth += 1;
        r.positionsEvaluated += T - 1;
        xs[from + i].dispose();
        xs[from + i] = next[i];
      }
      options.onIteration?.(iterations, residuals, xs[L - 1]);
      if (residuals.some((v) => !Number.isFinite(v))) {
        fallback = true;
        break;
      }
      onFinalInput += 1;
      // Freeze the first unfinished stage once it is done on its final input
      // (its successor's input becomes final only now, so at most one a step).
      if (onFinalInput >= T - 1 || (s.tolerance !== undefined && residuals[0] <= s.tolerance)) {
        from += 1;
        frozenInput.dispose();
        frozenInput = from < L ? chain.link(from - 1, xs[from - 1]) : (tf.zeros([0, T, D]) as PatchSeq);
        onFinalInput = 0;
      }
      if (s.tolerance !== undefined && residuals.every((v) => v <= s.tolerance!)) break;
    }
    if (fallback) {
      // Re-solve the unfinished stages exactly, from the last final input.
      for (let k = from; k < L; k++) {
        const input = k === from ? frozenInput : chain.link(k - 1, xs[k - 1]);
        const solved = yield* solveBlockSteps(chain.map(k), input, { kind: 'sequential' });
        if (k !== from) input.dispose();
        xs[k].dispose();
        xs[k] = solved.x;
        reports[k].fallbacks += 1;
        reports[k].modules[0].fallback = { reason: 'a joint iterate became non-finite', afterIteration: reports[k].modules[0].iterations };
        reports[k].depth += solved.report.depth;
        reports[k].positionsEvaluated += solved.report.positionsEvaluated;
        extraDepth += solved.report.depth;
      }
    } else {
      const ok = (yield* readScalar(tf.tidy(() => tf.cast(tf.all(tf.isFinite(xs[L - 1])), 'float32')))) === 1;
      if (!ok) throw new NonFiniteError('joint Jacobi ended with non-finite values');
    }
  } catch (e) {
    xs.forEach((x) => x.dispose());
    frozenInput.dispose();
    throw e;
  }
  frozenInput.dispose();
  const x = xs[L - 1];
  xs.slice(0, L - 1).forEach((t) => t.dispose());
  const wallMs = (typeof performance !== 'undefined' ? performance.now() : Date.now()) - t0;
  reports.forEach((r) => (r.wallMs = wallMs / L));
  return {
    x,
    report: {
      blocks: reports,
      depth: iterations + extraDepth,
      sequentialDepth: L * Math.max(0, T - 1),
      fallbacks: reports.reduce((a, r) => a + r.fallbacks, 0),
      wallMs,
      strategy: formatJointStrategy(s),
      joint: { iterations },
    },
  };
}
