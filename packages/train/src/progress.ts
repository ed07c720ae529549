/**
 * Progress events and a one-line text progress bar for terminals.
 */

/** Bits per dimension of data in [-1, 1] quantised to 256 levels (bin width 1/128). */
export const LN_128 = Math.log(128);
/** Per-dimension normalising constant of the standard Gaussian prior, ½·ln(2π). */
export const HALF_LN_2PI = 0.5 * Math.log(2 * Math.PI);

/**
 * Bits/dim from TarFlow's training loss.
 *
 * The loss is 0.5·mean(z²) − mean(log|det|), per dimension, without the
 * Gaussian constant. The negative log-density per dimension of the (noisy)
 * data in [-1, 1] is therefore loss + ½·ln(2π) nats; a pixel bin of 256
 * levels over [-1, 1] is 2/256 = 1/128 wide, so the discrete NLL is the
 * density's plus ln(128), and bits are nats / ln 2:
 *
 *   bpd = (loss + ½·ln(2π) + ln 128) / ln 2
 */
export function bitsPerDim(loss: number): number {
  return (loss + HALF_LN_2PI + LN_128) / Math.LN2;
}

/** What the training loop reports after each step. */
export interface TrainProgress {
  /** Steps completed (1 after the first update). */
  step: number;
  totalSteps: number;
  /** Epoch of the step just taken (from 0). */
  epoch: number;
  /** Training loss of this step's batch. */
  loss: number;
  /** {@link bitsPerDim} of `loss`. */
  bpd: number;
  /** Exponential moving average of the loss (factor 0.98), for display. */
  lossEma: number;
  /** Learning rate used for this step. */
  lr: number;
  /** Global gradient norm before clipping. */
  gradNorm: number;
  /** Milliseconds this step took, and the whole run so far (all sessions). */
  stepMs: number;
  elapsedMs: number;
  /** Estimated milliseconds to the end, from the mean step time of this session. */
  etaMs: number;
}

function duration(ms: number): string {
  const s = Math.max(0, Math.round(ms / 1000));
  const h = Math.floor(s / 3600);
  const m = Math.floor((s % 3600) / 60);
  const sec = s % 60;
  return h > 0 ? `${h}h${String(m).padStart(2, '0')}m` : `${m}m${String(sec).padStart(2, '0')}s`;
}

/** `[#######.........]  1200/4000 ep 17 loss -1.2345 (ema -1.2001) bpd 1.234 lr 8.1e-4 |g| 0.53 1.21s/it eta 56m24s` */
export function formatProgress(p: TrainProgress, width = 24): string {
  const done = Math.min(width, Math.round((p.step / Math.max(1, p.totalSteps)) * width));
  const bar = `[${'#'.repeat(done)}${'.'.repeat(width - done)}]`;
  const n = String(p.totalSteps).length;
  return (
    `${bar} ${String(p.step).padStart(n)}/${p.totalSteps} ep ${p.epoch} ` +
    `loss ${p.loss.toFixed(4)} (ema ${p.lossEma.toFixed(4)}) bpd ${p.bpd.toFixed(3)} ` +
    `lr ${p.lr.toExponential(1)} |g| ${p.gradNorm.toFixed(2)} ${(p.stepMs / 1000).toFixed(2)}s/it eta ${duration(p.etaMs)}`
  );
}
