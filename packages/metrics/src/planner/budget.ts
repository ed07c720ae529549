/**
 * The planning budget of the `time` objective. A plan is worth making only if
 * the time it saves on the job pays for the planning:
 *
 *   saving(job) = (sequential ms − plan ms) per batch × ⌈samples / batch⌉
 *
 * Before the costly phases the planner asks `allows(estimate)`: planning so
 * far plus the next phase's estimate must stay within the largest saving any
 * plan could make on the job (from the cost model's lower bound on a Jacobi or
 * joint solve). Where it would not, planning stops and the plan is sequential.
 */
export class PlanningBudget {
  private readonly t0 = performance.now();
  /** Largest saving (ms) any plan can make on the job; Infinity without a job size or a cost model. */
  limitMs = Infinity;

  constructor(
    /** Samples the plan will draw (Infinity: a plan kept for reuse). */
    readonly samples: number,
    /** The batch the plan is for. */
    readonly batch: number,
  ) {}

  /** Milliseconds spent planning so far. */
  spentMs(): number {
    return performance.now() - this.t0;
  }

  /** Batches of the job. */
  batches(): number {
    return Math.ceil(this.samples / this.batch);
  }

  /** Predicted saving on the job of a plan taking `planMs` per batch against `sequentialMs`. */
  savingMs(sequentialMs: number, planMs: number): number {
    return (sequentialMs - planMs) * this.batches();
  }

  /** Whether the budget ever refused a phase. */
  stopped = false;

  /** Whether planning may go on into a phase estimated at `estimateMs`. */
  allows(estimateMs: number): boolean {
    const ok = this.spentMs() + estimateMs <= this.limitMs;
    if (!ok) this.stopped = true;
    return ok;
  }

  /** One line on what planning cost against what it could save. */
  describe(): string {
    const job = Number.isFinite(this.samples) ? `a job of ${this.samples} sample${this.samples === 1 ? '' : 's'}` : 'a plan kept for reuse';
    const limit = Number.isFinite(this.limitMs) ? `at most ${fmt(this.limitMs)} to save` : 'no limit';
    return `planning took ${fmt(this.spentMs())} for ${job} (${limit})`;
  }
}

function fmt(ms: number): string {
  return ms >= 1000 ? `${(ms / 1000).toFixed(1)} s` : `${ms.toFixed(0)} ms`;
}
