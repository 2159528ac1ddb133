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
