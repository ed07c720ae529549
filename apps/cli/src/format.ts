/**
 * Text formatting of command output: aligned tables, numbers, strategies and
 * solve reports.
 */
import { compactStrategy, type BlockStrategy, type SolveReport } from '@tarflow/solvers';

export { compactStrategy };

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

/** A markdown table (for bench). */
export function markdownTable(headers: string[], rows: string[][], align: Array<'l' | 'r'> = []): string {
  const sep = headers.map((_, c) => (align[c] === 'r' ? '---:' : '---'));
  return [headers, sep, ...rows].map((r) => `| ${r.join(' | ')} |`).join('\n');
}

export function ms(x: number): string {
  if (x >= 10_000) return `${(x / 1000).toFixed(1)} s`;
  if (x >= 1000) return `${(x / 1000).toFixed(2)} s`;
  return `${x.toFixed(x >= 100 ? 0 : 1)} ms`;
}

export function sci(x: number | undefined, digits = 2): string {
  if (x === undefined || Number.isNaN(x)) return '–';
  if (x === 0) return '0';
  return Math.abs(x) >= 1e-2 && Math.abs(x) < 1e4 ? x.toPrecision(digits + 1) : x.toExponential(digits);
}

export function mib(bytes: number): string {
  return `${(bytes / 2 ** 20).toFixed(0)} MiB`;
}

/** One block's strategy in words: `sequential`, `jacobi ≤12 tol 1e-4`, `gs-jacobi G=4 ≤8/module`. */
export function describeBlockStrategy(s: BlockStrategy): string {
  if (s.kind === 'sequential') return 'sequential';
  const parts = [s.modules === 1 ? `jacobi ≤${s.maxIterations}` : `gs-jacobi G=${s.modules} ≤${s.maxIterations}/module`];
  if (s.tolerance !== undefined) parts.push(`tol ${sci(s.tolerance, 0)}`);
  if (s.guess === 'zeros') parts.push('zeros guess');
  return parts.join(' ');
}

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
  return [
    table(['block', 'fwd', 'strategy', 'iterations', 'depth', 'fallbacks', 'time'], rows, ['r', 'r', 'l', 'l', 'r', 'r', 'r']),
    report.joint ? `strategy ${report.strategy}: the blocks iterate together; depth counts joint iterations` : `strategy ${compactStrategy(report.blocks.map((b) => b.strategy))}`,
    `depth ${report.depth} of ${report.sequentialDepth} sequential (${speedup.toFixed(2)}× fewer dependent steps), ` +
      `${report.fallbacks} fallback${report.fallbacks === 1 ? '' : 's'}, ${ms(report.wallMs)}`,
  ].join('\n');
}
