/**
 * Learning-rate schedule: linear warm-up from `minLr` to `maxLr` over
 * `warmupSteps`, then cosine decay back to `minLr` at `totalSteps` (the
 * reference's CosineLRSchedule). Steps count from 0; the rate at step s is
 * the one used for the update that step s performs.
 */
export interface CosineSchedule {
  maxLr: number;
  minLr: number;
  warmupSteps: number;
  totalSteps: number;
}

export function cosineLr(s: CosineSchedule, step: number): number {
  const { maxLr, minLr, warmupSteps, totalSteps } = s;
  if (step < warmupSteps) return minLr + ((maxLr - minLr) * (step + 1)) / warmupSteps;
  if (step >= totalSteps) return minLr;
  const span = Math.max(1, totalSteps - warmupSteps);
  const progress = (step - warmupSteps) / span;
  return minLr + 0.5 * (maxLr - minLr) * (1 + Math.cos(Math.PI * progress));
}
