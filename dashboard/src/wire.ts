/**
 * Protocol v1 (docs/protocol.md) as the dashboard reads it: message shapes,
 * binary preview frames, the label image's runs.
 */
export const TOPICS = ['frame', 'objects', 'segmentation', 'stats', 'preview', 'heatmap', 'event'] as const;
export type Topic = (typeof TOPICS)[number];
/** The topics the server keeps in rings (resumable with `from`). */
export const BUFFERED: readonly Topic[] = ['frame', 'objects', 'segmentation', 'stats', 'heatmap', 'event'];

export interface Shift {
  dy: number | null;
  dx: number | null;
  peak: number | null;
  quality: number | null;
}

export interface FrameMsg {
  type: 'frame';
  topicSeq: number;
  seq: number;
  t: number;
  shift?: Shift;
  ok: boolean;
  latencyMs?: number;
  truth?: { dy: number; dx: number };
  localCorrelation?: { median: number | null; p10: number | null };
  error?: string;
}

export interface ColumnsMsg {
  topicSeq: number;
  seq: number;
  ids: number[];
  features: Record<string, (number | null)[]>;
}
export type ObjectsMsg = ColumnsMsg & { type: 'objects' };
export type SegmentationMsg = ColumnsMsg & { type: 'segmentation'; count: number; births?: number[]; deaths?: number[] };

export interface EventMsg {
  type: 'event';
  topicSeq: number;
  seq: number;
  t: number;
  id: number;
  amplitude: number;
}

export interface HeatmapMsg {
  type: 'heatmap';
  topicSeq: number;
  seq: number;
  block: number;
  cols: number;
  rows: number;
  r: (number | null)[];
}

export interface StatsMsg {
  type: 'stats';
  topicSeq: number;
  t: number;
  uptimeS: number;
  fpsIn: number;
  fpsOut: number;
  received: number;
  processed: number;
  dropped: number;
  queueDepth: number;
  latencyMs: { p50: number | null; p99: number | null };
  stageMs: Record<string, number | null>;
  subscribers: number;
  bytesSent: number;
  source: { state: string; reconnects: number; outageMs: number; lastError: string | null } | null;
}

export interface Meta {
  source: string;
  width: number;
  height: number;
  channels: number;
  dtype: string;
  config?: unknown;
}

export interface HelloMsg {
  type: 'hello';
  version: number;
  session: string;
  topics: string[];
  meta: Meta | null;
  buffered: Partial<Record<Topic, { first: number; last: number }>>;
}

export interface PreviewHeader {
  type: 'preview';
  topicSeq: number;
  seq: number;
  t: number;
  kind: 'registered' | 'raw';
  width: number;
  height: number;
  lo: number | null;
  hi: number | null;
}

export interface PreviewFrame {
  header: PreviewHeader;
  /** width · height bytes, a view into the message. */
  pixels: Uint8Array;
}

const decoder = new TextDecoder();

/**
 * A binary preview frame: uint32 LE header length L, L bytes of JSON header,
 * then width · height pixels. Throws on a frame that does not add up.
 */
export function parsePreview(buf: ArrayBuffer): PreviewFrame {
  if (buf.byteLength < 4) throw new Error(`preview frame of ${buf.byteLength} bytes`);
  const L = new DataView(buf).getUint32(0, true);
  if (4 + L > buf.byteLength) throw new Error(`preview header of ${L} bytes in a ${buf.byteLength}-byte frame`);
  const header = JSON.parse(decoder.decode(new Uint8Array(buf, 4, L))) as PreviewHeader;
  const { width, height } = header;
  if (!(Number.isInteger(width) && width > 0 && Number.isInteger(height) && height > 0)) {
    throw new Error(`preview size ${String(width)}×${String(height)}`);
  }
  if (buf.byteLength - 4 - L !== width * height) {
    throw new Error(`preview of ${width}×${height} with ${buf.byteLength - 4 - L} pixel bytes`);
  }
  return { header, pixels: new Uint8Array(buf, 4 + L, width * height) };
}

export interface LabelImage {
  seq: number;
  width: number;
  height: number;
  labels: Int32Array;
}

/** `/api/labels`: {seq, width, height, rle: [label, count, …]} → the label image. */
export function decodeLabels(json: { seq: number; width: number; height: number; rle: number[] }): LabelImage {
  const n = json.width * json.height;
  const labels = new Int32Array(n);
  let p = 0;
  const rle = json.rle;
  for (let i = 0; i + 1 < rle.length; i += 2) {
    const count = rle[i + 1];
    if (p + count > n) throw new Error(`label runs cover more than ${n} pixels`);
    if (rle[i] !== 0) labels.fill(rle[i], p, p + count);
    p += count;
  }
  if (p !== n) throw new Error(`label runs cover ${p} pixels, expected ${n}`);
  return { seq: json.seq, width: json.width, height: json.height, labels };
}

/**
 * The outline of every object: pixels of a label with a 4-neighbour of
 * another label (or the image edge). Returns their indices; `centres` gets
 * each label's pixel centroid (for the id text).
 */
export function outlines(img: LabelImage): { pixels: Int32Array; centres: Map<number, { x: number; y: number }> } {
  const { width: w, height: h, labels } = img;
  const out: number[] = [];
  const sums = new Map<number, { x: number; y: number; n: number }>();
  for (let y = 0; y < h; y++) {
    for (let x = 0; x < w; x++) {
      const i = y * w + x;
      const l = labels[i];
      if (l === 0) continue;
      let s = sums.get(l);
      if (s === undefined) sums.set(l, (s = { x: 0, y: 0, n: 0 }));
      s.x += x;
      s.y += y;
      s.n++;
      if (x === 0 || x === w - 1 || y === 0 || y === h - 1 || labels[i - 1] !== l || labels[i + 1] !== l || labels[i - w] !== l || labels[i + w] !== l) {
        out.push(i);
      }
    }
  }
  const centres = new Map<number, { x: number; y: number }>();
  for (const [l, s] of sums) centres.set(l, { x: s.x / s.n, y: s.y / s.n });
  return { pixels: Int32Array.from(out), centres };
}
