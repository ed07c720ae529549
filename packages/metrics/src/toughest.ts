/**
 * The toughest block and the paper-style hand strategy built around it
 * (Liu & Qin 2025): the block with the largest Convergence Ranking Metric,
 *   k* = argmax_k CRM_k,
 * is the one plain Jacobi converges on slowest, so it gets GS-Jacobi with G
 * modules while every other block runs plain Jacobi with a capped count:
 *   [k*-G-⌈(T−1)/G⌉-min(10, T−1)]   ([Stack-GS-J-Else] notation, G = min(4, T−1)).
 */
import type { ImageBatch } from '@tarflow/tensor';
import type { TarFlow } from '@tarflow/model';
import { parseStrategy, type Strategy } from '@tarflow/solvers';
import { convergenceMetrics } from './convergence.js';

export interface ToughestBlock {
  /** Index in sampling order (what strategies use). */
  samplingIndex: number;
  /** Index in forward order. */
  forwardIndex: number;
  /** Its share of the summed CRM. */
  crmShare: number;
}

/** The block with the largest CRM on a calibration batch (passed forward, not disposed). */
export function toughestBlock(model: TarFlow, calibration: ImageBatch): ToughestBlock {
  const metrics = convergenceMetrics(model, calibration);
  const tough = metrics.blocks.reduce((a, b) => (b.crm > a.crm ? b : a));
  return { samplingIndex: tough.samplingIndex, forwardIndex: tough.forwardIndex, crmShare: tough.crmShare };
}

/**
 * GS-Jacobi with 4 modules (each solved to exactness at most) on sampling
 * block `toughest`, plain Jacobi capped at 10 iterations elsewhere, all
 * stopping early at `tolerance`.
 */
export function handStrategy(model: TarFlow, toughest: number, tolerance: number): Strategy {
  const T = model.tokens;
  const G = Math.min(4, Math.max(1, T - 1));
  return parseStrategy(`[${toughest}-${G}-${Math.ceil((T - 1) / G)}-${Math.min(10, T - 1)}]`, model.blocks.length, T, { tolerance }) as Strategy;
}
