/** Number formatting shared by the terminal table and the HTML report. */

/** 1234567 -> "1.23M" (k, M, G, T). */
export function siNum(n: number, digits = 2): string {
  if (n === undefined || n === null || Number.isNaN(n)) return '-';
  if (!Number.isFinite(n)) return 'inf';
  const a = Math.abs(n);
  if (a >= 1e12) return `${(n / 1e12).toFixed(digits)}T`;
  if (a >= 1e9) return `${(n / 1e9).toFixed(digits)}G`;
  if (a >= 1e6) return `${(n / 1e6).toFixed(digits)}M`;
  if (a >= 1e3) return `${(n / 1e3).toFixed(1)}k`;
  return Number.isInteger(n) ? `${n}` : n.toFixed(digits);
}

export function pct(x: number | undefined, digits = 2): string {
  return x === undefined || Number.isNaN(x) ? '-' : `${(100 * x).toFixed(digits)}%`;
}

export function ratio(x: number | undefined, digits = 2): string {
  if (x === undefined || Number.isNaN(x)) return '-';
  return Number.isFinite(x) ? `${x.toFixed(digits)}x` : 'inf';
}

/** Seconds as "12.3 s", "4m 05s" or "1h 02m". */
export function duration(s: number | undefined): string {
  if (s === undefined || Number.isNaN(s)) return '-';
  if (s < 60) return `${s.toFixed(1)} s`;
  if (s < 3600) return `${Math.floor(s / 60)}m ${String(Math.round(s % 60)).padStart(2, '0')}s`;
  return `${Math.floor(s / 3600)}h ${String(Math.floor((s % 3600) / 60)).padStart(2, '0')}m`;
}

export function bytes(n: number | undefined): string {
  if (n === undefined || Number.isNaN(n)) return '-';
  if (n >= 1 << 20) return `${(n / (1 << 20)).toFixed(2)} MiB`;
  if (n >= 1 << 10) return `${(n / (1 << 10)).toFixed(1)} KiB`;
  return `${n} B`;
}

/** Aligned text table: first column left-aligned, the others right-aligned. */
export function textTable(header: string[], rows: string[][], separatorBefore: number[] = []): string {
  const widths = header.map((h, c) => Math.max(h.length, ...rows.map((r) => (r[c] ?? '').length)));
  const fmt = (r: string[]) => r.map((v, c) => (c === 0 ? (v ?? '').padEnd(widths[c]) : (v ?? '').padStart(widths[c]))).join('  ').trimEnd();
  const rule = widths.map((w) => '-'.repeat(w)).join('  ');
  const lines = [fmt(header), rule];
  rows.forEach((r, i) => {
    if (separatorBefore.includes(i)) lines.push(rule);
    lines.push(fmt(r));
  });
  return lines.join('\n');
}
