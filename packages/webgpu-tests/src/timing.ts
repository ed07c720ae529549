/** What both benchmark tables share: a strategy's timed runs against the sequential sampler. */
export interface TimedRow {
  name: string;
  /** The strategy as the solvers print it. */
  strategy: string;
  /** Dependent network evaluations per sample, and the sequential sampler's. */
  depth: number;
  sequentialDepth: number;
  timesMs: number[];
  medianMs: number;
  /** Sequential median / this median. */
  speedup: number | null;
  fallbacks: number;
}

export function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const k = s.length >> 1;
  return s.length % 2 ? s[k] : (s[k - 1] + s[k]) / 2;
}
