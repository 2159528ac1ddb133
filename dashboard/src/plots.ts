/**
 * The time plots (uPlot): drift, registration quality, local correlation and
 * the selected objects' traces, each fed decimated data from the bounded
 * histories of DashboardState.
 */
import uPlot from 'uplot';
import { decimateMinMax, type PlotData } from './series.js';
import { D, type DashboardState } from './state.js';

const AXIS = { stroke: '#8a93a0', grid: { stroke: '#252b35', width: 1 }, ticks: { stroke: '#2a303a', width: 1 }, space: 24 };
export const TRACE_COLOURS = ['#4ea1ff', '#f2b84b', '#3ecf6e', '#ff5d9e', '#b48cff', '#4ee1d0', '#ff8c4e', '#e0e0e0'];

class Plot {
  private u: uPlot | null = null;

  constructor(
    readonly el: HTMLElement,
    private opts: () => Omit<uPlot.Options, 'width' | 'height'>,
  ) {
    new ResizeObserver(() => this.resize()).observe(el);
  }

  private size(): { width: number; height: number } {
    // The legend sits below the plot: its height (once drawn) comes off.
    const legend = this.u?.root.querySelector<HTMLElement>('.u-legend')?.offsetHeight ?? 22;
    return { width: Math.max(100, this.el.clientWidth), height: Math.max(50, this.el.clientHeight - legend - 2) };
  }

  private resize(): void {
    this.u?.setSize(this.size());
  }

  /** Rebuilds the chart (its series changed). */
  rebuild(): void {
    this.u?.destroy();
    this.u = null;
  }

  set(data: PlotData): void {
    if (this.u === null) {
      this.u = new uPlot({ ...this.opts(), ...this.size() }, data as uPlot.AlignedData, this.el);
      // Once its legend is laid out, the chart takes the rest of the box.
      requestAnimationFrame(() => this.resize());
    } else {
      this.u.setData(data as uPlot.AlignedData);
    }
    this.el.dataset.points = String(data[0].length);
  }
}

function timeAxis(): uPlot.Axis {
  return { ...AXIS, space: 60, size: 26, values: (_u, ticks) => ticks.map((t) => `${+t.toFixed(1)} s`) };
}

function base(series: uPlot.Series[], scales: uPlot.Scales = {}, axes: uPlot.Axis[] = [timeAxis(), { ...AXIS, size: 46 }]): Omit<uPlot.Options, 'width' | 'height'> {
  return {
    scales: { x: { time: false }, ...scales },
    axes,
    padding: [8, 8, 0, 0],
    series: [{ label: 't (s)', value: (_u, v) => (v === null ? '–' : `${v.toFixed(2)} s`) }, ...series],
    legend: { live: true },
    cursor: { drag: { x: true, y: false } },
  };
}

const line = (label: string, stroke: string, extra: Partial<uPlot.Series> = {}): uPlot.Series => ({
  label,
  stroke,
  width: 1.25,
  points: { show: false },
  value: (_u, v) => (v === null ? '–' : v.toFixed(3)),
  ...extra,
});

const markers = (label: string, colour: string, scale?: string): uPlot.Series => ({
  label,
  stroke: colour,
  fill: colour,
  width: 0,
  paths: () => null,
  points: { show: true, size: 6, fill: colour, stroke: colour },
  ...(scale ? { scale } : {}),
});

export class Plots {
  private readonly drift: Plot;
  private readonly quality: Plot;
  private readonly lc: Plot;
  private readonly traces: Plot;
  private traceIds: number[] = [];

  constructor(
    els: { drift: HTMLElement; quality: HTMLElement; lc: HTMLElement; traces: HTMLElement },
    private readonly traceLabel: () => string,
  ) {
    this.drift = new Plot(els.drift, () =>
      base([
        line('dx', '#4ea1ff'),
        line('dy', '#f2b84b'),
        line('true dx', '#4ea1ff', { dash: [4, 4], width: 1 }),
        line('true dy', '#f2b84b', { dash: [4, 4], width: 1 }),
        line('error dx', '#ff5d9e', { width: 1 }),
        line('error dy', '#b48cff', { width: 1 }),
      ]),
    );
    this.quality = new Plot(els.quality, () =>
      base(
        [line('peak', '#3ecf6e', { scale: 'peak' }), line('PSR', '#8a93a0', { scale: 'psr' }), markers('failed', '#ff5d5d', 'peak')],
        { peak: { range: [0, 1] }, psr: {} },
        [timeAxis(), { ...AXIS, scale: 'peak', size: 40 }, { ...AXIS, scale: 'psr', side: 1, size: 40, grid: { show: false } }],
      ),
    );
    this.lc = new Plot(els.lc, () => base([line('median r', '#4ee1d0'), line('p10 r', '#ff8c4e')], { y: { range: (_u, min, max) => [Math.min(0, min ?? 0), Math.max(1, max ?? 1)] } }));
    this.traces = new Plot(els.traces, () =>
      base(this.traceIds.map((id, k) => line(`#${id} ${this.traceLabel()}`, TRACE_COLOURS[k % TRACE_COLOURS.length]))),
    );
  }

  updateFrames(s: DashboardState, points: number): void {
    const r = s.drift;
    const n = r.length;
    const t = (i: number) => r.get(D.t, i) / 1000;
    const col = (c: number) => (i: number) => r.get(c, i);
    const buckets = Math.max(10, Math.floor(points / 2));
    this.drift.set(decimateMinMax(n, t, [col(D.dx), col(D.dy), col(D.truth_dx), col(D.truth_dy), col(D.error_dx), col(D.error_dy)], buckets));
    this.drift.el.dataset.rows = String(n);
    const failed = (i: number) => (r.get(D.ok, i) === 0 ? Math.max(0, Math.min(1, Number.isNaN(r.get(D.peak, i)) ? 0 : r.get(D.peak, i))) : NaN);
    this.quality.set(decimateMinMax(n, t, [col(D.peak), col(D.quality), failed], buckets));
    this.lc.set(decimateMinMax(n, t, [col(D.lc_median), col(D.lc_p10)], buckets));
  }

  updateTraces(s: DashboardState, points: number): void {
    const ids = s.selected;
    if (ids.join() !== this.traceIds.join()) {
      this.traceIds = [...ids];
      this.traces.rebuild();
    }
    const h = s.objectHistory;
    const which = s.settings.traceFeature === 'Trace_DeltaFOverF' ? 'dff' : 'trace';
    const data = decimateMinMax(
      h.t.length,
      (i) => h.t.get(0, i) / 1000,
      ids.map((id) => (i: number) => h.value(id, which, i)),
      Math.max(10, Math.floor(points / 2)),
    );
    this.traces.set(data);
    this.traces.el.dataset.series = ids.join(',');
  }

  /** The trace feature changed: new labels. */
  relabelTraces(): void {
    this.traces.rebuild();
  }
}
