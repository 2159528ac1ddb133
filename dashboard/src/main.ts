/**
 * The dashboard page: wires the connection, the state and the panels, and
 * paces the redraws (image on every new preview, plots ≤ 10 Hz, table at the
 * table-refresh setting, health ≤ 2 Hz). Pausing freezes the display only:
 * messages keep arriving into the bounded state, so resuming shows the
 * present at once.
 */
import 'uplot/dist/uPlot.min.css';
import './style.css';
import { Connection, type ConnectionState } from './connection.js';
import type { ContrastSettings } from './contrast.js';
import { csv, DRIFT_COLUMNS, objectTableCsv } from './csv.js';
import { ImageView, type ImageOptions } from './imageView.js';
import { COLORMAPS, isColormap, type ColormapName } from './lut.js';
import { DEFAULT_COLUMNS, ObjectsTable } from './objectsTable.js';
import { Plots } from './plots.js';
import { DashboardState, DEFAULT_SETTINGS, DFF } from './state.js';
import { joinColumns } from './table.js';
import { decodeLabels, parsePreview, type HelloMsg } from './wire.js';

// ---- settings (localStorage) and token (sessionStorage) ----

interface Saved {
  history: number;
  eventsMax: number;
  tableHz: number;
  plotPoints: number;
  colormap: ColormapName;
  contrast: ContrastSettings;
  outlines: boolean;
  ids: boolean;
  heatmap: boolean;
  previewKind: 'registered' | 'raw';
  traceFeature: string;
  columns: string[];
}

const SETTINGS_KEY = 'scopestream.dashboard.v1';
const TOKEN_KEY = 'scopestream.token';
const DEFAULTS: Saved = {
  history: DEFAULT_SETTINGS.history,
  eventsMax: DEFAULT_SETTINGS.eventsMax,
  tableHz: 3,
  plotPoints: 1000,
  colormap: 'gray',
  contrast: { mode: 'auto', lowPct: 0.5, highPct: 99.5, black: null, white: null, gamma: 1 },
  outlines: true,
  ids: true,
  heatmap: false,
  previewKind: 'registered',
  traceFeature: DFF,
  columns: DEFAULT_COLUMNS,
};

function loadSettings(): Saved {
  try {
    const s = JSON.parse(localStorage.getItem(SETTINGS_KEY) ?? '{}') as Partial<Saved>;
    const out = { ...DEFAULTS, ...s, contrast: { ...DEFAULTS.contrast, ...(s.contrast ?? {}) } };
    if (!isColormap(out.colormap)) out.colormap = 'gray';
    return out;
  } catch {
    return { ...DEFAULTS };
  }
}

const saved = loadSettings();
const save = (): void => localStorage.setItem(SETTINGS_KEY, JSON.stringify(saved));

/** The token comes from the URL once, then lives in this tab's session storage, out of the address bar. */
function takeToken(): string | null {
  const url = new URL(location.href);
  const t = url.searchParams.get('token');
  if (t !== null) {
    sessionStorage.setItem(TOKEN_KEY, t);
    url.searchParams.delete('token');
    history.replaceState(null, '', url.pathname + url.search + url.hash);
  }
  return sessionStorage.getItem(TOKEN_KEY);
}

const token = takeToken();
const wsBase = `${location.protocol === 'https:' ? 'wss' : 'ws'}://${location.host}/ws`;

// ---- elements ----

const $ = <T extends HTMLElement = HTMLElement>(id: string): T => {
  const el = document.getElementById(id);
  if (el === null) throw new Error(`#${id} missing from index.html`);
  return el as T;
};
const body = document.body;
const conn$ = $('conn');
const banner = $('banner');
const toast = $('toast');
const pauseBtn = $<HTMLButtonElement>('pause');

let toastTimer: ReturnType<typeof setTimeout> | null = null;
function say(text: string, ms = 3500): void {
  toast.textContent = text;
  toast.hidden = false;
  if (toastTimer !== null) clearTimeout(toastTimer);
  toastTimer = setTimeout(() => (toast.hidden = true), ms);
}

// ---- state, panels ----

const state = new DashboardState({ history: saved.history, eventsMax: saved.eventsMax, traceFeature: saved.traceFeature });
state.previewKind = saved.previewKind;
let paused = false;

const imageOptions = (): ImageOptions => ({
  colormap: saved.colormap,
  contrast: saved.contrast,
  outlines: saved.outlines,
  ids: saved.ids,
  heatmap: saved.heatmap,
});

function select(id: number): void {
  state.toggleSelected(id);
  image.setSelected(state.selected);
  table.setSelected(state.selected);
  plots.updateTraces(state, saved.plotPoints);
}

const image = new ImageView($<HTMLCanvasElement>('image'), $('cursor'), $<HTMLCanvasElement>('histogram'), imageOptions(), select);
const plots = new Plots(
  { drift: $('plot-drift'), quality: $('plot-quality'), lc: $('plot-lc'), traces: $('plot-traces') },
  () => state.settings.traceFeature.replace(/^(Trace|Intensity)_/, ''),
);
const table = new ObjectsTable(
  $('table-wrap'),
  $<HTMLTableElement>('objects'),
  $('columns'),
  $('filter-error'),
  $('object-count'),
  select,
  (id) => state.sparkline(id),
  saved.columns,
  (cols) => {
    saved.columns = cols;
    save();
  },
);

// ---- connection ----

const connection = new Connection(() => (token === null ? wsBase : `${wsBase}?token=${encodeURIComponent(token)}`), {
  onState(s: ConnectionState, detail: string) {
    body.dataset.connection = s;
    conn$.textContent = s === 'open' ? 'live' : s;
    conn$.title = detail;
    banner.hidden = s === 'open';
    banner.textContent = s === 'open' ? '' : `Not connected to the server: ${detail}. The display shows the last data received.`;
    healthDirty = true;
  },
  onText(m) {
    if (m.type === 'hello') {
      const h = m as unknown as HelloMsg;
      const sub = state.hello(h);
      connection.send(sub);
      body.dataset.session = h.session;
      if (h.meta) {
        $('source').textContent = `${h.meta.source} · ${h.meta.width}×${h.meta.height} ${h.meta.dtype}`;
        image.setWorld(h.meta.width, h.meta.height);
      }
      return;
    }
    state.handle(m);
  },
  onBinary(buf) {
    try {
      state.onPreview(parsePreview(buf));
    } catch (e) {
      state.notice(`a preview frame was refused: ${(e as Error).message}`);
    }
  },
});

// ---- labels (/api/labels after each segmentation) ----

let labelsBusy = false;
let labelsRetryAt = 0;
async function fetchLabels(): Promise<void> {
  const wanted = state.labelsWanted;
  if (wanted === null || labelsBusy || performance.now() < labelsRetryAt) return;
  labelsBusy = true;
  try {
    const res = await fetch('/api/labels', { headers: token === null ? {} : { Authorization: `Bearer ${token}` }, cache: 'no-store' });
    if (!res.ok) throw new Error(`HTTP ${res.status}`);
    const l = decodeLabels((await res.json()) as { seq: number; width: number; height: number; rle: number[] });
    image.setLabels(l);
    image.setWorld(state.meta?.width ?? l.width, state.meta?.height ?? l.height);
    if (state.labelsWanted !== null && l.seq >= state.labelsWanted) state.labelsWanted = null;
    else labelsRetryAt = performance.now() + 500;
  } catch {
    labelsRetryAt = performance.now() + 1000;
  } finally {
    labelsBusy = false;
  }
}

// ---- panels fed from the state ----

function renderTable(): void {
  const o = state.objects;
  if (o === null) return table.update({ columns: ['id'], rows: [] });
  const sources = state.segmentation ? [state.segmentation, o] : [o];
  table.update(joinColumns(o.ids, ...sources));
  body.dataset.tableUpdates = String(Number(body.dataset.tableUpdates ?? 0) + 1);
  const select$ = $<HTMLSelectElement>('trace-feature');
  const names = Object.keys(o.features);
  if ([...select$.options].map((x) => x.value).join() !== names.join()) {
    select$.replaceChildren(...names.map((n) => new Option(n.replace(/^(Trace|Intensity|Location|Correlation|Track)_/, ''), n, false, n === state.settings.traceFeature)));
  }
}

function renderEvents(): void {
  const list = $('events');
  const items = state.events
    .slice()
    .reverse()
    .map((e) => {
      const li = document.createElement('li');
      li.dataset.id = String(e.id);
      li.textContent = `#${e.id}  ${(e.t / 1000).toFixed(2)} s  ΔF/F ${e.amplitude.toFixed(3)}`;
      li.title = `frame ${e.seq}; click to select object ${e.id}`;
      return li;
    });
  list.replaceChildren(...items);
  $('event-count').textContent = `${state.counts.events} seen`;
}
$('events').addEventListener('click', (e) => {
  const id = (e.target as HTMLElement).closest('li')?.dataset.id;
  if (id !== undefined) select(Number(id));
});

function renderHealth(): void {
  const s = state.stats;
  const ms = (v: number | null | undefined) => (v === null || v === undefined ? '–' : `${v.toFixed(2)} ms`);
  const rows: [string, string, string?][] = [['connection', connection.state === 'open' ? 'live' : connection.state, connection.state === 'open' ? '' : 'bad']];
  if (s) {
    rows.push(
      ['fps in / out', `${s.fpsIn.toFixed(1)} / ${s.fpsOut.toFixed(1)}`],
      ['received', String(s.received)],
      ['processed', String(s.processed)],
      ['dropped', String(s.dropped), s.dropped > 0 ? 'warn' : ''],
      ['queue depth', String(s.queueDepth)],
      ['latency p50', ms(s.latencyMs.p50)],
      ['latency p99', ms(s.latencyMs.p99), (s.latencyMs.p99 ?? 0) > 50 ? 'warn' : ''],
      ...Object.entries(s.stageMs).map(([k, v]) => [`stage ${k}`, ms(v)] as [string, string]),
      ['subscribers', String(s.subscribers)],
      ['sent', `${(s.bytesSent / 1e6).toFixed(1)} MB`],
      ['uptime', `${Math.round(s.uptimeS)} s`],
    );
    if (s.source) {
      rows.push(['source', s.source.state, s.source.state === 'ok' || s.source.state === 'open' ? '' : 'warn'], ['reconnects', String(s.source.reconnects)]);
      if (s.source.lastError) rows.push(['last error', s.source.lastError, 'bad']);
    }
  }
  const lost = Object.entries(state.lost).filter(([, n]) => (n ?? 0) > 0);
  rows.push(['lost here', lost.length === 0 ? '0' : lost.map(([t, n]) => `${t} ${n}`).join(', '), lost.length ? 'warn' : '']);
  if (state.ended) rows.push(['stream', `ended (${state.ended.frames} frames)`, state.ended.error ? 'bad' : 'warn']);
  for (const n of state.notices.slice(-3)) rows.push(['note', n.text, 'warn']);
  $('health').replaceChildren(
    ...rows.flatMap(([k, v, cls]) => {
      const dt = document.createElement('dt');
      dt.textContent = k;
      const dd = document.createElement('dd');
      dd.textContent = v;
      if (cls) dd.className = cls;
      return [dt, dd];
    }),
  );
}

// ---- the render loop ----

const seen = { preview: -1, drift: -1, objects: -1, selection: -1, events: -1, stats: -1, heatmap: -1, notices: -1, segmentation: -1 };
const last = { plots: 0, traces: 0, table: 0, health: 0, events: 0, heatmap: 0 };
let healthDirty = true;

function frame(now: number): void {
  requestAnimationFrame(frame);
  if (!paused) void fetchLabels(); // new outlines wait for the display to resume
  body.dataset.framesReceived = String(state.counts.frames);
  const v = state.versions;
  if (v.notices !== seen.notices) {
    seen.notices = v.notices;
    const n = state.notices.at(-1);
    if (n) say(n.text);
    healthDirty = true;
  }
  if (v.segmentation !== seen.segmentation && state.segmentation === null) {
    seen.segmentation = v.segmentation;
    image.setLabels(null); // a new session
  }
  if (!paused) {
    if (v.preview !== seen.preview && state.preview) {
      seen.preview = v.preview;
      image.setFrame(state.preview);
    }
    if (v.drift !== seen.drift && now - last.plots >= 100) {
      seen.drift = v.drift;
      last.plots = now;
      plots.updateFrames(state, saved.plotPoints);
    }
    if ((v.objects !== seen.objects || v.selection !== seen.selection) && now - last.traces >= 200) {
      seen.selection = v.selection;
      last.traces = now;
      plots.updateTraces(state, saved.plotPoints);
    }
    if (v.objects !== seen.objects && now - last.table >= 1000 / saved.tableHz) {
      seen.objects = v.objects;
      last.table = now;
      renderTable();
    }
    if (v.events !== seen.events && now - last.events >= 250) {
      seen.events = v.events;
      last.events = now;
      renderEvents();
    }
    if (v.heatmap !== seen.heatmap && saved.heatmap && now - last.heatmap >= 200) {
      seen.heatmap = v.heatmap;
      last.heatmap = now;
      image.setHeatmap(state.heatmap);
    }
  }
  if ((v.stats !== seen.stats || healthDirty) && now - last.health >= 500) {
    seen.stats = v.stats;
    last.health = now;
    healthDirty = false;
    renderHealth();
  }
}

// ---- controls ----

function setPaused(p: boolean): void {
  paused = p;
  body.dataset.paused = String(p);
  pauseBtn.textContent = p ? 'Resume' : 'Pause';
  pauseBtn.classList.toggle('active', p);
  say(p ? 'Display paused (the pipeline keeps running and recording). Space resumes.' : 'Display resumed.', 2000);
}
pauseBtn.addEventListener('click', () => setPaused(!paused));

$('reset-template').addEventListener('click', () => {
  if (connection.send({ type: 'command', command: 'resetTemplate' })) say('Asked the server to rebuild the template from the next frames…');
  else say('Not connected: the template was not reset.');
});

function download(name: string, text: string): void {
  const a = document.createElement('a');
  a.href = URL.createObjectURL(new Blob([text], { type: 'text/csv' }));
  a.download = name;
  document.body.append(a);
  a.click();
  a.remove();
  setTimeout(() => URL.revokeObjectURL(a.href), 10_000);
}

$('csv-objects').addEventListener('click', () => {
  const o = state.objects;
  if (o === null) return say('No objects yet.');
  const { columns, rows } = table.shown();
  download(`objects-${o.seq}.csv`, objectTableCsv(o.seq, state.timeOf(o.seq), columns, rows));
});

$('csv-drift').addEventListener('click', () => {
  const r = state.drift;
  if (r.length === 0) return say('No frames yet.');
  const rows = function* () {
    for (let i = 0; i < r.length; i++) {
      yield DRIFT_COLUMNS.map((c, k) => (c === 'ok' ? r.get(k, i) === 1 : r.get(k, i)));
    }
  };
  download(`drift-${r.get(0, 0)}-${r.last(0)}.csv`, csv([...DRIFT_COLUMNS], rows()));
});

$('copy-subscribe').addEventListener('click', () => {
  const cmd = `scopestream subscribe ${wsBase} --topics objects --format csv${token === null ? '' : ` --token ${token}`}`;
  const fallback = () => {
    const ta = document.createElement('textarea');
    ta.value = cmd;
    document.body.append(ta);
    ta.select();
    const ok = document.execCommand('copy');
    ta.remove();
    say(ok ? `Copied: ${cmd}` : `Copy this: ${cmd}`, 8000);
  };
  if (navigator.clipboard && window.isSecureContext) navigator.clipboard.writeText(cmd).then(() => say(`Copied: ${cmd}`, 5000), fallback);
  else fallback();
});

const previewKind = $<HTMLSelectElement>('preview-kind');
previewKind.value = saved.previewKind;
previewKind.addEventListener('change', () => {
  saved.previewKind = previewKind.value === 'raw' ? 'raw' : 'registered';
  state.previewKind = saved.previewKind;
  save();
  connection.send({ type: 'subscribe', topics: ['preview'], preview: saved.previewKind });
});

const cmap = $<HTMLSelectElement>('colormap');
cmap.replaceChildren(...COLORMAPS.map((c) => new Option(c, c, false, c === saved.colormap)));
cmap.addEventListener('change', () => {
  if (isColormap(cmap.value)) saved.colormap = cmap.value;
  applyImage();
});

const checkbox = (id: string, key: 'outlines' | 'ids' | 'heatmap') => {
  const el = $<HTMLInputElement>(id);
  el.checked = saved[key];
  el.addEventListener('change', () => {
    saved[key] = el.checked;
    if (key === 'heatmap' && el.checked) image.setHeatmap(state.heatmap);
    applyImage();
  });
  return el;
};
const outlinesBox = checkbox('outlines', 'outlines');
checkbox('ids', 'ids');
checkbox('heatmap', 'heatmap');

const mode = $<HTMLSelectElement>('contrast-mode');
const num = (id: string) => $<HTMLInputElement>(id);
function showContrast(): void {
  const c = saved.contrast;
  mode.value = c.mode;
  body.dataset.contrast = c.mode;
  num('low-pct').value = String(c.lowPct);
  num('high-pct').value = String(c.highPct);
  num('gamma').value = String(c.gamma);
  const f = state.preview?.header;
  // Manual levels start from what auto shows now, in data units.
  if (c.black === null && f && f.lo !== null && f.hi !== null) {
    c.black = +(f.lo + (image.levels.black * (f.hi - f.lo)) / 255).toPrecision(6);
    c.white = +(f.lo + (image.levels.white * (f.hi - f.lo)) / 255).toPrecision(6);
  }
  num('black').value = c.black === null ? '' : String(c.black);
  num('white').value = c.white === null ? '' : String(c.white);
}
function applyImage(): void {
  save();
  image.setOptions(imageOptions());
}
mode.addEventListener('change', () => {
  saved.contrast.mode = mode.value === 'manual' ? 'manual' : 'auto';
  if (saved.contrast.mode === 'manual') saved.contrast.black = saved.contrast.white = null;
  showContrast();
  applyImage();
});
for (const [id, key] of [
  ['low-pct', 'lowPct'],
  ['high-pct', 'highPct'],
  ['black', 'black'],
  ['white', 'white'],
  ['gamma', 'gamma'],
] as const) {
  num(id).addEventListener('input', () => {
    const v = Number(num(id).value);
    if (num(id).value === '' || !Number.isFinite(v)) return;
    if (key === 'gamma' && !(v > 0)) return;
    (saved.contrast as unknown as Record<string, number>)[key] = v;
    applyImage();
  });
}

const traceFeature = $<HTMLSelectElement>('trace-feature');
traceFeature.append(new Option(saved.traceFeature.replace(/^(Trace|Intensity)_/, ''), saved.traceFeature, true, true));
traceFeature.addEventListener('change', () => {
  saved.traceFeature = traceFeature.value;
  save();
  state.setTraceFeature(traceFeature.value);
  plots.relabelTraces();
  plots.updateTraces(state, saved.plotPoints);
});

const filter = $<HTMLInputElement>('filter');
filter.addEventListener('input', () => table.setFilter(filter.value));

$('fit').addEventListener('click', () => image.fit());

const setting = (id: string, key: 'history' | 'eventsMax' | 'tableHz' | 'plotPoints', min: number, max: number, apply: (v: number) => void) => {
  const el = num(id);
  el.value = String(saved[key]);
  el.addEventListener('change', () => {
    const v = Number(el.value);
    if (!(v >= min && v <= max)) {
      el.value = String(saved[key]);
      return say(`${key} must be between ${min} and ${max}`);
    }
    saved[key] = v;
    save();
    apply(v);
  });
};
setting('set-history', 'history', 100, 100_000, (v) => state.setHistory(Math.round(v)));
setting('set-events', 'eventsMax', 10, 10_000, (v) => (state.settings.eventsMax = Math.round(v)));
setting('set-table-hz', 'tableHz', 0.5, 10, () => undefined);
setting('set-plot-points', 'plotPoints', 100, 5000, () => {
  seen.drift = -1;
});

document.addEventListener('keydown', (e) => {
  const t = e.target as HTMLElement;
  if (e.ctrlKey || e.metaKey || e.altKey || t.closest('input, select, textarea')) return;
  if (e.key === ' ') {
    e.preventDefault();
    setPaused(!paused);
  } else if (e.key === 'c') {
    saved.contrast.mode = 'auto';
    showContrast();
    applyImage();
    say(`Auto-contrast (${saved.contrast.lowPct} – ${saved.contrast.highPct} %)`, 1500);
  } else if (e.key === 'o') {
    saved.outlines = !saved.outlines;
    outlinesBox.checked = saved.outlines;
    applyImage();
  } else if (e.key === '+' || e.key === '=') image.zoom(1.25);
  else if (e.key === '-') image.zoom(0.8);
  else if (e.key === 'f') image.fit();
});

showContrast();
setPaused(false);
toast.hidden = true;
connection.start();
requestAnimationFrame(frame);
// For debugging from the console (and the browser tests).
(window as unknown as { scopestream: unknown }).scopestream = { state, image, connection };
