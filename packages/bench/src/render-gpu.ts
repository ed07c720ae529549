/**
 * The GPU benchmark's report (results.md): one table of named strategies per
 * model, the planner's rows per trained model, and the reference
 * conformance cases on the backend.
 */
import type { GpuBenchReport, PlannerBench } from './results.js';

/** Milliseconds as `12.3 ms` or `1.23 s`; `–` for none. */
function msOrDash(x: number | undefined): string {
  if (x === undefined) return '–';
  return x >= 1000 ? `${(x / 1000).toFixed(2)} s` : `${x.toFixed(1)} ms`;
}

/** One model's planner rows as a Markdown table. */
export function renderPlannerMarkdown(b: PlannerBench): string[] {
  const lines = [
    `## Planner on ${b.model} (batch ${b.batch}, guidance ${b.guidance}, temperature ${b.temperature})`,
    '',
    '| strategy | as planned | depth | median | speed-up vs sequential | mean \\|Δ\\| | max \\|Δ\\| | fallbacks | planning | predicted (depth, ms, mean \\|Δ\\| bound) |',
    '| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |',
  ];
  for (const r of b.rows) {
    const p = r.predicted ? `${r.predicted.depth}, ${msOrDash(r.predicted.ms)}, ${r.predicted.meanAbsDiffBound.toExponential(2)}` : '–';
    lines.push(
      `| ${r.name} | \`${r.strategy}\` | ${r.depth} / ${r.sequentialDepth} | ${msOrDash(r.medianMs)} | ${r.speedup === null ? '–' : `${r.speedup.toFixed(2)}×`} | ${r.meanAbsDiff.toExponential(2)} | ${r.maxAbsDiff.toExponential(2)} | ${r.fallbacks} | ${msOrDash(r.planMs)} | ${p} |`,
    );
  }
  if (b.skipped.length > 0) lines.push('', ...b.skipped.map((s) => `- not timed: ${s.name} (${s.reason})`));
  lines.push('');
  return lines;
}

function fmt(x: number | null, digits = 1): string {
  return x === null ? '–' : x.toFixed(digits);
}

/** The report as Markdown (one table per model, the planner rows, then the conformance cases). */
export function renderGpuMarkdown(r: GpuBenchReport): string {
  const lines: string[] = [];
  lines.push(`# TarFlow sampling benchmark (${r.startedAt})`, '');
  lines.push(`- status: **${r.status}**${r.reason ? ` — ${r.reason}` : ''}`);
  lines.push(`- backend: ${r.backend} — ${r.backendDetail || 'not set up'}`);
  for (const n of r.notes) lines.push(`- note: ${n}`);
  const runs = `${r.options.repeats} timed run${r.options.repeats === 1 ? '' : 's'}`;
  const reads = r.options.asyncReads ? 'model.sampleAsync' : 'model.sample (synchronous reads)';
  const engine = r.options.engine ? `; engine ${r.options.engine}` : '';
  lines.push(`- Node ${r.node}; ${runs} per strategy after one warm-up; batch ${r.options.batch}; seed ${r.options.seed}; guidance ${r.options.guidance}; ${reads}${engine}`);
  lines.push(`- total wall time ${r.wallS.toFixed(0)} s`, '');
  for (const m of r.models) {
    lines.push(`## ${m.model} (T = ${m.tokens}, ${m.blocks} blocks, channels ${m.config.channels}, batch ${m.batch}${m.engine ? `, ${m.engine} engine` : ''})`, '');
    lines.push('| strategy | as solved | depth | median ms | speed-up vs sequential | max abs diff vs sequential | fallbacks |');
    lines.push('| --- | --- | --- | --- | --- | --- | --- |');
    for (const s of m.results) {
      lines.push(
        `| ${s.name} | \`${s.strategy}\` | ${s.depth} / ${s.sequentialDepth} | ${fmt(s.medianMs)} | ${s.speedup === null ? '–' : `${s.speedup.toFixed(2)}×`} | ${s.maxAbsDiffVsSequential === null ? '–' : s.maxAbsDiffVsSequential.toExponential(2)} | ${s.fallbacks} |`,
      );
    }
    if (m.skipped.length > 0) lines.push('', ...m.skipped.map((s) => `- not timed: ${s.name} (${s.reason})`));
    lines.push('');
  }
  for (const p of r.planner) lines.push(...renderPlannerMarkdown(p));
  if (r.skippedModels.length > 0) lines.push(...r.skippedModels.map((m) => `- model ${m.model} not benchmarked: ${m.reason}`), '');
  if (r.conformance.length > 0) {
    lines.push('## Reference conformance on this backend', '');
    lines.push('| fixture | case | result | max abs error | ms |', '| --- | --- | --- | --- | --- |');
    for (const c of r.conformance) {
      lines.push(`| ${c.fixture} | ${c.case} | ${c.ok ? 'ok' : `**outside tolerance**: ${c.failure}`} | ${c.maxAbsError.toExponential(2)} | ${c.ms} |`);
    }
    lines.push('');
  }
  return lines.join('\n');
}
