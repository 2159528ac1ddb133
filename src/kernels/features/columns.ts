/**
 * Per-object feature values: one Float64Array column per feature name
 * (CellProfiler's names, DESIGN.md), indexed like the ObjectIndex (object k
 * has label ids[k]). NaN marks a value that is undefined for that object
 * (a Pearson r of a one-pixel object, a ratio with a zero denominator); the
 * record writes it as null. Columns are allocated once per segmentation and
 * overwritten every frame.
 */
export type FeatureColumns = Record<string, Float64Array>;

export function allocColumns(names: readonly string[], count: number): FeatureColumns {
  const out: FeatureColumns = {};
  for (const n of names) out[n] = new Float64Array(count);
  return out;
}

/** JSON-ready copy of one column: NaN and ±Infinity become null. */
export function columnToJson(col: Float64Array): (number | null)[] {
  const out: (number | null)[] = new Array(col.length);
  for (let i = 0; i < col.length; i++) out[i] = Number.isFinite(col[i]) ? col[i] : null;
  return out;
}
