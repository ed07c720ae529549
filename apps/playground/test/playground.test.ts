/**
 * The playground end to end in headless Chromium: build it once with Vite,
 * serve dist/ from 127.0.0.1, pick the wasm backend (fast and deterministic
 * in software), sample a small batch with a Jacobi strategy, compare with the
 * sequential sampler, compute CRM/IGM, and check what the page shows; then
 * save a screenshot to docs/images/playground.png. A bad strategy and a bad
 * model file must show their errors, and errors go once the value is fixed.
 * A Jacobi solve cut short by its budget is flagged; the page fits a 390 px
 * phone (docs/images/playground-phone.png), loads a file by keyboard and
 * passes axe-core without serious or critical violations; and `auto`, where
 * the only WebGPU adapter is a software fallback, takes the faster wasm.
 * Solver auto is the page's default: the default model's shipped wasm plan
 * serves its recommended settings, and a plan made for the tiny model on a
 * first visit is kept in localStorage and reused after a reload (an
 * unreadable kept entry is removed, with a note).
 *
 * Chromium is the system's (Debian's `chromium`, which .ci/run installs) or
 * the one TARFLOW_CHROMIUM names; without one the suite is skipped, saying so.
 */
import { existsSync, readdirSync } from 'node:fs';
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { chromium, type BrowserContext, type Page } from 'playwright-core';
import { build } from 'vite';
import { DEFAULT_MODEL_SAMPLING, FASHION_MODEL_SAMPLING } from '@tarflow/zoo';
import { CHROMIUM_WEBGPU_FLAGS, chromiumMissing, findChromium, serveDir, serveFiles, type StaticServer } from '@tarflow/browser-testing';

const packageDir = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const screenshotPath = resolve(packageDir, '../../docs/images/playground.png');
const phoneScreenshotPath = resolve(packageDir, '../../docs/images/playground-phone.png');
const tinyModel = resolve(packageDir, '../../../shared/fixtures/reference/tiny-cond.safetensors');
const axePath = createRequire(import.meta.url).resolve('axe-core/axe.min.js');

/**
 * Prepended to the sampling worker's script: every WebGPU adapter the worker
 * gets is the software fallback (SwiftShader), whatever the machine has.
 */
const FALLBACK_ONLY_GPU = `
if (self.navigator.gpu) {
  const gpu = self.navigator.gpu;
  const request = gpu.requestAdapter.bind(gpu);
  gpu.requestAdapter = async (options) => {
    const adapter = await request({ ...options, forceFallbackAdapter: true });
    if (adapter) {
      Object.defineProperty(adapter, 'isFallbackAdapter', { value: true });
      if (adapter.info) Object.defineProperty(adapter.info, 'isFallbackAdapter', { value: true });
    }
    return adapter;
  };
}
`;

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
    // The run error goes with the mistake, without another Sample.
    await hidden('#run-error');
  });

  it("clears a field's error as soon as its value is valid", async () => {
    await page.fill('#batch', '0');
    await page.click('#sample');
    await shows('#run-error', 'batch size must be an integer from 1 to 64');
    expect(await page.getAttribute('#batch', 'class')).toContain('invalid');
    expect(await page.textContent('#labels-preview')).toBe('');
    await page.fill('#batch', '2');
    await hidden('#run-error');
    expect(await page.getAttribute('#batch', 'class')).not.toContain('invalid');
    await shows('#labels-preview', 'labels: 0 1');
  });

  it('shows a clear error for a bad model file and keeps the loaded model', async () => {
    await page.setInputFiles('#model-file', { name: 'not-a-model.safetensors', mimeType: 'application/octet-stream', buffer: Buffer.from('this is not a safetensors file') });
    await page.locator('#model-error').waitFor({ state: 'visible', timeout: 30_000 });
    await shows('#model-error', 'Cannot load not-a-model.safetensors: this is not a safetensors file');
    await shows('#model-error', 'still using default MNIST model');
    // No header length in the quintillions.
    expect(await page.textContent('#model-error')).not.toMatch(/\d{10}/);
    await idle();
    expect(await page.evaluate(() => window.tarflowPlayground.model()?.name)).toBe('default MNIST model');
    log('done');
  });

  it('samples with the joint solve: every block at once, depth = joint iterations, no per-block trace', async () => {
    await page.selectOption('#solver', 'joint');
    await page.fill('#iterations', '30');
    await page.selectOption('#joint-guess', 'table');
    const messages: string[] = [];
    const watch = setInterval(() => void page.textContent('#progress-text').then((t) => t && messages.push(t), () => undefined), 100);
    await page.click('#sample');
    await page.waitForFunction(() => document.querySelector('#report-summary')?.textContent?.includes('joint:30'), null, { timeout: 120_000 });
    await idle();
    clearInterval(watch);
    log('sampled (joint)');
    await hidden('#run-error');
    const depth = Number(await page.getAttribute('#total-depth', 'data-value'));
    expect(depth).toBeGreaterThan(0);
    expect(depth).toBeLessThanOrEqual(30);
    expect(await page.locator('#trace-card').isHidden()).toBe(true);
    // One row for the joint iterations, not four per-block rows.
    expect(await page.locator('#report-table tbody tr').count()).toBe(1);
    expect(Number(await page.textContent('#joint-iterations'))).toBe(depth);
    expect(messages.some((m) => /block \d of 4/.test(m))).toBe(false);
  });

  it('flags a Jacobi solve stopped by its budget above its tolerance, in the report and on the samples', async () => {
    await page.selectOption('#solver', 'jacobi');
    await page.fill('#iterations', '2');
    await page.fill('#tolerance', '1e-3');
    await page.click('#sample');
    await page.waitForSelector('#total-depth', { timeout: 90_000 });
    await idle();
    log('sampled (Jacobi, 2 iterations)');
    await shows('#unconverged', 'Not converged');
    await shows('#unconverged', 'above the tolerance 1.00e-3');
    expect(await page.locator('#report-table tr.unconverged').count()).toBeGreaterThan(0);
    await shows('#samples-unconverged', 'not exact');
    expect(await page.getAttribute('#grid', 'aria-label')).toMatch(/^2 samples: digits 0, 1 · not exact/);
  });

  it('has no serious or critical accessibility violations (axe-core)', async () => {
    await page.addScriptTag({ path: axePath });
    const violations = await page.evaluate(async () => {
      const axe = (window as unknown as { axe: { run(c: Document): Promise<{ violations: Array<{ id: string; impact: string; nodes: Array<{ target: string[] }> }> }> } }).axe;
      const r = await axe.run(document);
      return r.violations.filter((v) => v.impact === 'serious' || v.impact === 'critical').map((v) => `${v.id}: ${v.nodes.map((n) => n.target.join(' ')).join(', ')}`);
    });
    expect(violations).toEqual([]);
  });

  it('fits a 390 px phone: no sideways scroll, tables scroll in their card, readable grid cells', async () => {
    await page.setViewportSize({ width: 390, height: 844 });
    await page.fill('#batch', '8');
    await page.click('#sample');
    await page.waitForSelector('#total-depth', { timeout: 90_000 });
    await idle();
    const layout = await page.evaluate(() => {
      const grid = document.getElementById('grid') as HTMLCanvasElement;
      const header = document.querySelector('header')!;
      const cols = Math.round(grid.width / 29);
      return {
        pageWidth: document.documentElement.scrollWidth,
        headerFits: header.scrollWidth <= header.clientWidth,
        cell: grid.getBoundingClientRect().width / cols,
        tableInScroller: document.getElementById('report-table')!.parentElement!.classList.contains('table-scroll'),
      };
    });
    expect(layout.pageWidth).toBeLessThanOrEqual(390);
    expect(layout.headerFits).toBe(true);
    expect(layout.tableInScroller).toBe(true);
    expect(layout.cell).toBeGreaterThanOrEqual(60);
    await page.screenshot({ path: phoneScreenshotPath, fullPage: true });
    await page.setViewportSize({ width: 1360, height: 900 });
  });

  it('opens a model file from the keyboard', async () => {
    // Listen first: Playwright turns on file-chooser interception when asked, and a chooser opened before that is lost.
    const chooser = page.waitForEvent('filechooser', { timeout: 30_000 });
    await page.waitForTimeout(200);
    await page.locator('button[data-zoo]').last().focus(); // the last model button, just before open-file
    await page.keyboard.press('Tab');
    expect(await page.evaluate(() => document.activeElement?.id)).toBe('open-file');
    await page.keyboard.press('Enter');
    await (await chooser).setFiles(tinyModel);
    await shows('#model-status', 'tiny-cond.safetensors', 30_000);
    await idle();
    expect(await page.locator('#label-buttons button.digit').count()).toBe(5);
    expect(await page.getAttribute('#label-buttons button.digit >> nth=0', 'aria-pressed')).toBe('true');
    expect(pageErrors).toEqual([]);
  });

  it('offers the zoo\'s Fashion-MNIST model beside the default one, with its class names and recommended settings', async () => {
    await page.click('button[data-zoo="fashion-mnist"]');
    await shows('#model-status', 'Fashion-MNIST model', 60_000);
    await idle();
    expect(await page.locator('#label-buttons button.digit').count()).toBe(10);
    expect(await page.getAttribute('#label-buttons button.digit >> nth=0', 'title')).toBe('T-shirt/top');
    expect(await page.getAttribute('#label-buttons button.digit >> nth=9', 'title')).toBe('Ankle boot');
    expect(await page.inputValue('#temperature')).toBe(String(FASHION_MODEL_SAMPLING.temperature));
    expect(await page.inputValue('#guidance-scale')).toBe(String(FASHION_MODEL_SAMPLING.guidance.scale));
    await page.click('#load-default');
    await shows('#model-status', 'default MNIST model', 60_000);
    await idle();
    expect(await page.getAttribute('#label-buttons button.digit >> nth=0', 'title')).toBe('0');
    expect(pageErrors).toEqual([]);
  });

  it("auto skips a software fallback WebGPU adapter when wasm is faster, and says why", async () => {
    const dist = join(packageDir, 'dist');
    const worker = readdirSync(join(dist, 'assets')).find((f) => /^worker-.*\.js$/.test(f))!;
    const patched = join(profile, worker);
    await writeFile(patched, FALLBACK_ONLY_GPU + (await readFile(join(dist, 'assets', worker), 'utf8')));
    const patchedServer = await serveFiles((path) => (path === `/assets/${worker}` ? patched : join(dist, path === '/' ? 'index.html' : path)));
    const auto = await context.newPage();
    try {
      await auto.goto(`${patchedServer.url}/index.html?backend=auto`);
      await auto.waitForFunction(() => window.tarflowPlayground?.model() !== null && document.body.dataset.state === 'idle', null, { timeout: 120_000 });
      log('auto backend chosen');
      const name = await auto.textContent('#backend-name');
      const status = (await auto.textContent('#backend-status')) ?? '';
      const reason = (await auto.textContent('#backend-reason')) ?? '';
      if (status.includes('skipped webgpu: WebGPU is unavailable')) {
        // No WebGPU adapter at all in this Chromium (not even the fallback): nothing to rank, and the page says so.
        console.warn(`[playground] no WebGPU adapter in this Chromium: ${status}`);
        expect(reason).toMatch(/is the first that works of webgpu → webgl → wasm → cpu$/);
        return;
      }
      expect(name).toBe('wasm');
      expect(reason).toMatch(/^the GPU here runs in software, so 'auto' timed a probe step: wasm /);
      expect(status).toMatch(/skipped webgpu: runs on a software fallback adapter.*; a probe step took .* ms vs .* ms on wasm/);
    } finally {
      await auto.close();
      await patchedServer.close();
    }
  });

  describe('solver auto, the default, and plans kept across visits', () => {
    let visit: Page;
    const origin = () => server.url;
    /** Opens the page (wasm, batch 2, quick planning; no solver named) and waits for the default model. */
    const open = async () => {
      await visit.goto(`${origin()}/index.html?backend=wasm&batch=2&effort=quick`);
      await visit.waitForFunction(() => window.tarflowPlayground?.model() !== null && document.body.dataset.state === 'idle', null, { timeout: 120_000 });
    };
    const loadTiny = async () => {
      await visit.setInputFiles('#model-file', tinyModel);
      await visit.waitForFunction(() => window.tarflowPlayground?.model()?.name === 'tiny-cond.safetensors' && document.body.dataset.state === 'idle', null, { timeout: 60_000 });
    };
    /** Samples, recording every progress message; returns the plan's source and the messages. */
    const sample = async () => {
      await visit.evaluate(() => {
        const seen: string[] = [];
        (window as unknown as { progressSeen: string[] }).progressSeen = seen;
        new MutationObserver(() => seen.push(document.getElementById('progress-live')!.textContent ?? '')).observe(document.getElementById('progress-live')!, {
          childList: true,
          characterData: true,
          subtree: true,
        });
      });
      await visit.click('#sample');
      await visit.waitForSelector('#plan-source', { timeout: 300_000 });
      await visit.waitForSelector('body[data-state="idle"]', { timeout: 300_000 });
      expect(await visit.locator('#run-error').isHidden()).toBe(true);
      return {
        source: await visit.getAttribute('#plan-source', 'data-source'),
        messages: await visit.evaluate(() => (window as unknown as { progressSeen: string[] }).progressSeen),
      };
    };
    const keptKeys = () => visit.evaluate(() => Object.keys(localStorage).filter((k) => k.startsWith('tarflow.plan.')).sort());

    beforeAll(async () => {
      visit = await context.newPage();
      visit.on('pageerror', (e) => pageErrors.push(e.message));
      await visit.goto(`${origin()}/index.html?backend=cpu`);
      await visit.evaluate(() => localStorage.clear());
      await open();
    });
    afterAll(async () => {
      await visit?.close();
    });

    it('defaults to auto (time objective) and samples the default model with its shipped wasm plan, without planning', async () => {
      expect(await visit.inputValue('#solver')).toBe('auto');
      expect(await visit.inputValue('#objective')).toBe('time');
      expect(await visit.textContent('#backend-name')).toBe('wasm');
      await visit.fill('#batch', '16'); // the shipped plans are for batches of 16 or more
      const { source, messages } = await sample();
      log('sampled the default model with auto');
      expect(source).toBe('shipped');
      expect(await visit.textContent('#samples-caption')).toContain(`guidance ${DEFAULT_MODEL_SAMPLING.guidance.scale} on both · temperature ${DEFAULT_MODEL_SAMPLING.temperature}`);
      // (with its accepted tolerance where it has one: a plan the confirmation turned sequential has none)
      expect(await visit.textContent('#plan')).toMatch(/time plan( \(tolerance [^)]+\))?, shipped in the model file: /);
      expect(messages.filter((m) => m.startsWith('planning'))).toEqual([]);
      expect(await keptKeys()).toEqual([]); // a shipped plan is not copied into the store
      await visit.fill('#batch', '2');
    });

    it('plans for a model without shipped plans on the first visit, keeps the plan, and reuses it after a reload', async () => {
      await loadTiny();
      const first = await sample();
      log('planned the tiny model');
      expect(first.source).toBe('planned');
      expect(first.messages.some((m) => m.startsWith('planning'))).toBe(true);
      const kept = await keptKeys();
      expect(kept.some((k) => k.startsWith('tarflow.plan.plans-'))).toBe(true);
      // An entry that is not JSON: removed on the next visit, with a note.
      await visit.evaluate(() => localStorage.setItem('tarflow.plan.plans-00000000', '{"version": 8, "pla'));

      await open();
      await visit.locator('#plan-store-note').waitFor({ state: 'attached' });
      expect(await visit.textContent('#plan-store-note')).toContain('the kept plan entry plans-00000000 was not readable and was removed');
      expect(await keptKeys()).toEqual(kept);
      await loadTiny();
      const second = await sample();
      log('reused the kept plan after a reload');
      expect(second.source).toBe('kept');
      expect(second.messages.filter((m) => m.startsWith('planning'))).toEqual([]);
      expect(await visit.textContent('#plan')).toContain('kept in this browser from an earlier run');
      expect(await keptKeys()).toEqual(kept);
      expect(pageErrors).toEqual([]);
    });
  });
});
