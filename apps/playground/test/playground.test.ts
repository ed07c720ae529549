/**
 * The playground end to end in headless Chromium: build it once with Vite,
 * serve dist/ from 127.0.0.1, pick the wasm backend (fast and deterministic
 * in software), sample a small batch with a Jacobi strategy, compare with the
 * sequential sampler, compute CRM/IGM, and check what the page shows; then
 * save a screenshot to docs/images/playground.png. A bad strategy and a bad
 * model file must show their errors.
 *
 * Chromium is the system's (Debian's `chromium`, which .ci/run installs) or
 * the one TARFLOW_CHROMIUM names; without one the suite is skipped, saying so.
 */
import { existsSync } from 'node:fs';
import { mkdir, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { chromium, type BrowserContext, type Page } from 'playwright-core';
import { build } from 'vite';
import { CHROMIUM_WEBGPU_FLAGS, chromiumMissing, findChromium, serveDir, type StaticServer } from '@tarflow/browser-testing';

const packageDir = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const screenshotPath = resolve(packageDir, '../../docs/images/playground.png');

const chromiumPath = findChromium().path;
const missing = chromiumMissing();
if (missing) console.warn(`[playground] browser test skipped: ${missing}`);

describe.skipIf(Boolean(missing))(`playground in headless Chromium${missing ? ` — skipped: ${missing}` : ''}`, () => {
  let server: StaticServer;
  let context: BrowserContext;
  let page: Page;
  let profile: string;
  const pageErrors: string[] = [];
  const t0 = Date.now();
  const log = (what: string) => console.log(`[playground] ${what} at ${((Date.now() - t0) / 1000).toFixed(1)} s`);

  const idle = () => page.waitForSelector('body[data-state="idle"]', { timeout: 90_000 });
  const hidden = (sel: string) => page.locator(sel).waitFor({ state: 'hidden', timeout: 10_000 });
  /** Waits until the element shows `text` (and is visible); fails with what it shows instead. */
  const shows = async (sel: string, text: string, timeout = 10_000) => {
    try {
      await page.waitForFunction(
        ([s, t]) => {
          const e = document.querySelector<HTMLElement>(s);
          return Boolean(e && !e.hidden && e.offsetParent !== null && e.textContent?.includes(t));
        },
        [sel, text] as const,
        { timeout },
      );
    } catch {
      expect(await page.textContent(sel), `${sel} should show ${JSON.stringify(text)}`).toContain(text);
      throw new Error(`${sel} contains ${JSON.stringify(text)} but is not visible`);
    }
  };

  beforeAll(async () => {
    await build({ root: packageDir, configFile: join(packageDir, 'vite.config.ts'), logLevel: 'error' });
    log('built');
    server = await serveDir(join(packageDir, 'dist'));
    profile = await mkdtemp(join(tmpdir(), 'tarflow-playground-chromium-'));
    context = await chromium.launchPersistentContext(profile, {
      executablePath: chromiumPath!,
      headless: true, // Playwright passes --headless itself
      args: CHROMIUM_WEBGPU_FLAGS.filter((f) => f !== '--headless'),
      viewport: { width: 1360, height: 900 },
    });
    page = context.pages()[0] ?? (await context.newPage());
    page.on('pageerror', (e) => pageErrors.push(e.message));
    page.on('console', (m) => {
      if (m.type() === 'error') pageErrors.push(m.text());
    });
    // Start on cpu (nothing to fetch), then switch to wasm with the picker below.
    await page.goto(`${server.url}/index.html?backend=cpu&batch=2&solver=strategy&strategy=${encodeURIComponent('[0-4-12-12]')}`);
    await page.waitForFunction(() => window.tarflowPlayground?.model() !== null && document.body.dataset.state === 'idle', null, { timeout: 60_000 });
    log('default model loaded');
  });

  afterAll(async () => {
    await context?.close();
    await server?.close();
    if (profile) await rm(profile, { recursive: true, force: true });
  });

  it('loads the embedded default model', async () => {
    await shows('#model-status', 'default MNIST model');
    await hidden('#model-error');
    expect(await page.locator('#label-buttons button.digit').count()).toBe(10);
  });

  it('switches to the wasm backend with the picker', async () => {
    expect(await page.textContent('#backend-name')).toBe('cpu');
    await page.selectOption('#backend', 'wasm');
    await page.waitForFunction(() => document.getElementById('backend-name')?.textContent === 'wasm', null, { timeout: 30_000 });
    await idle();
    await shows('#backend-status', 'wasm (');
    await hidden('#backend-error');
    expect(server.log.some((r) => r.path.endsWith('.wasm') && r.status === 200)).toBe(true);
    log('wasm backend');
  });

  it('samples with a Jacobi strategy: depth below the sequential depth, a drawn grid, a report per block', async () => {
    await page.click('#labels-all');
    await page.check('#trace');
    await page.click('#sample');
    await page.waitForSelector('#total-depth', { timeout: 90_000 });
    await idle();
    log('sampled');
    await hidden('#run-error');
    const depth = Number(await page.getAttribute('#total-depth', 'data-value'));
    const sequential = Number(await page.getAttribute('#sequential-depth', 'data-value'));
    expect(sequential).toBe(4 * 48);
    expect(depth).toBeGreaterThan(0);
    expect(depth).toBeLessThan(sequential);
    expect(await page.locator('#report-table tbody tr[data-block]').count()).toBe(4);
    expect(await page.locator('#report-table svg.residuals').count()).toBe(4);
    expect(await page.locator('#trace-body .trace-row').count()).toBe(5);
    // The grid: 2 samples drawn, not one flat colour.
    const pixels = await page.evaluate(() => {
      const c = document.getElementById('grid') as HTMLCanvasElement;
      const d = c.getContext('2d')!.getImageData(0, 0, c.width, c.height).data;
      const levels = new Set<number>();
      for (let i = 0; i < d.length; i += 4) levels.add(d[i]);
      return { width: c.width, height: c.height, levels: levels.size };
    });
    expect(pixels.width).toBe(2 * 29 + 1);
    expect(pixels.height).toBe(28 + 2);
    expect(pixels.levels).toBeGreaterThan(20);
  });

  it('compares with the sequential sampler on the same noise', async () => {
    await page.click('#compare');
    await page.waitForSelector('#compare-mean', { timeout: 90_000 });
    await idle();
    log('compared');
    await hidden('#run-error');
    const mean = Number(await page.textContent('#compare-mean'));
    const max = Number(await page.textContent('#compare-max'));
    expect(Number.isFinite(mean) && Number.isFinite(max)).toBe(true);
    expect(mean).toBeLessThanOrEqual(max);
    // Same noise, and every block's residual below the 1e-3 tolerance: close to the exact samples.
    expect(mean).toBeLessThan(0.05);
    expect(Number(await page.textContent('#compare-sequential-depth'))).toBe(192);
    expect(Number(await page.textContent('#compare-solver-depth'))).toBeLessThan(192);
  });

  it('shows CRM/IGM share bars per block from the exact samples', async () => {
    await page.click('#metrics');
    await page.waitForSelector('#metrics-table', { timeout: 90_000 });
    await idle();
    log('CRM/IGM');
    expect(await page.locator('#metrics-table tbody tr').count()).toBe(4);
    await shows('#metrics-body', 'reused from the last exact run');
    const shares = await page.$$eval('.stacked > span', (s) => s.map((e) => parseFloat((e as HTMLElement).style.width)));
    expect(shares).toHaveLength(4);
    expect(shares.reduce((a, b) => a + b, 0)).toBeCloseTo(100, 0);
  });

  it('saves a screenshot to docs/images/playground.png', async () => {
    await mkdir(dirname(screenshotPath), { recursive: true });
    await page.screenshot({ path: screenshotPath, fullPage: true });
    expect(existsSync(screenshotPath)).toBe(true);
    expect(pageErrors).toEqual([]);
  });

  it('shows a bad strategy string as an inline error and does not sample', async () => {
    await page.fill('#strategy-text', '[0-2-');
    await page.locator('#strategy-error').waitFor({ state: 'visible', timeout: 30_000 });
    await shows('#strategy-error', 'cannot parse strategy');
    await page.click('#sample');
    await shows('#run-error', 'solver settings are not valid');
    expect(await page.evaluate(() => document.body.dataset.state)).toBe('idle');
    await page.fill('#strategy-text', '[7-2-6-4]');
    await shows('#strategy-error', 'block 7 does not exist');
    await page.fill('#strategy-text', '[0-4-12-12]');
    await hidden('#strategy-error');
  });

  it('shows a clear error for a bad model file and keeps the loaded model', async () => {
    await page.setInputFiles('#model-file', { name: 'not-a-model.safetensors', mimeType: 'application/octet-stream', buffer: Buffer.from('this is not a safetensors file') });
    await page.locator('#model-error').waitFor({ state: 'visible', timeout: 30_000 });
    await shows('#model-error', 'Cannot load not-a-model.safetensors');
    await shows('#model-error', 'still using default MNIST model');
    await idle();
    expect(await page.evaluate(() => window.tarflowPlayground.model()?.name)).toBe('default MNIST model');
    log('done');
  });

  it('samples with the joint solve: every block at once, depth = joint iterations, no per-block trace', async () => {
    await page.selectOption('#solver', 'joint');
    await page.fill('#iterations', '30');
    await page.selectOption('#joint-guess', 'table');
    await page.click('#sample');
    await page.waitForFunction(() => document.querySelector('#report-summary')?.textContent?.includes('joint:30'), null, { timeout: 120_000 });
    await idle();
    log('sampled (joint)');
    await hidden('#run-error');
    const depth = Number(await page.getAttribute('#total-depth', 'data-value'));
    expect(depth).toBeGreaterThan(0);
    expect(depth).toBeLessThanOrEqual(30);
    expect(await page.locator('#trace-card').isHidden()).toBe(true);
  });
});
