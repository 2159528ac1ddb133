/**
 * What the dashboard knows, built from protocol messages alone (no DOM): the
 * session and per-topic cursors for resuming, the drift/quality/local
 * correlation history, the current objects with a bounded per-object
 * history, events, stats, the heatmap and previews. Every history is a ring
 * of `history` rows, so memory stays bounded however long the page stays
 * open. Panels read the `versions` counters to redraw only what changed.
 */
import { DRIFT_COLUMNS } from './csv.js';
import { Ring } from './series.js';
import {
  BUFFERED,
  TOPICS,
  type EventMsg,
  type FrameMsg,
  type HeatmapMsg,
  type HelloMsg,
  type Meta,
  type ObjectsMsg,
  type PreviewFrame,
  type SegmentationMsg,
  type StatsMsg,
  type Topic,
} from './wire.js';

export interface Settings {
  /** Rows kept in every history (frames of drift, objects messages of traces). */
  history: number;
  /** Events kept in the list. */
  eventsMax: number;
  /** The feature the traces plot follows. */
  traceFeature: string;
  /** Points in a table row's ΔF/F sparkline. */
  sparkPoints: number;
}

export const DEFAULT_SETTINGS: Settings = { history: 3000, eventsMax: 200, traceFeature: 'Trace_DeltaFOverF', sparkPoints: 120 };

export const DFF = 'Trace_DeltaFOverF';
export const MAX_SELECTED = 8;
/** Objects messages fetched again at most on a resume (each can be large). */
export const RESUME_OBJECTS_MAX = 300;

/** Drift ring columns, in DRIFT_COLUMNS order. */
export const D = Object.fromEntries(DRIFT_COLUMNS.map((c, i) => [c, i])) as Record<(typeof DRIFT_COLUMNS)[number], number>;

export interface SubscribeMsg {
  type: 'subscribe';
  topics: Topic[];
  from?: Partial<Record<Topic, number>>;
  preview?: 'registered' | 'raw';
}

/**
 * Per-object histories aligned on the objects messages: slot p of every
 * object's array belongs to the same message (NaN where the object was
 * absent). Objects unseen for a whole history are forgotten.
 */
export class ObjectHistory {
  /** Acquisition time (ms) of each objects message. */
  readonly t: Ring;
  private written = 0;
  private readonly perId = new Map<number, { dff: Float32Array; trace: Float32Array | null; lastSeen: number }>();

  constructor(readonly capacity: number) {
    this.t = new Ring(1, capacity);
  }

  get size(): number {
    return this.perId.size;
  }

  has(id: number): boolean {
    return this.perId.has(id);
  }

  push(tMs: number, ids: number[], dff: (number | null)[] | undefined, trace: (number | null)[] | undefined): void {
    const cap = this.capacity;
    const p = this.written % cap;
    const seen = this.written;
    for (let k = 0; k < ids.length; k++) {
      let h = this.perId.get(ids[k]);
      if (h === undefined) {
        h = { dff: new Float32Array(cap).fill(NaN), trace: null, lastSeen: seen };
        this.perId.set(ids[k], h);
      }
      h.lastSeen = seen;
      h.dff[p] = dff?.[k] ?? NaN;
      if (trace !== undefined) {
        h.trace ??= new Float32Array(cap).fill(NaN);
        h.trace[p] = trace[k] ?? NaN;
      }
    }
    for (const [id, h] of this.perId) {
      if (h.lastSeen !== seen) {
        if (seen - h.lastSeen >= cap) this.perId.delete(id);
        else {
          h.dff[p] = NaN;
          if (h.trace) h.trace[p] = NaN;
        }
      }
    }
    this.t.push([tMs]);
    this.written++;
  }

  /** Value i (0 = oldest kept) of an object's ΔF/F or trace feature; NaN when absent. */
  value(id: number, which: 'dff' | 'trace', i: number): number {
    const h = this.perId.get(id);
    const a = h === undefined ? null : which === 'dff' ? h.dff : h.trace;
    if (a === null) return NaN;
    const n = this.t.length;
    const p = (this.written - n + i) % this.capacity;
    return a[p];
  }

  /** The trace feature changed: its history starts again. */
  clearTrace(): void {
    for (const h of this.perId.values()) h.trace = null;
  }

  clear(): void {
    this.perId.clear();
    this.t.clear();
    this.written = 0;
  }
}

export interface Notice {
  t: number;
  text: string;
}

export class DashboardState {
  settings: Settings;
  session: string | null = null;
  meta: Meta | null = null;
  /** topicSeq of the next message expected per topic (last seen + 1). */
  next: Partial<Record<Topic, number>> = {};
  /** Messages that never arrived (topicSeq jumps), per topic. */
  lost: Partial<Record<Topic, number>> = {};
  /** Topics started afresh from the ring's recent past whose first message has not come yet. */
  private readonly freshStart = new Set<Topic>();
  previewKind: 'registered' | 'raw' = 'registered';

  drift: Ring;
  objectHistory: ObjectHistory;
  objects: ObjectsMsg | null = null;
  segmentation: SegmentationMsg | null = null;
  events: EventMsg[] = [];
  stats: StatsMsg | null = null;
  heatmap: HeatmapMsg | null = null;
  preview: PreviewFrame | null = null;
  /** Frames' acquisition times by seq (recent ones), to time objects messages. */
  private readonly tOfSeq = new Map<number, number>();
  private lastFrame: { seq: number; t: number; dt: number } | null = null;

  selected: number[] = [];
  notices: Notice[] = [];
  /** Counters: frames and previews received, template resets acknowledged. */
  counts = { frames: 0, objects: 0, previews: 0, events: 0, acks: 0 };
  /** Bumped when a panel's data changed. */
  versions = { drift: 0, objects: 0, segmentation: 0, events: 0, stats: 0, heatmap: 0, preview: 0, selection: 0, notices: 0, session: 0 };
  /** Set by a segmentation message: the label image to fetch (its seq). */
  labelsWanted: number | null = null;
  ended: { frames: number; dropped: number; error?: string } | null = null;

  constructor(settings: Partial<Settings> = {}) {
    this.settings = { ...DEFAULT_SETTINGS, ...settings };
    this.drift = new Ring(DRIFT_COLUMNS.length, this.settings.history);
    this.objectHistory = new ObjectHistory(this.settings.history);
  }

  /** Topic messages by type (after the topicSeq check). */
  private readonly topicHandlers = new Map<string, (m: unknown) => void>([
    ['frame', (m) => this.onFrame(m as FrameMsg)],
    ['objects', (m) => this.onObjects(m as ObjectsMsg)],
    ['segmentation', (m) => this.onSegmentation(m as SegmentationMsg)],
    ['event', (m) => this.onEvent(m as EventMsg)],
    [
      'stats',
      (m) => {
        this.stats = m as StatsMsg;
        this.versions.stats++;
      },
    ],
    [
      'heatmap',
      (m) => {
        this.heatmap = m as HeatmapMsg;
        this.versions.heatmap++;
      },
    ],
  ]);

  /** A new history length: histories start again (their rings are re-made). */
  setHistory(n: number): void {
    this.settings.history = n;
    this.drift = new Ring(DRIFT_COLUMNS.length, n);
    this.objectHistory = new ObjectHistory(n);
    this.versions.drift++;
    this.versions.objects++;
  }

  setTraceFeature(name: string): void {
    if (name === this.settings.traceFeature) return;
    this.settings.traceFeature = name;
    this.objectHistory.clearTrace();
    this.versions.selection++;
  }

  /** Everything learnt from a previous server process. */
  reset(): void {
    this.next = {};
    this.freshStart.clear();
    this.lost = {};
    this.drift.clear();
    this.objectHistory.clear();
    this.objects = null;
    this.segmentation = null;
    this.events = [];
    this.stats = null;
    this.heatmap = null;
    this.preview = null;
    this.tOfSeq.clear();
    this.lastFrame = null;
    this.labelsWanted = null;
    this.ended = null;
    for (const k of Object.keys(this.versions) as (keyof DashboardState['versions'])[]) this.versions[k]++;
  }

  notice(text: string, now = Date.now()): void {
    this.notices.push({ t: now, text });
    if (this.notices.length > 20) this.notices.shift();
    this.versions.notices++;
  }

  /**
   * The greeting of a (re)connection: the subscribe message to answer with.
   * The same session resumes every buffered topic from its last topicSeq + 1
   * (objects no further back than RESUME_OBJECTS_MAX messages, the heatmap
   * from its latest);
   * a new session starts afresh with the recent past the rings hold: a
   * history of frames, the latest segmentation, objects, stats and heatmap,
   * and the last events.
   */
  hello(h: HelloMsg): SubscribeMsg {
    const same = this.session === h.session;
    if (!same) {
      if (this.session !== null) this.notice('the server restarted (new session): history starts again');
      this.reset();
      this.session = h.session;
      this.versions.session++;
    }
    this.meta = h.meta;
    const from: Partial<Record<Topic, number>> = {};
    // How far back to start a topic on a new session, and at most on a resume.
    const fresh: Record<string, number> = { frame: this.settings.history, objects: 1, segmentation: 1, stats: 1, heatmap: 1, event: this.settings.eventsMax };
    const resumeAtMost: Record<string, number> = { objects: Math.min(this.settings.history, RESUME_OBJECTS_MAX), heatmap: 1 };
    for (const t of BUFFERED) {
      const b = h.buffered[t];
      const held = b !== undefined && b.last >= b.first;
      const next = this.next[t];
      if (same && next !== undefined) {
        let f = next;
        // Objects and heatmap messages are large: skip (deliberately, not lost) what would not be kept anyway.
        if (held && resumeAtMost[t] !== undefined) f = Math.max(next, b.last - resumeAtMost[t] + 1);
        this.next[t] = f;
        from[t] = f;
      } else if (held) {
        from[t] = Math.max(b.first, b.last - fresh[t] + 1);
        this.freshStart.add(t);
      }
    }
    const msg: SubscribeMsg = { type: 'subscribe', topics: [...TOPICS], preview: this.previewKind };
    if (Object.keys(from).length > 0) msg.from = from;
    return msg;
  }

  /** Keeps topicSeq order: false for a message already seen (a duplicate after a resume). */
  private advance(topic: Topic, topicSeq: number | undefined): boolean {
    this.freshStart.delete(topic);
    if (typeof topicSeq !== 'number') return true;
    const next = this.next[topic];
    if (next !== undefined) {
      if (topicSeq < next) return false;
      if (topicSeq > next && topic !== 'preview') this.lost[topic] = (this.lost[topic] ?? 0) + (topicSeq - next);
    }
    this.next[topic] = topicSeq + 1;
    return true;
  }

  /** One text message from the server. */
  handle(m: { type?: unknown; topic?: unknown; topicSeq?: unknown } & Record<string, unknown>): void {
    const onTopic = typeof m.type === 'string' ? this.topicHandlers.get(m.type) : undefined;
    if (onTopic !== undefined) {
      if (this.advance(m.type as Topic, m.topicSeq as number)) onTopic(m);
      return;
    }
    switch (m.type) {
      case 'gap':
        // A fresh start asks for what the ring held at the greeting; what went since is no loss.
        if (this.freshStart.has(m.topic as Topic)) return;
        this.notice(`${String(m.topic)}: messages ${String(m.fromSeq)}–${String(m.toSeq)} are no longer held by the server`);
        return;
      case 'dropped':
        this.notice(`${String(m.topic)}: ${String(m.count)} messages dropped (this page fell behind)`);
        return;
      case 'error':
        this.notice(`server: ${String(m.message)}`);
        return;
      case 'ack':
        this.counts.acks++;
        this.notice(`done: ${String(m.command)}`);
        return;
      case 'end':
        this.ended = { frames: m.frames as number, dropped: m.dropped as number, ...(typeof m.error === 'string' ? { error: m.error } : {}) };
        this.notice(`the stream ended after ${String(m.frames)} frames${typeof m.error === 'string' ? `: ${m.error}` : ''}`);
        return;
      default:
        return; // hello is the connection's; subscribed, pong and unknown types need nothing
    }
  }

  onPreview(p: PreviewFrame): void {
    this.advance('preview', p.header.topicSeq);
    this.preview = p;
    this.counts.previews++;
    this.versions.preview++;
  }

  private onFrame(f: FrameMsg): void {
    const s = f.shift;
    const truth = f.truth;
    const dx = s?.dx ?? NaN;
    const dy = s?.dy ?? NaN;
    this.drift.push([
      f.seq,
      f.t,
      dx,
      dy,
      s?.peak ?? NaN,
      s?.quality ?? NaN,
      f.ok ? 1 : 0,
      truth?.dx ?? NaN,
      truth?.dy ?? NaN,
      truth ? dx - truth.dx : NaN,
      truth ? dy - truth.dy : NaN,
      f.localCorrelation?.median ?? NaN,
      f.localCorrelation?.p10 ?? NaN,
    ]);
    if (this.lastFrame && f.seq > this.lastFrame.seq) {
      this.lastFrame = { seq: f.seq, t: f.t, dt: (f.t - this.lastFrame.t) / (f.seq - this.lastFrame.seq) };
    } else if (!this.lastFrame || f.seq > this.lastFrame.seq) {
      this.lastFrame = { seq: f.seq, t: f.t, dt: this.lastFrame?.dt ?? 0 };
    }
    this.tOfSeq.set(f.seq, f.t);
    if (this.tOfSeq.size > this.settings.history) this.tOfSeq.delete(this.tOfSeq.keys().next().value as number);
    this.counts.frames++;
    this.versions.drift++;
  }

  /** A frame's time by its seq, estimated from the latest frame when its own has not arrived (yet). */
  timeOf(seq: number): number {
    const t = this.tOfSeq.get(seq);
    if (t !== undefined) return t;
    if (this.lastFrame === null) return NaN;
    return this.lastFrame.t + (seq - this.lastFrame.seq) * this.lastFrame.dt;
  }

  private onObjects(o: ObjectsMsg): void {
    this.objects = o;
    const f = this.settings.traceFeature;
    this.objectHistory.push(this.timeOf(o.seq), o.ids, o.features[DFF], f === DFF ? undefined : (o.features[f] ?? []));
    this.counts.objects++;
    this.versions.objects++;
  }

  private onSegmentation(s: SegmentationMsg): void {
    this.segmentation = s;
    this.labelsWanted = s.seq;
    this.versions.segmentation++;
  }

  private onEvent(e: EventMsg): void {
    this.events.push(e);
    if (this.events.length > this.settings.eventsMax) this.events.splice(0, this.events.length - this.settings.eventsMax);
    this.counts.events++;
    this.versions.events++;
  }

  /** Selects an object (at most MAX_SELECTED: the earliest selected goes), or unselects it. */
  toggleSelected(id: number): void {
    const i = this.selected.indexOf(id);
    if (i >= 0) this.selected.splice(i, 1);
    else {
      this.selected.push(id);
      if (this.selected.length > MAX_SELECTED) this.selected.shift();
    }
    this.versions.selection++;
  }

  /** The last n values of an object's ΔF/F (oldest first), for its sparkline. */
  sparkline(id: number, n = this.settings.sparkPoints): number[] {
    const h = this.objectHistory;
    const len = h.t.length;
    const out: number[] = [];
    for (let i = Math.max(0, len - n); i < len; i++) out.push(h.value(id, 'dff', i));
    return out;
  }
}
