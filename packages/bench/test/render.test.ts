/** The `tarflow bench` report from a hand-made result: its lines, the kept section, the JSON. */
import { describe, expect, it } from 'vitest';
import { KEPT_MARKER, keepMarkedSection, renderReport, reportJson, type BackendResult, type BenchReport } from '../src/index.js';

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
    expect(lines[at + 6]).toBe(
      "planner, objective time beats the sequential loop's 120 ms in wall time (1.02×). " +
        "Here one plain-Jacobi pass costs 10.0 sequential steps (a block's sequential loop is 15 steps), so a strategy wins wall time only when it cuts the depth by more than that factor. " +
        "The largest depth reduction is Jacobi (tol 1e-4)'s 5.0× (depth 12); check its mean and max |Δ| before taking the speed. " +
        "The planner's `time` objective, which times this backend, chose `sequential` (so its row differs from the first only by timing noise). " +
        'Planning took 1.50 s (objective time).',
    );
  });

  it('tabulates the scaling runs with their trends', () => {
    expect(lines).toContain('| 2 | jacobi | 100 ms | 12 / 60 | 0.50× | 5.0× | 10.0 | 1.20e-3 |');
    expect(lines).toContain('| 16 | jacobi | 20.0 ms | 8 / 60 | 2.00× | 7.5× | 3.8 | 0.250 |');
    expect(md).toContain('Wall-time speed-up over the sequential loop by batch: jacobi 0.50× at 2. One pass costs, in sequential steps: jacobi 10.0 at 2. ');
    expect(md).toContain('Wall-time speed-up by T: jacobi 2.00× at 16. One pass costs, in sequential steps: jacobi 3.8 at 16 — growing with T');
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
