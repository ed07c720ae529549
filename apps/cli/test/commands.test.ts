/**
 * The other commands end to end: help, PNG outputs and the trace, plan, train,
 * bench, --json and the progress bar, and the root `pnpm tarflow` script.
 */
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { execFile } from 'node:child_process';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { decodePng } from '@tarflow/data';
import { fixturesDir } from '@tarflow/test-fixtures';
import { readTensor, tarflow, tempDir } from './helpers.js';
import { KEPT_MARKER } from '../src/commands/bench.js';

const UNCOND = join(fixturesDir(), 'tiny-uncond.safetensors');
const COND = join(fixturesDir(), 'tiny-cond.safetensors');

let tmp: ReturnType<typeof tempDir>;
beforeAll(() => {
  tmp = tempDir();
});
afterAll(() => tmp.cleanup());

describe.concurrent('help', () => {
  it.each(['sample', 'merge', 'metrics', 'plan', 'train', 'convert', 'bench'])('%s --help', async (cmd) => {
    const r = await tarflow([cmd, '--help']);
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(new RegExp(`^Usage: tarflow ${cmd}`));
    expect(r.stdout).toMatch(/--json/);
  });

  it('the program lists every command', async () => {
    const r = await tarflow(['--help']);
    expect(r.code).toBe(0);
    for (const cmd of ['sample', 'merge', 'metrics', 'plan', 'train', 'convert', 'bench']) expect(r.stdout).toContain(cmd);
  });
});

describe('sample', () => {
  it('writes a PNG grid and a trace (rows: samples, columns: noise and each block)', async () => {
    const out = join(tmp.dir, 'grid.png');
    const trace = join(tmp.dir, 'trace.png');
    const r = await tarflow(['sample', '--checkpoint', COND, '--batch', '6', '--labels', '0,1,2', '--solver', 'gs-jacobi', '--modules', '2', '--out', out, '--trace', trace]);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toMatch(/depth \d+ of 140 sequential/);
    const grid = decodePng(new Uint8Array(readFileSync(out)));
    // 3 labels cycled → 3 images per row, 2 rows of 12-pixel images with 2-pixel padding.
    expect([grid.width, grid.height]).toEqual([3 * 14 + 2, 2 * 14 + 2]);
    const t = decodePng(new Uint8Array(readFileSync(trace)));
    expect([t.width, t.height]).toEqual([5 * 14 + 2, 6 * 14 + 2]);
  });

  it('--json keeps stdout machine-readable while --progress draws on stderr', async () => {
    const r = await tarflow(['sample', '--checkpoint', UNCOND, '--batch', '2', '--solver', 'jacobi', '--json', '--progress']);
    expect(r.code, r.stderr).toBe(0);
    const j = JSON.parse(r.stdout);
    expect(j.report.blocks).toHaveLength(4);
    expect(j.report.depth).toBeLessThanOrEqual(60);
    expect(j.memory.maxRssBytes).toBeGreaterThan(0);
    expect(r.stderr).toMatch(/sample \[.*\] 4\/4/);
  });

  it('--engine picks how block maps are evaluated and the report says which ran', async () => {
    const run = (engine: string) => tarflow(['sample', '--checkpoint', UNCOND, '--batch', '2', '--engine', engine, '--json']);
    const [plain, fused, bad] = await Promise.all([run('plain'), run('fused'), run('fast')]);
    expect(plain.code, plain.stderr).toBe(0);
    expect(fused.code, fused.stderr).toBe(0);
    expect(JSON.parse(plain.stdout).engine).toEqual({ name: 'plain' });
    expect(JSON.parse(fused.stdout).engine).toEqual({ name: 'fused' });
    expect(bad.code).not.toBe(0);
    expect(bad.stderr).toMatch(/--engine.*fast.*(auto|fused|plain)/s);
  });

  it('is reproducible from the seed, and --seed changes the draw', async () => {
    const run = (seed: string, name: string) => tarflow(['sample', '--checkpoint', UNCOND, '--batch', '2', '--seed', seed, '--out', join(tmp.dir, name)]);
    const results = await Promise.all([run('5', 'a.safetensors'), run('5', 'b.safetensors'), run('6', 'c.safetensors')]);
    for (const r of results) expect(r.code, r.stderr).toBe(0);
    const bytes = (n: string) => readFileSync(join(tmp.dir, n));
    expect(bytes('a.safetensors').equals(bytes('b.safetensors'))).toBe(true);
    expect(bytes('a.safetensors').equals(bytes('c.safetensors'))).toBe(false);
  });

  it('--temperature scales the noise: it is recorded, it changes the samples, and 0 is refused', async () => {
    const run = (t: string[], name: string) =>
      tarflow(['sample', '--checkpoint', COND, '--batch', '3', '--labels', '0,1,2', ...t, '--out', join(tmp.dir, name), '--json']);
    const [cool, warm, bad] = await Promise.all([run(['--temperature', '0.5'], 't05.safetensors'), run([], 't1.safetensors'), run(['--temperature', '0'], 't0.safetensors')]);
    expect(cool.code, cool.stderr).toBe(0);
    expect(warm.code, warm.stderr).toBe(0);
    expect(JSON.parse(cool.stdout).settings.temperature).toBe(0.5);
    expect(JSON.parse(warm.stdout).settings.temperature).toBe(1);
    const a = readTensor(join(tmp.dir, 't05.safetensors'), 'sample');
    const b = readTensor(join(tmp.dir, 't1.safetensors'), 'sample');
    expect(a.shape).toEqual(b.shape);
    expect(a.data.some((v, i) => Math.abs(v - b.data[i]) > 1e-3)).toBe(true);
    expect(JSON.parse(a.metadata.run).temperature).toBe(0.5);
    expect(bad.code).not.toBe(0);
    expect(bad.stderr).toMatch(/--temperature/);
    expect(existsSync(join(tmp.dir, 't0.safetensors'))).toBe(false);
  });
});

describe('sample --solver joint', () => {
  it('solves all blocks at once with a calibrated guess; depth counts joint iterations', async () => {
    const r = await tarflow(['sample', '--checkpoint', COND, '--batch', '3', '--solver', 'joint', '--iterations', '6', '--guess', 'table', '--tolerance', '0', '--json']);
    expect(r.code, r.stderr).toBe(0);
    const report = JSON.parse(r.stdout).report;
    expect(report.strategy).toBe('joint:6 (tol 0, table guess)');
    expect(report.depth).toBe(6);
    expect(report.joint.iterations).toBe(6);
    const human = await tarflow(['sample', '--checkpoint', COND, '--batch', '2', '--strategy', 'joint:4']);
    expect(human.code, human.stderr).toBe(0);
    expect(human.stdout + human.stderr).toMatch(/strategy joint:4: the blocks iterate together; depth counts joint iterations/);
  });

  it('refuses --trace, and --guess table outside the joint solve', async () => {
    const trace = await tarflow(['sample', '--checkpoint', UNCOND, '--batch', '1', '--solver', 'joint', '--trace', join(tmp.dir, 'never.png')]);
    expect(trace.code).not.toBe(0);
    expect(trace.stderr).toMatch(/--trace: a joint strategy/);
    expect(existsSync(join(tmp.dir, 'never.png'))).toBe(false);
    const table = await tarflow(['sample', '--checkpoint', UNCOND, '--batch', '1', '--solver', 'jacobi', '--guess', 'table']);
    expect(table.code).not.toBe(0);
    expect(table.stderr).toMatch(/--guess table applies to the joint solve only/);
    const bad = await tarflow(['sample', '--checkpoint', UNCOND, '--batch', '1', '--strategy', 'joint:0']);
    expect(bad.code).not.toBe(0);
    expect(bad.stderr).toMatch(/--strategy: .*positive integer/);
  });
});

describe('plan', () => {
  it('prints a strategy that sample accepts', async () => {
    const r = await tarflow(['plan', '--checkpoint', UNCOND, '--objective', 'depth', '--batch', '2', '--json']);
    expect(r.code, r.stderr).toBe(0);
    const plan = JSON.parse(r.stdout);
    expect(plan.blocks).toHaveLength(4);
    expect(plan.predicted.depth).toBeLessThanOrEqual(plan.predicted.sequentialDepth);
    const s = await tarflow(['sample', '--checkpoint', UNCOND, '--batch', '2', '--strategy', plan.text, '--json']);
    expect(s.code, s.stderr).toBe(0);
    const report = JSON.parse(s.stdout).report;
    if (Array.isArray(plan.strategy)) {
      expect(report.blocks.map((b: { strategy: unknown }) => b.strategy)).toEqual(plan.strategy);
    } else {
      // A joint plan: its text names the bound, the tolerance and the guess; the solve stops on its residual,
      // within the bound, having settled (no unconverged block).
      expect(report.strategy).toBe(plan.text);
      expect(plan.text).toMatch(/^joint:\d+ \(tol /);
      expect(report.depth).toBeLessThanOrEqual(plan.strategy.maxIterations);
      expect(report.unconverged ?? []).toEqual([]);
    }
  });
});

describe('train', () => {
  it('trains a tiny model for two steps and the result samples', async () => {
    const outDir = join(tmp.dir, 'run');
    const r = await tarflow([
      'train', '--out-dir', outDir, '--dataset', 'mnist', '--limit', '32', '--steps', '2', '--batch', '8',
      '--patch-size', '7', '--channels', '32', '--head-dim', '16', '--num-blocks', '2', '--layers-per-block', '1',
      '--samples-per-class', '1', '--json',
    ]);
    expect(r.code, r.stderr).toBe(0);
    const j = JSON.parse(r.stdout);
    expect(j).toMatchObject({ step: 2, finished: true });
    expect(existsSync(j.model)).toBe(true);
    const s = await tarflow(['sample', '--checkpoint', j.model, '--batch', '2', '--out', join(tmp.dir, 'trained.png')]);
    expect(s.code, s.stderr).toBe(0);
  });
});

describe('bench', () => {
  it('--quick writes markdown and JSON with every column', async () => {
    const out = join(tmp.dir, 'bench.md');
    const r = await tarflow(['bench', '--checkpoint', UNCOND, '--quick', '--backends', 'wasm', '--out', out, '--json']);
    expect(r.code, r.stderr).toBe(0);
    const md = readFileSync(out, 'utf8');
    for (const col of ['wall (median)', 'depth', 'speed-up (wall)', 'mean \\|Δ\\| vs seq', 'tfjs peak', 'RSS high-water']) expect(md).toContain(col);
    for (const row of ['sequential', 'Jacobi', 'hand: GS-Jacobi', 'planner, objective depth', 'planner, objective time']) expect(md).toContain(row);
    expect(md).toContain('Speed-up against batch size');
    expect(md).toContain('Speed-up against sequence length');
    const json = JSON.parse(readFileSync(join(tmp.dir, 'bench.json'), 'utf8'));
    expect(json.results[0].memory[0].ok).toBe(true);
    // Re-rendering keeps what was recorded below the marker (GPU runs), and only that.
    writeFileSync(out, `${md}\n${KEPT_MARKER}\n\n## Recorded elsewhere\n\nGPU figures.\n`);
    const again = await tarflow(['bench', '--render', join(tmp.dir, 'bench.json'), '--out', out]);
    expect(again.code, again.stderr).toBe(0);
    const rendered = readFileSync(out, 'utf8');
    expect(rendered.split(KEPT_MARKER)).toHaveLength(2);
    expect(rendered.endsWith(`${KEPT_MARKER}\n\n## Recorded elsewhere\n\nGPU figures.\n`)).toBe(true);
    expect(rendered.split('## Reproduce')).toHaveLength(2);
  });
});

describe('root script', () => {
  it('`pnpm tarflow` takes relative paths from the caller\'s folder', async () => {
    const root = fileURLToPath(new URL('../../..', import.meta.url));
    const r = await new Promise<{ code: number; stderr: string }>((resolve) =>
      execFile('pnpm', ['--dir', root, 'tarflow', 'sample', '--checkpoint', UNCOND, '--batch', '1', '--out', 'relative.png'], { cwd: tmp.dir }, (e, _o, stderr) =>
        resolve({ code: e ? 1 : 0, stderr }),
      ),
    );
    expect(r.code, r.stderr).toBe(0);
    expect(existsSync(join(tmp.dir, 'relative.png'))).toBe(true);
  });
});
