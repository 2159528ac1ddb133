/**
 * Bounded time series: a ring of rows with a fixed number of numeric columns
 * (NaN for a missing value), and min/max decimation for plotting.
 */
export class Ring {
  private readonly cols: Float64Array[];
  private start = 0;
  private count = 0;

  constructor(
    readonly columns: number,
    readonly capacity: number,
  ) {
    if (!(Number.isInteger(capacity) && capacity > 0)) throw new RangeError(`ring capacity must be a positive integer, got ${capacity}`);
    this.cols = Array.from({ length: columns }, () => new Float64Array(capacity));
  }

  get length(): number {
    return this.count;
  }

  /** Appends a row (missing columns are NaN); the oldest row goes when full. */
  push(row: ArrayLike<number | null | undefined>): void {
    const at = (this.start + this.count) % this.capacity;
    for (let c = 0; c < this.columns; c++) {
      const v = row[c];
      this.cols[c][at] = v === null || v === undefined ? NaN : v;
    }
    if (this.count < this.capacity) this.count++;
    else this.start = (this.start + 1) % this.capacity;
  }

  /** Column c of the i-th oldest row. */
  get(c: number, i: number): number {
    return this.cols[c][(this.start + i) % this.capacity];
  }

  last(c: number): number {
    return this.count === 0 ? NaN : this.get(c, this.count - 1);
  }

  clear(): void {
    this.start = 0;
    this.count = 0;
  }
}

/** Aligned plot data: x then each series, null for gaps (what uPlot takes). */
export type PlotData = [number[], ...(number | null)[][]];

/**
 * Min/max decimation of aligned series for a plot `buckets` wide: rows
 * [from, to) of `x` and the series split into equal runs of rows; each run
 * gives two points (its first and last x), and each series takes at them its
 * minimum and maximum over the run in the order they occur, so every peak and
 * dip survives. With no more rows than 2 · buckets, the rows themselves.
 * NaN becomes null (a gap).
 */
export function decimateMinMax(
  n: number,
  x: (i: number) => number,
  series: ((i: number) => number)[],
  buckets: number,
): PlotData {
  const xs: number[] = [];
  const ys: (number | null)[][] = series.map(() => []);
  const nn = (v: number): number | null => (Number.isNaN(v) ? null : v);
  if (n <= 2 * buckets) {
    for (let i = 0; i < n; i++) {
      xs.push(x(i));
      for (let s = 0; s < series.length; s++) ys[s].push(nn(series[s](i)));
    }
    return [xs, ...ys];
  }
  for (let b = 0; b < buckets; b++) {
    const i0 = Math.floor((b * n) / buckets);
    const i1 = Math.floor(((b + 1) * n) / buckets);
    if (i1 <= i0) continue;
    xs.push(x(i0), x(i1 - 1));
    for (let s = 0; s < series.length; s++) {
      const f = series[s];
      let min = Infinity;
      let max = -Infinity;
      let iMin = -1;
      let iMax = -1;
      for (let i = i0; i < i1; i++) {
        const v = f(i);
        if (Number.isNaN(v)) continue;
        if (v < min) {
          min = v;
          iMin = i;
        }
        if (v > max) {
          max = v;
          iMax = i;
        }
      }
      if (iMin < 0) ys[s].push(null, null);
      else if (iMin <= iMax) ys[s].push(min, max);
      else ys[s].push(max, min);
    }
  }
  return [xs, ...ys];
}
