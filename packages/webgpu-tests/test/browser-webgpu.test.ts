/**
 * The reference conformance cases on WebGPU in headless Chromium (a software
 * SwiftShader adapter on machines without a GPU). The page (page/main.ts) is
 * bundled with esbuild and served from 127.0.0.1; it runs each case and
 * returns the raw outputs, which are compared here with the fixture's
 * expected values at the fixture's stated tolerance.
 *
 * Every case of every fixture runs, the sampling ones on the fused engine
 * (@tarflow/kernels' WebGPU kernels); a documented few run again on the plain
 * engine (src/plan.ts: PLAIN_ENGINE_CASES). Per fixture, the fused engine's
 * kernel count per sequential block-step (tf.profile) and its live tensors
 * over repeated samplings are checked too. TARFLOW_BROWSER_CASES=quick runs a
 * documented subset (src/plan.ts).
 *
 * Without Chromium (or without a WebGPU adapter in it) the suite is skipped
 * with the reason in its name, except under CI=true, where that fails.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { chromium, type Browser, type Page } from 'playwright-core';
import { parseSafetensors } from '@tarflow/checkpoint';
import type { WebGPUInfo } from '@tarflow/backend-webgpu';
import { bundlePage } from '../src/bundle.js';
import { CHROMIUM_WEBGPU_FLAGS, chromiumMissing, findChromium } from '@tarflow/browser-testing';
import { compareWithReference, describeComparison, parseTolerance } from '../src/compare.js';
import { fixtureNames, fixturesDir, readFixture } from '../src/fixtures.js';
import { browserPlan, isSamplingCase } from '../src/plan.js';
import { startServer, type StaticServer } from '../src/server.js';

const inCI = process.env.CI === 'true' || process.env.CI === '1';
/** The fused engine's budget: 2 + 5 · layers kernels per block-step (12 here) and the solver's few. */
const MAX_KERNELS_PER_STEP = 25;
const exe = findChromium();
const missing = chromiumMissing();
if (missing) console.warn(`[webgpu-tests] browser WebGPU conformance skipped: ${missing}`);

describe.skipIf(Boolean(missing) && !inCI)(`browser WebGPU conformance${missing ? ` — skipped: ${missing}` : ''}`, () => {
  let browser: Browser;
  let page: Page;
  let server: StaticServer;
  let outDir: string;
  let info: WebGPUInfo;
  const pageErrors: string[] = [];

  beforeAll(async () => {
    if (!exe.path) throw new Error(`browser WebGPU tests need Chromium under CI: ${missing}`);
    outDir = await mkdtemp(join(tmpdir(), 'tarflow-webgpu-page-'));
    await bundlePage(outDir);
    server = await startServer(outDir, fixturesDir());
    browser = await chromium.launch({
      executablePath: exe.path,
      headless: true, // Playwright adds --headless itself
      args: CHROMIUM_WEBGPU_FLAGS.filter((f) => f !== '--headless'),
    });
    page = await browser.newPage();
    page.on('pageerror', (e) => pageErrors.push(e.message));
    page.on('console', (m) => {
      // WebGPU reports invalid shaders and pipelines as warnings; a case that ran one computed nothing.
      if (m.type() === 'error' || /WGSL|Invalid (ShaderModule|ComputePipeline)/.test(m.text())) pageErrors.push(m.text());
    });
    await page.goto(`${server.url}/index.html`);
    await page.waitForFunction(() => document.title.endsWith('ready'));
    info = await page.evaluate(() => window.tarflowTest.init());
    console.log(`[browser-webgpu] Chromium ${browser.version()} on ${info.adapterName}`);
  });

  afterAll(async () => {
    await browser?.close();
    await server?.close();
    if (outDir) await rm(outDir, { recursive: true, force: true });
  });

  it('runs on a WebGPU adapter', () => {
    expect(info.backend).toBe('webgpu');
    expect(info.runtime).toBe('browser');
    expect(info.adapterName.length).toBeGreaterThan(0);
  });

  describe.each(fixtureNames())('%s', (name) => {
    const files = readFixture(name);
    const eps = parseTolerance(files.spec.tolerance);
    const expected = parseSafetensors(files.expected);
    const plan = browserPlan(name, files.spec, process.env.TARFLOW_BROWSER_CASES);

    afterAll(async () => {
      await page?.evaluate((n) => window.tarflowTest.release(n), name);
    });

    const conformant = (c: string, engine: 'fused' | 'plain') => async () => {
      const r = await page.evaluate(([n, k, e]) => window.tarflowTest.run(n, k, e), [name, c, engine] as const);
      const keys = Object.keys(r.outputs);
      expect(keys.length, `${c} produced no outputs`).toBeGreaterThan(0);
      let maxErr = 0;
      for (const key of keys) {
        const cmp = compareWithReference(expected, key, r.outputs[key], eps);
        expect(cmp.ok, describeComparison(cmp, eps)).toBe(true);
        maxErr = Math.max(maxErr, cmp.maxAbsError);
      }
      if (c === 'sequential') {
        const blocks = files.spec.config?.num_blocks;
        const T = files.spec.T;
        expect(r.facts.traceLength).toBe(blocks + 1);
        expect(r.facts.depth).toBe(blocks * (T - 1));
      }
      if (c === 'denoised') expect(r.facts.lr).toBeCloseTo(files.spec.cases.denoised.lr, 6);
      if ('fallbacks' in r.facts) expect(r.facts.fallbacks, 'divergence fallbacks').toBe(0);
      if (isSamplingCase(c)) expect(r.facts.fused, `the ${engine} engine evaluated the maps`).toBe(engine === 'fused' ? 1 : 0);
      expect(pageErrors, 'errors in the page').toEqual([]);
      const on = isSamplingCase(c) ? ` (${engine})` : '';
      console.log(`[browser-webgpu] ${name} ${c}${on}: max abs error ${maxErr.toExponential(2)}, ${r.wallMs.toFixed(0)} ms in the page`);
    };
    for (const c of plan.run) it(c, conformant(c, 'fused'));
    for (const c of plan.plain) it(`${c} on the plain engine`, conformant(c, 'plain'));

    it(`fused engine: at most ${MAX_KERNELS_PER_STEP} kernels per sequential block-step`, async () => {
      const p = await page.evaluate((n) => window.tarflowTest.kernelProfile(n, 'fused'), name);
      expect(p.engine).toBe('fused');
      expect(p.blockSteps).toBe(files.spec.config.num_blocks * (files.spec.T - 1));
      const layers = Number(files.spec.config.layers_per_block);
      // 2 + 5 · layers fused kernels per block-step; the rest is the solver's update and the sample's bookkeeping.
      expect(p.byName.TarflowAttention).toBe(layers * p.blockSteps);
      expect(p.kernels / p.blockSteps).toBeLessThanOrEqual(MAX_KERNELS_PER_STEP);
      console.log(`[browser-webgpu] ${name} fused: ${(p.kernels / p.blockSteps).toFixed(1)} kernels per sequential block-step (${p.kernels} in all)`);
    });

    it('fused engine: live tensors constant over repeated samplings', async () => {
      const before = await page.evaluate(() => window.tarflowTest.numTensors());
      const after = await page.evaluate((n) => window.tarflowTest.tensorsAfterSampling(n, 'fused', 2), name);
      expect(after).toEqual([before, before]);
    });
    for (const c of plan.skipped) it.skip(`${c} — not run in the browser: ${plan.why}`, () => undefined);
  });
});
