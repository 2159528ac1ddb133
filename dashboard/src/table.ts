/**
 * The object table's rows: the latest per-object values joined with the
 * segmentation's shape features, sorting, and the filter box's language.
 */
export type Cell = number | null;

export interface TableData {
  /** Column names, "id" first. */
  columns: string[];
  /** One row per object, cells in column order (row[0] is the id). */
  rows: Cell[][];
}

/** Rows of `ids` with the columns of every message given (later messages win on a shared name). */
export function joinColumns(ids: number[], ...sources: { ids: number[]; features: Record<string, (number | null)[]> }[]): TableData {
  const columns = ['id'];
  const index = new Map<string, number>();
  for (const s of sources) for (const name of Object.keys(s.features)) if (!index.has(name)) index.set(name, columns.push(name) - 1);
  const rowOf = new Map<number, Cell[]>();
  const rows = ids.map((id) => {
    const r: Cell[] = new Array<Cell>(columns.length).fill(null);
    r[0] = id;
    rowOf.set(id, r);
    return r;
  });
  for (const s of sources) {
    for (const [name, values] of Object.entries(s.features)) {
      const c = index.get(name)!;
      for (let k = 0; k < s.ids.length; k++) {
        const r = rowOf.get(s.ids[k]);
        if (r !== undefined) r[c] = values[k] ?? null;
      }
    }
  }
  return { columns, rows };
}

/** Sorts rows by column c in place (nulls last in either direction). */
export function sortRows(rows: Cell[][], c: number, descending: boolean): Cell[][] {
  return rows.sort((a, b) => {
    const x = a[c];
    const y = b[c];
    if (x === null || Number.isNaN(x)) return y === null || Number.isNaN(y) ? 0 : 1;
    if (y === null || Number.isNaN(y)) return -1;
    return descending ? y - x : x - y;
  });
}

type Op = '<' | '<=' | '>' | '>=' | '=' | '!=';
const OPS: Record<Op, (a: number, b: number) => boolean> = {
  '<': (a, b) => a < b,
  '<=': (a, b) => a <= b,
  '>': (a, b) => a > b,
  '>=': (a, b) => a >= b,
  '=': (a, b) => a === b,
  '!=': (a, b) => a !== b,
};

/** Short names for the columns people filter most. */
const ALIASES: Record<string, string> = {
  dff: 'Trace_DeltaFOverF',
  area: 'AreaShape_Area',
  mean: 'Intensity_MeanIntensity',
  events: 'Trace_EventCount',
};

/** A column by exact name, alias, or a case-insensitive substring that matches one column only. */
export function resolveColumn(name: string, columns: string[]): number | string {
  const lower = name.toLowerCase();
  const alias = ALIASES[lower];
  if (alias !== undefined && columns.includes(alias)) return columns.indexOf(alias);
  const exact = columns.findIndex((c) => c.toLowerCase() === lower);
  if (exact >= 0) return exact;
  const hits = columns.map((c, i) => [c, i] as const).filter(([c]) => c.toLowerCase().includes(lower));
  if (hits.length === 1) return hits[0][1];
  if (hits.length === 0) return `no column matches "${name}"`;
  return `"${name}" matches ${hits.length} columns (${hits
    .slice(0, 3)
    .map(([c]) => c)
    .join(', ')}${hits.length > 3 ? ', …' : ''})`;
}

/**
 * The filter box: terms separated by spaces or commas, all of which must
 * hold. A term is `column op number` (op one of < <= > >= = !=; column by
 * name, alias — dff, area, mean, events — or unique substring), an id
 * (`12`) or an id range (`10-20`). Empty text keeps every row.
 */
export function parseFilter(text: string, columns: string[]): { ok: true; test: (row: Cell[]) => boolean } | { ok: false; error: string } {
  const tests: ((row: Cell[]) => boolean)[] = [];
  const terms = text
    .replace(/\s*(<=|>=|!=|==|<|>|=)\s*/g, '$1')
    .split(/[\s,]+/)
    .filter((t) => t !== '');
  for (const term of terms) {
    const cmp = /^([A-Za-z_][\w]*)(<=|>=|!=|==|<|>|=)(-?[\d.]+(?:e[-+]?\d+)?)$/i.exec(term);
    if (cmp) {
      const c = resolveColumn(cmp[1], columns);
      if (typeof c === 'string') return { ok: false, error: c };
      const op = (cmp[2] === '==' ? '=' : cmp[2]) as Op;
      const v = Number(cmp[3]);
      if (Number.isNaN(v)) return { ok: false, error: `"${cmp[3]}" is not a number` };
      tests.push((row) => row[c] !== null && OPS[op](row[c] as number, v));
      continue;
    }
    const range = /^(\d+)(?:-(\d+))?$/.exec(term);
    if (range) {
      const a = Number(range[1]);
      const b = range[2] === undefined ? a : Number(range[2]);
      tests.push((row) => row[0] !== null && row[0] >= a && row[0] <= b);
      continue;
    }
    return { ok: false, error: `cannot read "${term}": use e.g. area>100, dff>=0.5, 12 or 10-20` };
  }
  return { ok: true, test: (row) => tests.every((t) => t(row)) };
}
