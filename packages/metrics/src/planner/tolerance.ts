/**
 * Tolerances the planner derives from measured residuals. A plan stops each
 * solve on its residual (never after a count measured on the calibration
 * batch), so a batch holding slower samples iterates until they have settled
 * too; to make a solve stop where the calibration batch met the target, its
 * tolerance is the residual the calibration solve had there.
 */

/** `v` rounded down to two significant digits (a tolerance that reads well and is never looser than `v`). */
export function roundDown(v: number): number {
  if (!(v > 0) || !Number.isFinite(v)) return v;
  const scale = 10 ** (Math.floor(Math.log10(v)) - 1);
  return Number((Math.floor(v / scale) * scale).toPrecision(2));
}

/** `v` rounded up to two significant digits (a tolerance that reads well and stops a solve whose residual is `v`). */
export function roundUp(v: number): number {
  if (!(v > 0) || !Number.isFinite(v)) return v;
  const scale = 10 ** (Math.floor(Math.log10(v)) - 1);
  return Number((Math.ceil(v / scale - 1e-9) * scale).toPrecision(2));
}
