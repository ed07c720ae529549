/**
 * Text formatting of command output: aligned tables, numbers and solve
 * reports (strategies print through @tarflow/solvers' formatStrategy and
 * describeBlockStrategy).
 */
import { describeBlockStrategy, formatStrategy, type SolveReport, type UnconvergedModule } from '@tarflow/solvers';

/** A plain-text table; columns whose `align` is 'r' are right-aligned. */
export function table(headers: string[], rows: string[][], align: Array<'l' | 'r'> = []): string {
  const widths = headers.map((h, c) => Math.max(h.length, ...rows.map((r) => (r[c] ?? '').length)));
  const line = (cells: string[]) =>
    cells
      .map((cell, c) => (align[c] === 'r' ? cell.padStart(widths[c]) : cell.padEnd(widths[c])))
      .join('  ')
      .trimEnd();
  return [line(headers), line(widths.map((w) => '-'.repeat(w))), ...rows.map(line)].join('\n');
}

import { ms, sci } from '@tarflow/bench';

export { ms, sci };

/** The per-block table and totals of a solve report. */
export function formatReport(report: SolveReport, numBlocks: number): string {
  const rows = report.blocks.map((b, k) => [
    String(k),
    String(numBlocks - 1 - k),
    describeBlockStrategy(b.strategy),
    b.strategy.kind === 'sequential' ? '–' : b.modules.map((m) => m.iterations).join('/'),
    String(b.depth),
    String(b.fallbacks),
    ms(b.wallMs),
  ]);
  const speedup = report.depth > 0 ? report.sequentialDepth / report.depth : Infinity;
  const warnings = unconvergedWarnings(report);
  return [
    table(['block', 'fwd', 'strategy', 'iterations', 'depth', 'fallbacks', 'time'], rows, ['r', 'r', 'l', 'l', 'r', 'r', 'r']),
    report.joint ? `strategy ${report.strategy}: the blocks iterate together; depth counts joint iterations` : `strategy ${formatStrategy(report.blocks.map((b) => b.strategy), { compact: true })}`,
    `depth ${report.depth} of ${report.sequentialDepth} sequential (${speedup.toFixed(2)}× fewer dependent steps), ` +
      `${report.fallbacks} fallback${report.fallbacks === 1 ? '' : 's'}, ${ms(report.wallMs)}`,
    ...warnings,
  ].join('\n');
}

/**
 * One warning line per block with modules that stopped at their iteration
 * budget above their tolerance (report.unconverged): those samples are not
 * the exact inverse.
 */
export function unconvergedWarnings(report: SolveReport): string[] {
  const byBlock = new Map<number, UnconvergedModule[]>();
  for (const u of report.unconverged ?? []) byBlock.set(u.block, [...(byBlock.get(u.block) ?? []), u]);
  return [...byBlock].map(([block, mods]) => {
    const worst = mods.reduce((a, b) => (b.residual > a.residual ? b : a));
    const what = report.joint
      ? `the joint solve stopped at its budget of ${worst.iterations} iterations`
      : mods.length === 1 && report.blocks[block]?.modules.length === 1
        ? `stopped at its budget of ${worst.iterations} iterations`
        : `${mods.length} module${mods.length === 1 ? '' : 's'} (positions ${mods.map((m) => `${m.start}…${m.end}`).join(', ')}) stopped at their iteration budget`;
    return `warning: block ${block}: ${what} with residual ${sci(worst.residual)} above its tolerance ${sci(worst.tolerance)}; its samples are not exact (more iterations, or sequential, fix that)`;
  });
}
