/**
 * Which conformance cases the browser suite runs: by default (and in CI) every
 * case of every fixture. Chromium's software WebGPU adapter (SwiftShader) is
 * slow — the whole suite takes seven to ten minutes on a 2-core machine,
 * most of it tiny-cond's guided Jacobi run to convergence — so for quick local
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

export interface BrowserPlan {
  run: string[];
  skipped: string[];
  why: string;
}

/** The browser plan for one fixture: every case, or with `mode` 'quick' the quick subset. */
export function browserPlan(name: string, spec: FixtureSpec, mode?: string): BrowserPlan {
  const all = caseNames(spec);
  if (mode !== undefined && mode !== '' && mode !== 'all' && mode !== 'quick') {
    throw new Error(`TARFLOW_BROWSER_CASES must be 'all' (the default) or 'quick', got '${mode}'`);
  }
  const subset = QUICK_SUBSETS[name];
  if (mode !== 'quick' || !subset) return { run: all, skipped: [], why: '' };
  const unknown = subset.cases.filter((c) => !all.includes(c));
  if (unknown.length > 0) throw new Error(`browser plan for ${name} names cases the fixture lacks: ${unknown.join(', ')}`);
  return { run: all.filter((c) => subset.cases.includes(c)), skipped: all.filter((c) => !subset.cases.includes(c)), why: subset.why };
}
