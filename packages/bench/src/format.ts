/** Numbers and tables in the benchmark reports. */

/** Milliseconds as `12.3 ms`, `456 ms`, `1.23 s` or `12.3 s`. */
export function ms(x: number): string {
  if (x >= 10_000) return `${(x / 1000).toFixed(1)} s`;
  if (x >= 1000) return `${(x / 1000).toFixed(2)} s`;
  return `${x.toFixed(x >= 100 ? 0 : 1)} ms`;
}

/** Three significant digits, in exponent form outside [1e-2, 1e4); `–` for none. */
export function sci(x: number | undefined, digits = 2): string {
  if (x === undefined || Number.isNaN(x)) return '–';
  if (x === 0) return '0';
  return Math.abs(x) >= 1e-2 && Math.abs(x) < 1e4 ? x.toPrecision(digits + 1) : x.toExponential(digits);
}

export function mib(bytes: number): string {
  return `${(bytes / 2 ** 20).toFixed(0)} MiB`;
}

/** A markdown table; columns whose `align` is 'r' are right-aligned. */
export function markdownTable(headers: string[], rows: string[][], align: Array<'l' | 'r'> = []): string {
  const sep = headers.map((_, c) => (align[c] === 'r' ? '---:' : '---'));
  return [headers, sep, ...rows].map((r) => `| ${r.join(' | ')} |`).join('\n');
}
