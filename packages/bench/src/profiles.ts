/**
 * What one backend's run of `tarflow bench` measures, by backend: batch,
 * repeats, the batch sizes and sequence lengths of the scaling tables, the
 * FD sample count and the memory check.
 */

/** Solvers of the memory check: the CLI's own, or the planner's depth strategy. */
export const MEMORY_SOLVERS = ['sequential', 'jacobi', 'gs-jacobi', 'planner-depth'] as const;

export interface Profile {
  batch: number;
  repeats: number;
  batches: number[];
  tokens: number[];
  /** Samples per strategy for the FD column (0: no FD). */
  fdCount: number;
  /** Solvers of the memory check (MEMORY_SOLVERS). */
  memorySolvers: string[];
  memoryBatch: number;
}

/**
 * Per-backend defaults sized to keep `pnpm bench` near ten minutes on a
 * two-core machine. The plain-JavaScript cpu backend runs a full-sequence
 * pass an order of magnitude slower than wasm, so it gets smaller batches;
 * webgpu uses the wasm sizes. `quick` is a seconds-long run for tests.
 */
export const PROFILES: Record<'wasm' | 'cpu' | 'quick', Profile> = {
  wasm: { batch: 8, repeats: 3, batches: [1, 8, 32], tokens: [16, 49, 64, 256], fdCount: 32, memorySolvers: ['sequential', 'planner-depth'], memoryBatch: 64 },
  cpu: { batch: 1, repeats: 2, batches: [], tokens: [16, 49], fdCount: 0, memorySolvers: [], memoryBatch: 64 },
  quick: { batch: 2, repeats: 1, batches: [2], tokens: [16], fdCount: 0, memorySolvers: ['sequential'], memoryBatch: 4 },
};

/** The profile of `backend` (or the quick one), with `overrides` applied. */
export function profileFor(backend: string, overrides: Partial<Profile> = {}, quick = false): Profile {
  const base = quick ? PROFILES.quick : backend === 'cpu' ? PROFILES.cpu : PROFILES.wasm;
  const defined = Object.fromEntries(Object.entries(overrides).filter(([, v]) => v !== undefined));
  return { ...base, ...defined };
}
