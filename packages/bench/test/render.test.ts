/** The `tarflow bench` report from a hand-made result: its lines, the kept section, the JSON. */
import { describe, expect, it } from 'vitest';
import { checkBenchReport, KEPT_MARKER, keepMarkedSection, PLANNING_HEAD, planningSummary, renderReport, replaceSection, reportJson, type BackendResult, type BenchReport, type PlanningSection } from '../src/index.js';

const MiB = 2 ** 20;
const timing = { fallbacks: 0, tfPeakBytes: 10 * MiB, maxRssBytes: 300 * MiB };

const result: BackendResult = {
  backend: 'wasm',
  backendDetail: 'wasm (SIMD, 1 thread)',
  profile: { batch: 2, repeats: 1, batches: [2], tokens: [16], fdCount: 0, memorySolvers: ['sequential', 'planner-depth'], memoryBatch: 4 },
  model: { source: 'file', hash: 'abc123', description: 'tiny', tokens: 16, blocks: 4, conditional: false, guidance: null, temperature: 1 },
  sideBySide: [
    { name: 'sequential', strategy: 'sequential', wallMs: 120, times: [120], depth: 60, sequentialDepth: 60, speedup: 1, depthReduction: 1, passCost: 1, meanAbsDiff: 0, maxAbsDiff: 0, ...timing },
    { name: 'Jacobi (tol 1e-4)', strategy: 'seq|J2', wallMs: 240, times: [240], depth: 12, sequentialDepth: 60, speedup: 0.5, depthReduction: 5, passCost: 10, meanAbsDiff: 0.0012, maxAbsDiff: 0.05, ...timing },
    { name: 'planner, objective time', strategy: 'sequential', wallMs: 118, times: [118], depth: 60, sequentialDepth: 60, speedup: 120 / 118, depthReduction: 1, passCost: 0.98, meanAbsDiff: 0, maxAbsDiff: 0, planMs: 1500, ...timing },
  ],
  shared: { toughest: { samplingIndex: 1, forwardIndex: 2, crmShare: 0.4, calibration: '2 exact samples' }, depthPlan: null, backend: 'wasm' },
  batchScaling: [
    { label: 'batch', size: 2, solver: 'sequential', wallMs: 50, depth: 60, sequentialDepth: 60, speedup: 1, depthReduction: 1, passCost: 1, meanAbsDiff: 0 },
    { label: 'batch', size: 2, solver: 'jacobi', wallMs: 100, depth: 12, sequentialDepth: 60, speedup: 0.5, depthReduction: 5, passCost: 10, meanAbsDiff: 0.0012 },
  ],
  tokenScaling: [
    { label: 'T', size: 16, solver: 'sequential', wallMs: 40, depth: 60, sequentialDepth: 60, speedup: 1, depthReduction: 1, passCost: 1, meanAbsDiff: 0 },
    { label: 'T', size: 16, solver: 'jacobi', wallMs: 20, depth: 8, sequentialDepth: 60, speedup: 2, depthReduction: 7.5, passCost: 3.75, meanAbsDiff: 0.25 },
  ],
  memory: [
    { solver: 'sequential', batch: 4, maxRssBytes: 400 * MiB, wallMs: 2500, depth: 60, ok: true },
    { solver: 'planner-depth', batch: 4, maxRssBytes: NaN, wallMs: NaN, depth: NaN, ok: false, error: 'out of memory' },
  ],
  phases: { setup: 1200, 'side by side': 11_100, 'memory check': 0.5 },
  totalMs: 12_345,
};

const report: BenchReport = {
  started: '2026-01-02T03:04:05.000Z',
  loadavg: [1.5, 1.04, 0.96],
  environment: { cpu: 'Test CPU', cores: 2, node: '20.0.0', tfjs: '4.22.0' },
  results: [result],
};

describe('renderReport', () => {
  const md = renderReport(report);
  const lines = md.split('\n');

  it('writes the header, then how to read it, one section per backend and how to reproduce it', () => {
    expect(lines[0]).toBe('# Benchmarks');
    expect(lines[2]).toBe(
      'Written by `pnpm bench` (`tarflow bench`) on 2026-01-02 03:04 UTC: Test CPU, 2 cores, Node 20.0.0, tfjs 4.22.0. ' +
        'Load average at the start 1.5 / 1.0 / 1.0 — the machine is shared, so wall times carry noise; depth does not.',
    );
    const headings = lines.filter((l) => l.startsWith('#'));
    expect(headings).toEqual([
      '# Benchmarks',
      '## How to read this',
      '## Backend `wasm`',
      '### Speed-up against batch size (same model)',
      '### Speed-up against sequence length (random models)',
      '### Memory: a batch of 4 from the model',
      '## Reproduce',
    ]);
    expect(md.endsWith('```\n')).toBe(true);
  });

  it('describes the model, the toughest block and the phases', () => {
    expect(lines).toContain(
      'Model: tiny (file hash abc123). Batch 2; wall time is the median of 1 run, after a warm-up run. ' +
        'The toughest block (largest CRM on 2 exact samples) is sampling index 1 (forward 2, 40% of the summed CRM). ' +
        "This backend's measurements took 12.3 s (setup 1.20 s, side by side 11.1 s).",
    );
  });

  it('puts the strategies side by side, escaping | in notations', () => {
    const at = lines.indexOf('| strategy | notation | wall (median) | depth | speed-up (wall) | depth reduction | pass cost (steps) | mean \\|Δ\\| vs seq | max \\|Δ\\| | fallbacks | tfjs peak | RSS high-water |');
    expect(at).toBeGreaterThan(0);
    expect(lines.slice(at + 1, at + 5)).toEqual([
      '| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |',
      '| sequential | `sequential` | 120 ms | 60 / 60 | 1.00× | 1.0× | 1.0 | 0 | 0 | 0 | 10 MiB | 300 MiB |',
      '| Jacobi (tol 1e-4) | `seq\\|J2` | 240 ms | 12 / 60 | 0.50× | 5.0× | 10.0 | 1.20e-3 | 0.0500 | 0 | 10 MiB | 300 MiB |',
      '| planner, objective time | `sequential` | 118 ms | 60 / 60 | 1.02× | 1.0× | 1.0 | 0 | 0 | 0 | 10 MiB | 300 MiB |',
    ]);
    // The time plan chose the sequential sampler: its 1.02× is timing noise, not an iterative strategy winning.
    expect(lines[at + 6]).toBe(
      "No iterative strategy beats the sequential loop's 120 ms in wall time on `wasm` (the closest is Jacobi (tol 1e-4) at 0.50×), " +
        'although Jacobi (tol 1e-4) cuts the depth 5.0× (12 instead of 60 dependent evaluations) — the reduction a GPU turns into speed. ' +
        "Here one plain-Jacobi pass costs 10.0 sequential steps (a block's sequential loop is 15 steps), so a strategy wins wall time only when it cuts the depth by more than that factor. " +
        "The planner's `time` objective, which times this backend, chose `sequential` (so its row differs from the first only by timing noise). " +
        'Planning took 1.50 s (objective time).',
    );
  });

  it('names an iterative strategy that beats the sequential loop', () => {
    const fast = { ...result.sideBySide[2], strategy: 'seq|J2', wallMs: 60, speedup: 2, depth: 30, depthReduction: 2, passCost: 1 };
    const md2 = renderReport({ ...report, results: [{ ...result, sideBySide: [result.sideBySide[0], result.sideBySide[1], fast] }] });
    expect(md2).toContain("planner, objective time beats the sequential loop's 120 ms in wall time (2.00×). ");
    expect(md2).toContain("The largest depth reduction is Jacobi (tol 1e-4)'s 5.0× (depth 12); check its mean and max |Δ| before taking the speed.");
  });

  it('tabulates the scaling runs with their trends', () => {
    expect(lines).toContain('| 2 | jacobi | 100 ms | 12 / 60 | 0.50× | 5.0× | 10.0 | 1.20e-3 |');
    expect(lines).toContain('| 16 | jacobi | 20.0 ms | 8 / 60 | 2.00× | 7.5× | 3.8 | 0.250 |');
    expect(md).toContain('Wall-time speed-up over the sequential loop by batch: jacobi 0.50× at 2. One pass costs, in sequential steps: jacobi 10.0 at 2. ');
    expect(md).toContain('Wall-time speed-up by T: jacobi 2.00× at 16. One pass costs, in sequential steps: jacobi 3.8 at 16 — growing with T');
  });

  it('says where the depth plan ran below the batch it was made for, and nothing where it did not', () => {
    const plan = { strategy: { kind: 'joint' as const, maxIterations: 60, tolerance: 1, guess: 'table' as const }, planMs: 10 };
    const depthRow = { ...result.sideBySide[1], name: 'planner, objective depth', strategy: 'joint:60 (tol 1, table guess)', depth: 9, meanAbsDiff: 0.004 };
    const scaled = (size: number, depth: number, meanAbsDiff: number) => ({ label: 'batch', size, solver: 'planner (depth)', wallMs: 90, depth, sequentialDepth: 60, speedup: 0.5, depthReduction: 60 / depth, passCost: 5, meanAbsDiff });
    const withPlan = (batch: number | undefined): string =>
      renderReport({
        ...report,
        results: [{
          ...result,
          sideBySide: [...result.sideBySide, depthRow],
          shared: { ...result.shared, depthPlan: { ...plan, ...(batch !== undefined ? { batch } : {}) } },
          batchScaling: [...result.batchScaling, scaled(1, 7, 0.018), scaled(2, 9, 0.004), scaled(8, 12, 0.002)],
        }],
      });
    expect(withPlan(8)).toContain(
      "The depth plan was made for batches of 8 or more; below that it judges fewer samples' residuals and stops sooner (batch 2: depth 9, mean |Δ| 4.00e-3; batch 1: depth 7, mean |Δ| 0.0180), which is why `tarflow sample --solver auto` plans again for a batch smaller than a kept plan's.",
    );
    expect(withPlan(1)).not.toContain('The depth plan was made for batches');
    expect(withPlan(undefined)).not.toContain('The depth plan was made for batches');
  });

  it('lists the memory check, with a failed row', () => {
    expect(lines).toContain('| sequential | 4 | 400 MiB | yes | 2.50 s | 60 |');
    expect(lines).toContain('| planner-depth | 4 | failed: out of memory | NO | – | – |');
  });

  it('says which parts did not run', () => {
    const bare = renderReport({ ...report, results: [{ ...result, backend: 'cpu', batchScaling: [], memory: [] }] });
    expect(bare).toContain('Not run on `cpu` (time budget); see the wasm section (`--batches 1,2,4` runs it here).');
    expect(bare).toContain('Not run on `cpu`: a batch of 4 takes minutes on this backend; see the wasm section (`--memory-solvers sequential` runs it here).');
  });

  it('describes the machine at hand when the report does not', () => {
    const { environment: _, ...old } = report;
    const md2 = renderReport(old, { cpu: 'Other CPU', cores: 8, node: '22.1.0', tfjs: '4.22.0' });
    expect(md2.split('\n')[2]).toMatch(/^Written by .* UTC: Other CPU, 8 cores, Node 22\.1\.0, tfjs 4\.22\.0\./);
  });
});

describe('keepMarkedSection', () => {
  it('keeps everything from the marker on in the report it replaces, and only that', () => {
    const fresh = '# Benchmarks\n\nnew\n';
    expect(keepMarkedSection(fresh, null)).toBe(fresh);
    expect(keepMarkedSection(fresh, '# Benchmarks\n\nold\n')).toBe(fresh);
    expect(keepMarkedSection(fresh, `# Benchmarks\n\nold\n\n${KEPT_MARKER}\n\n## GPU\n\nfigures\n`)).toBe(`# Benchmarks\n\nnew\n\n${KEPT_MARKER}\n\n## GPU\n\nfigures\n`);
  });
});

describe('reportJson', () => {
  it("summarises a joint plan's guess table and keeps everything else", () => {
    const table = { rows: 2, tokens: 3, dim: 4, data: Array.from({ length: 24 }, (_, i) => i) };
    const withPlan: BenchReport = {
      ...report,
      results: [{ ...result, shared: { ...result.shared, depthPlan: { strategy: { kind: 'joint', maxIterations: 19, tolerance: 1, guess: 'table' }, guessTable: table, planMs: 10 } } }],
    };
    const back = JSON.parse(reportJson(withPlan));
    expect(back.results[0].shared.depthPlan).toEqual({ strategy: { kind: 'joint', maxIterations: 19, tolerance: 1, guess: 'table' }, guessTable: { rows: 2, tokens: 3, dim: 4, values: 'omitted' }, planMs: 10 });
    expect(back.results[0].sideBySide).toEqual(JSON.parse(JSON.stringify(result.sideBySide)));
    expect(back.started).toBe(report.started);
  });
});

describe('replaceSection', () => {
  const md = '# Benchmarks\n\n## A\n\na\n\n## B\n\nold b\n\n## Reproduce\n\nhow\n';
  it('replaces the section up to the next heading', () => {
    expect(replaceSection(md, '## B', '## B\n\nnew b\n')).toBe('# Benchmarks\n\n## A\n\na\n\n## B\n\nnew b\n\n## Reproduce\n\nhow\n');
  });
  it('puts a new section before "## Reproduce", else at the end', () => {
    expect(replaceSection(md, '## C', '## C\n\nc')).toBe('# Benchmarks\n\n## A\n\na\n\n## B\n\nold b\n\n## C\n\nc\n\n## Reproduce\n\nhow\n');
    expect(replaceSection('# Benchmarks\n', '## C', '## C\n\nc')).toBe('# Benchmarks\n\n## C\n\nc\n');
  });
});

describe('the planning section', () => {
  const run = (wallS: number, strategy: string, source: string | undefined, extra: Record<string, number | number[]> = {}) => ({ wallS, strategy, source, ...extra });
  const planning: PlanningSection = {
    measured: '2026-01-02T05:06:07.000Z',
    cores: 2,
    rows: [
      {
        backend: 'wasm',
        batch: 1,
        sequential: run(1.0, 'sequential', undefined, { runsS: [1.0, 1.1, 0.9] }),
        empty: run(1.25, 'sequential', 'planned', { planningMs: 20, meanAbsDiff: 0 }),
        shipped: run(1.0, 'sequential', 'planned', { planningMs: 40, meanAbsDiff: 0 }),
        load: 1.2,
      },
      {
        backend: 'wasm',
        batch: 16,
        sequential: run(2.0, 'sequential', undefined, { runsS: [2.0, 2.2, 2.0] }),
        empty: run(2.0, 'sequential', 'planned', { planningMs: 50, meanAbsDiff: 0 }),
        shipped: run(2.5, 'sequential', 'shipped', { meanAbsDiff: 0 }),
        load: 1.8,
      },
    ],
  };

  it('sits before "## Reproduce" with its table and what the table says', () => {
    const md = renderReport({ ...report, planning });
    const headings = md.split('\n').filter((l) => l.startsWith('## '));
    expect(headings.slice(-2)).toEqual([PLANNING_HEAD, '## Reproduce']);
    expect(md).toContain('Measured 2026-01-02 05:06 UTC. Each cell is the median of 3 `tarflow sample --seed 0 --batch B`');
    expect(md).toContain('Load average (1 min) at the start of each row: 1.2–1.8, on 2 cores.');
    expect(md).toContain('| wasm | 1 | 1.0 | 1.3 | 0.80 | 0.0e+0 | sequential (planned, 0.02 s planning) | 1.0 | 1.00 | 0.0e+0 | sequential (planned, 0.04 s planning) |');
    expect(md).toContain('| wasm | 16 | 2.0 | 2.0 | 1.00 | 0.0e+0 | sequential (planned, 0.05 s planning) | 2.5 | 0.80 | 0.0e+0 | sequential (shipped) |');
    expect(md).toContain('Regenerate with `node apps/cli/bin/tarflow.js bench --planning-only --out docs/benchmarks.md`');
    expect(renderReport(report)).not.toContain(PLANNING_HEAD);
  });

  it('says what auto ran, where its plans came from, the ratios and the scatter', () => {
    expect(planningSummary(planning.rows)).toBe(
      'In every cell auto ran `sequential` (where its plan came from: planned in 3, shipped in 1 of the 4 auto cells). ' +
        'Where it planned, planning took 0.02–0.05 s of the process. ' +
        'Sequential s ÷ auto s: 0.80–1.00 with an empty cache, 0.80–1.00 with the shipped plans. ' +
        'Every mean |Δ| is 0: auto drew exactly the sequential samples. ' +
        'For the noise in these ratios: the sequential processes of one cell, the same work each time, spread by up to 20% of their median, ' +
        'so where auto ran the sequential sampler its × differs from 1 by that scatter alone.',
    );
  });

  it('names each strategy auto ran where they differ', () => {
    const rows = [{ ...planning.rows[1], shipped: run(1.0, 'J48 J48 J48 J48', 'shipped', { meanAbsDiff: 0.002 }) }];
    expect(planningSummary(rows)).toBe(
      'Auto ran `sequential` in 1 of 2 cells (wasm 16, empty cache). Auto ran `J48 J48 J48 J48` in 1 of 2 cells (wasm 16, shipped plan). ' +
        'Where it planned, planning took 0.05 s of the process. Sequential s ÷ auto s: 1.00 with an empty cache, 2.00 with the shipped plans. ' +
        '1 of 2 auto cells drew exactly the sequential samples (mean |Δ| 0). ' +
        'For the noise in these ratios: the sequential processes of one cell, the same work each time, spread by up to 10% of their median.',
    );
  });

  it('travels in the saved report and is checked when read back', () => {
    const back = checkBenchReport(JSON.parse(reportJson({ ...report, planning })));
    expect(back.planning).toEqual(planning);
    const broken = JSON.parse(reportJson({ ...report, planning }));
    delete broken.planning.rows[1].shipped.wallS;
    expect(() => checkBenchReport(broken)).toThrow('planning.rows[1].shipped.wallS is missing');
  });
});
