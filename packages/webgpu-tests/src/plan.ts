/**
 * Which conformance cases the browser suite runs: by default (and in CI) every
 * case of every fixture, its sampling cases on the fused engine (the WebGPU
 * kernels of @tarflow/kernels, what 'auto' picks on WebGPU), and a few
 * sampling cases again on the plain engine (PLAIN_ENGINE_CASES).
 * Chromium's software WebGPU adapter (SwiftShader) is slow — the whole suite
 * takes about five minutes on a 2-core machine (it took eleven to nineteen
 * with every case on the plain engine), most of it tiny-cond's guided Jacobi
 * run to convergence and its joint solve — so for quick local
 * runs TARFLOW_BROWSER_CASES=quick runs every case of the small unconditional
 * fixture and, of the class-conditional one, the cases that add what
 * tiny-uncond lacks (labels, classifier-free guidance) at the lowest cost.
 */
import { caseNames, type FixtureSpec } from './cases.js';

/** Per fixture, the cases a quick run takes; fixtures not listed run in full. */
export const QUICK_SUBSETS: Record<string, { cases: string[]; why: string }> = {
  'tiny-cond': {
    // forward: class embeddings and the full network; denoised: gradients
    // through it; gsj.jacobi-zero-guess2: guided (CFG, annealed) Jacobi
    // sampling with labels and the zero initial guess.
    cases: ['forward', 'denoised', 'gsj.jacobi-zero-guess2'],
    why: 'TARFLOW_BROWSER_CASES=quick; every case runs by default (and in CI)',
  },
};

/**
 * Per fixture, the sampling cases also run on the plain engine (tfjs' own
 * WebGPU kernels). The plain engine is the reference implementation, checked
 * case by case on cpu and wasm in @tarflow/model's tests; here it keeps the
 * guided, labelled sequential solve (tiny-cond) and a batched Jacobi solve
 * from the zero guess (tiny-uncond) — a few seconds to tens of seconds on
 * SwiftShader, where the full plain set took over eleven minutes.
 */
export const PLAIN_ENGINE_CASES: Record<string, string[]> = {
  'tiny-cond': ['sequential'],
  'tiny-uncond': ['gsj.jacobi-zero-guess2'],
};

/** The cases whose engine is a choice: the sampling ones (forward and denoised run the model's own ops). */
export const isSamplingCase = (c: string): boolean => c === 'sequential' || c === 'joint' || c.startsWith('gsj.');

export interface BrowserPlan {
  /** Cases to run, sampling ones on the fused engine. */
  run: string[];
  /** Sampling cases to run again on the plain engine. */
  plain: string[];
  skipped: string[];
  why: string;
}

/** The browser plan for one fixture: every case, or with `mode` 'quick' the quick subset. */
export function browserPlan(name: string, spec: FixtureSpec, mode?: string): BrowserPlan {
  const all = caseNames(spec);
  if (mode !== undefined && mode !== '' && mode !== 'all' && mode !== 'quick') {
    throw new Error(`TARFLOW_BROWSER_CASES must be 'all' (the default) or 'quick', got '${mode}'`);
  }
  const plainCases = PLAIN_ENGINE_CASES[name] ?? [];
  const unknownPlain = plainCases.filter((c) => !all.includes(c) || !isSamplingCase(c));
  if (unknownPlain.length > 0) throw new Error(`browser plan for ${name} names plain-engine cases that are not sampling cases of the fixture: ${unknownPlain.join(', ')}`);
  const subset = QUICK_SUBSETS[name];
  if (mode !== 'quick' || !subset) return { run: all, plain: plainCases, skipped: [], why: '' };
  const unknown = subset.cases.filter((c) => !all.includes(c));
  if (unknown.length > 0) throw new Error(`browser plan for ${name} names cases the fixture lacks: ${unknown.join(', ')}`);
  const run = all.filter((c) => subset.cases.includes(c));
  return { run, plain: plainCases.filter((c) => run.includes(c)), skipped: all.filter((c) => !subset.cases.includes(c)), why: subset.why };
}
