/** The planner's calibrated defaults (see docs/planner.md for how they were measured). */
export const PLANNER_DEFAULTS = {
  /** Mean |Δ| against the sequential sampler that counts as quality parity. */
  targetMeanAbsDiff: 0.01,
  /**
   * A plan passes when the calibration batch's mean |Δ| plus `confidence`
   * prediction errors is within the target: σ·√(1/n + 1/B), with σ the spread
   * of the calibration samples' own mean |Δ|, n their number and B the batch
   * the plan is for — a one-sided bound on the mean |Δ| of a batch the planner
   * never saw. A few badly converged samples widen σ, so such plans are refused.
   */
  confidence: 2,
  /**
   * Largest single-pixel |Δ| allowed (images in [−1, 1]); off by default — on
   * the shipped model the pixel maximum did not predict the Fréchet distance
   * (docs/planner.md). Set it to demand that every pixel be close.
   */
  targetMaxAbsDiff: Infinity,
  /** Calibration samples (by default at least the batch). */
  calibration: 32,
  /** Residual tolerances tried, loosest first. */
  tolerances: [1, 3e-1, 1e-1, 5e-2, 3e-2, 1e-2, 3e-3, 1e-3, 3e-4, 1e-4],
  /** Module counts tried for tough blocks. */
  modules: [1, 2, 4, 8],
  /** A block is tough when its CRM share is at least this multiple of the average share. */
  toughFactor: 1.5,
  /** Each trimming step loosens a block's tolerance to stop it by this fraction of its iterations on the calibration batch (at least one fewer). */
  trimFactor: 0.7,
  batch: 16,
  /**
   * Objective `time`: interleaved rounds of the end-to-end confirmation, the
   * plan against the sequential sampler on one calibration batch (confirm.ts);
   * the plan is kept only where its median beats the loop's.
   */
  confirmRounds: 3,
};

/**
 * What `effort: 'quick'` changes (the rest as in PLANNER_DEFAULTS): a small
 * calibration batch, three tolerances, two module counts, a few trimming
 * trials, the joint solve with its plain guess only (no class-mean table),
 * no end-to-end confirmation, and a five-evaluation timing of the backend (cost.ts, quickCost). Meant for planning inside a sampling
 * run; `thorough` (the default) for plans that are kept.
 */
export const QUICK_PLANNER = {
  calibration: 8,
  tolerances: [1e-1, 1e-2, 1e-3],
  modules: [1, 4],
  /** End-to-end trials the trimming may spend. */
  trimTrials: 4,
  jointTable: false,
  /** No confirmation: a quick plan serves one budgeted job, and its calibration batch may be smaller than the job's. */
  confirmRounds: 0,
};
