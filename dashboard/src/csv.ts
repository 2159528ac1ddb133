/**
 * CSV downloads (RFC 4180: comma, CRLF, quoted where needed; an undefined
 * value is an empty field).
 */
export type CsvValue = number | string | boolean | null | undefined;

export function csvField(v: CsvValue): string {
  if (v === null || v === undefined) return '';
  if (typeof v === 'number') return Number.isFinite(v) ? String(v) : '';
  const s = String(v);
  return /[",\r\n]/.test(s) ? `"${s.replace(/"/g, '""')}"` : s;
}

export function csv(header: string[], rows: Iterable<CsvValue[]>): string {
  const lines = [header.map(csvField).join(',')];
  for (const r of rows) lines.push(r.map(csvField).join(','));
  return lines.join('\r\n') + '\r\n';
}

/** The object table as shown: `seq,t,id,<feature columns>` (the columns of `subscribe --format csv`). */
export function objectTableCsv(seq: number | null, tMs: number | null, columns: string[], rows: (number | null)[][]): string {
  return csv(['seq', 't', ...columns], (function* () {
    for (const r of rows) yield [seq, tMs, ...r];
  })());
}

export const DRIFT_COLUMNS = ['seq', 't', 'dx', 'dy', 'peak', 'quality', 'ok', 'truth_dx', 'truth_dy', 'error_dx', 'error_dy', 'lc_median', 'lc_p10'] as const;
