/**
 * Which conformance cases the browser suite runs. Chromium's software WebGPU
 * adapter (SwiftShader) is slow — on a 2-core CI machine a guided sequential
 * sample of tiny-cond takes over a minute — so the suite runs every case of
 * the small unconditional fixture and, of the class-conditional one, the
 * cases that add what tiny-uncond lacks (labels, classifier-free guidance)
 * at the lowest cost. Everything skipped still runs on cpu and wasm in Node
 * (packages/model/test) and on Node WebGPU where a GPU is present. Setting
 * TARFLOW_BROWSER_CASES=all runs every case of every fixture.
 */
import { caseNames, type FixtureSpec } from './cases.js';

/** Per fixture, the cases run in the browser; fixtures not listed run in full. */
export const BROWSER_SUBSETS: Record<string, { cases: string[]; why: string }> = {
  'tiny-cond': {
    // forward: class embeddings and the full network; denoised: gradients
    // through it; gsj.jacobi-zero-guess2: guided (CFG, annealed) Jacobi
    // sampling with labels and the zero initial guess.
    cases: ['forward', 'denoised', 'gsj.jacobi-zero-guess2'],
    why: 'too slow on the software adapter; runs on cpu/wasm in Node (packages/model) and on Node WebGPU where a GPU is present',
  },
};

export interface BrowserPlan {
  run: string[];
  skipped: string[];
  why: string;
}

/** The browser plan for one fixture; `override` 'all' runs every case. */
export function browserPlan(name: string, spec: FixtureSpec, override?: string): BrowserPlan {
  const all = caseNames(spec);
  const subset = BROWSER_SUBSETS[name];
  if (override === 'all' || !subset) return { run: all, skipped: [], why: '' };
  const unknown = subset.cases.filter((c) => !all.includes(c));
  if (unknown.length > 0) throw new Error(`browser plan for ${name} names cases the fixture lacks: ${unknown.join(', ')}`);
  return { run: all.filter((c) => subset.cases.includes(c)), skipped: all.filter((c) => !subset.cases.includes(c)), why: subset.why };
}
