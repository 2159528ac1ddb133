/**
 * The live image: the 8-bit preview through the display table, the label
 * outlines and ids, the local-correlation heatmap; zoom (wheel), pan (drag),
 * fit (double-click), the value under the cursor, click to select an object.
 * Everything is drawn in template (world) pixel coordinates.
 */
import { displayTable, histogram256, levelsFor, packRGBA, valueOfByte, type ContrastSettings } from './contrast.js';
import { colormap, type ColormapName } from './lut.js';
import type { HeatmapMsg, LabelImage, PreviewFrame } from './wire.js';
import { outlines } from './wire.js';

export interface ImageOptions {
  colormap: ColormapName;
  contrast: ContrastSettings;
  outlines: boolean;
  ids: boolean;
  heatmap: boolean;
}

export class ImageView {
  private readonly ctx: CanvasRenderingContext2D;
  private readonly img = document.createElement('canvas');
  private readonly imgCtx: CanvasRenderingContext2D;
  private imageData: ImageData | null = null;
  private readonly outline = document.createElement('canvas');
  private readonly heat = document.createElement('canvas');
  private readonly table = new Uint32Array(256);
  readonly hist = new Uint32Array(256);
  private frame: PreviewFrame | null = null;
  private labels: LabelImage | null = null;
  private centres = new Map<number, { x: number; y: number }>();
  private outlinePixels: Int32Array = new Int32Array(0);
  private heatmap: HeatmapMsg | null = null;
  private world = { w: 1, h: 1 };
  private view = { scale: 1, ox: 0, oy: 0 };
  private fitted = true;
  private drag: { x: number; y: number; ox: number; oy: number; moved: boolean } | null = null;
  private pointer: { x: number; y: number } | null = null;
  private selected = new Set<number>();
  /** The levels of the last frame drawn (preview bytes). */
  levels = { black: 0, white: 255 };
  /** Bumped on every draw of a new frame (tests read it from the canvas's data-frame attribute). */
  framesDrawn = 0;

  constructor(
    private readonly canvas: HTMLCanvasElement,
    private readonly readout: HTMLElement,
    private readonly histCanvas: HTMLCanvasElement,
    private options: ImageOptions,
    private readonly onSelect: (id: number) => void,
  ) {
    this.ctx = canvas.getContext('2d')!;
    this.imgCtx = this.img.getContext('2d')!;
    canvas.addEventListener('wheel', (e) => this.onWheel(e), { passive: false });
    canvas.addEventListener('pointerdown', (e) => this.onDown(e));
    canvas.addEventListener('pointermove', (e) => this.onMove(e));
    canvas.addEventListener('pointerup', (e) => this.onUp(e));
    canvas.addEventListener('pointerleave', () => {
      this.pointer = null;
      this.updateReadout();
    });
    canvas.addEventListener('dblclick', () => this.fit());
    new ResizeObserver(() => this.resize()).observe(canvas);
  }

  setOptions(o: ImageOptions): void {
    this.options = o;
    this.redrawFrame();
  }

  setWorld(w: number, h: number): void {
    if (w === this.world.w && h === this.world.h) return;
    this.world = { w, h };
    this.fitted = true;
    this.resize();
  }

  setFrame(f: PreviewFrame): void {
    this.frame = f;
    if (this.world.w === 1 && this.world.h === 1) this.setWorld(f.header.width, f.header.height);
    this.redrawFrame();
    this.framesDrawn++;
    this.canvas.dataset.frame = String(f.header.seq);
  }

  setLabels(l: LabelImage | null): void {
    this.labels = l;
    if (l) {
      const o = outlines(l);
      this.outlinePixels = o.pixels;
      this.centres = o.centres;
    } else {
      this.outlinePixels = new Int32Array(0);
      this.centres = new Map();
    }
    this.drawOutlines();
    this.draw();
  }

  setSelected(ids: number[]): void {
    this.selected = new Set(ids);
    this.drawOutlines();
    this.draw();
  }

  setHeatmap(h: HeatmapMsg | null): void {
    this.heatmap = h;
    if (h && this.options.heatmap) {
      this.drawHeat();
      this.draw();
    }
  }

  fit(): void {
    this.fitted = true;
    const { width: cw, height: ch } = this.canvas;
    const s = Math.min(cw / this.world.w, ch / this.world.h);
    this.view = { scale: s, ox: (cw - this.world.w * s) / 2, oy: (ch - this.world.h * s) / 2 };
    this.draw();
  }

  zoom(factor: number, cx = this.canvas.width / 2, cy = this.canvas.height / 2): void {
    const v = this.view;
    const s = Math.min(64, Math.max(0.05, v.scale * factor));
    const k = s / v.scale;
    this.view = { scale: s, ox: cx - (cx - v.ox) * k, oy: cy - (cy - v.oy) * k };
    this.fitted = false;
    this.draw();
  }

  private resize(): void {
    const dpr = window.devicePixelRatio || 1;
    const w = Math.max(1, Math.round(this.canvas.clientWidth * dpr));
    const h = Math.max(1, Math.round(this.canvas.clientHeight * dpr));
    if (w !== this.canvas.width || h !== this.canvas.height) {
      this.canvas.width = w;
      this.canvas.height = h;
    }
    if (this.fitted) this.fit();
    else this.draw();
    this.histCanvas.width = Math.max(1, Math.round(this.histCanvas.clientWidth * dpr));
    this.histCanvas.height = Math.max(1, Math.round(this.histCanvas.clientHeight * dpr));
    this.drawHistogram();
  }

  /** The frame through the current contrast and colour map into the offscreen image. */
  private redrawFrame(): void {
    const f = this.frame;
    if (f === null) return;
    const { width, height, lo, hi } = f.header;
    histogram256(f.pixels, this.hist);
    this.levels = levelsFor(this.options.contrast, this.hist, lo, hi);
    displayTable(this.levels.black, this.levels.white, this.options.contrast.gamma, colormap(this.options.colormap), this.table);
    if (this.imageData === null || this.imageData.width !== width || this.imageData.height !== height) {
      this.img.width = width;
      this.img.height = height;
      this.imageData = this.imgCtx.createImageData(width, height);
    }
    const out = new Uint32Array(this.imageData.data.buffer);
    const px = f.pixels;
    const table = this.table;
    for (let i = 0; i < px.length; i++) out[i] = table[px[i]];
    this.imgCtx.putImageData(this.imageData, 0, 0);
    if (this.options.heatmap) this.drawHeat();
    this.draw();
    this.drawHistogram();
    this.updateReadout();
  }

  private drawOutlines(): void {
    const l = this.labels;
    if (l === null) return;
    if (this.outline.width !== l.width || this.outline.height !== l.height) {
      this.outline.width = l.width;
      this.outline.height = l.height;
    }
    const ctx = this.outline.getContext('2d')!;
    const data = ctx.createImageData(l.width, l.height);
    const u32 = new Uint32Array(data.data.buffer);
    const normal = packRGBA(255, 215, 0, 208); // amber
    const chosen = packRGBA(78, 225, 255, 255); // cyan: selected objects
    for (const i of this.outlinePixels) u32[i] = this.selected.has(l.labels[i]) ? chosen : normal;
    ctx.putImageData(data, 0, 0);
  }

  private drawHeat(): void {
    const h = this.heatmap;
    if (h === null) return;
    this.heat.width = h.cols;
    this.heat.height = h.rows;
    const ctx = this.heat.getContext('2d')!;
    const data = ctx.createImageData(h.cols, h.rows);
    for (let i = 0; i < h.cols * h.rows; i++) {
      const r = h.r[i];
      const o = 4 * i;
      if (r === null || r === undefined) {
        data.data.set([128, 128, 128, 70], o);
      } else {
        // Transparent where r ≥ 0.95, increasingly red below.
        const a = Math.max(0, Math.min(0.75, (0.95 - r) / 0.5));
        data.data.set([255, 50, 90, Math.round(255 * a)], o);
      }
    }
    ctx.putImageData(data, 0, 0);
  }

  /** Composes the visible canvas. */
  draw(): void {
    const ctx = this.ctx;
    const { scale, ox, oy } = this.view;
    ctx.setTransform(1, 0, 0, 1, 0, 0);
    ctx.fillStyle = '#000';
    ctx.fillRect(0, 0, this.canvas.width, this.canvas.height);
    if (this.frame === null) return;
    ctx.setTransform(scale, 0, 0, scale, ox, oy);
    ctx.imageSmoothingEnabled = scale < 1;
    ctx.drawImage(this.img, 0, 0, this.world.w, this.world.h);
    ctx.imageSmoothingEnabled = false;
    const h = this.heatmap;
    if (this.options.heatmap && h !== null) ctx.drawImage(this.heat, 0, 0, h.cols * h.block, h.rows * h.block);
    if (this.options.outlines && this.labels !== null) ctx.drawImage(this.outline, 0, 0, this.labels.width, this.labels.height);
    if (this.options.ids && this.labels !== null) {
      ctx.setTransform(1, 0, 0, 1, 0, 0);
      const dpr = window.devicePixelRatio || 1;
      ctx.font = `${Math.round(10 * dpr)}px ui-monospace, monospace`;
      ctx.textAlign = 'center';
      ctx.textBaseline = 'middle';
      for (const [id, c] of this.centres) {
        const x = (c.x + 0.5) * scale + ox;
        const y = (c.y + 0.5) * scale + oy;
        if (x < 0 || y < 0 || x > this.canvas.width || y > this.canvas.height) continue;
        ctx.fillStyle = 'rgba(0,0,0,0.6)';
        ctx.fillText(String(id), x + 1, y + 1);
        ctx.fillStyle = this.selected.has(id) ? '#4ee1ff' : '#ffe9a0';
        ctx.fillText(String(id), x, y);
      }
    }
  }

  private drawHistogram(): void {
    const c = this.histCanvas;
    const ctx = c.getContext('2d')!;
    ctx.fillStyle = '#0b0d10';
    ctx.fillRect(0, 0, c.width, c.height);
    if (this.frame === null) return;
    let max = 0;
    for (let b = 0; b < 256; b++) max = Math.max(max, Math.log1p(this.hist[b]));
    if (max === 0) return;
    const bw = c.width / 256;
    ctx.fillStyle = '#8a93a0';
    for (let b = 0; b < 256; b++) {
      const h = (Math.log1p(this.hist[b]) / max) * (c.height - 2);
      ctx.fillRect(b * bw, c.height - h, Math.max(1, bw), h);
    }
    const mark = (b: number, colour: string) => {
      const x = Math.min(c.width - 1, Math.max(0, b * bw));
      ctx.fillStyle = colour;
      ctx.fillRect(x, 0, 2, c.height);
    };
    mark(this.levels.black, '#4ea1ff');
    mark(this.levels.white, '#f2b84b');
  }

  private toWorld(e: { clientX: number; clientY: number }): { x: number; y: number } {
    const r = this.canvas.getBoundingClientRect();
    const dpr = this.canvas.width / Math.max(1, r.width);
    const sx = (e.clientX - r.left) * dpr;
    const sy = (e.clientY - r.top) * dpr;
    return { x: (sx - this.view.ox) / this.view.scale, y: (sy - this.view.oy) / this.view.scale };
  }

  /** The object at a world position (0: none). */
  objectAt(x: number, y: number): number {
    const l = this.labels;
    if (l === null) return 0;
    const ix = Math.floor(x);
    const iy = Math.floor(y);
    if (ix < 0 || iy < 0 || ix >= l.width || iy >= l.height) return 0;
    return l.labels[iy * l.width + ix];
  }

  private updateReadout(): void {
    const p = this.pointer;
    const f = this.frame;
    if (p === null || f === null) {
      this.readout.textContent = f === null ? 'waiting for the first preview…' : `zoom ${(this.view.scale * 100).toFixed(0)} %`;
      return;
    }
    const { width, height, lo, hi } = f.header;
    const ix = Math.floor(p.x);
    const iy = Math.floor(p.y);
    if (ix < 0 || iy < 0 || ix >= this.world.w || iy >= this.world.h) {
      this.readout.textContent = `zoom ${(this.view.scale * 100).toFixed(0)} %`;
      return;
    }
    const px = Math.min(width - 1, Math.floor((ix * width) / this.world.w));
    const py = Math.min(height - 1, Math.floor((iy * height) / this.world.h));
    const b = f.pixels[py * width + px];
    const v = lo !== null && hi !== null ? valueOfByte(b, lo, hi) : NaN;
    const id = this.objectAt(p.x, p.y);
    const value = Number.isFinite(v) ? `≈ ${v.toPrecision(5)}` : 'no value';
    this.readout.textContent = `x ${ix} y ${iy} · ${value} (8-bit ${b})${id ? ` · object ${id}` : ''}`;
  }

  private onWheel(e: WheelEvent): void {
    e.preventDefault();
    const r = this.canvas.getBoundingClientRect();
    const dpr = this.canvas.width / Math.max(1, r.width);
    this.zoom(Math.pow(1.2, -Math.sign(e.deltaY)), (e.clientX - r.left) * dpr, (e.clientY - r.top) * dpr);
  }

  private onDown(e: PointerEvent): void {
    this.canvas.setPointerCapture(e.pointerId);
    this.drag = { x: e.clientX, y: e.clientY, ox: this.view.ox, oy: this.view.oy, moved: false };
  }

  private onMove(e: PointerEvent): void {
    this.pointer = this.toWorld(e);
    const d = this.drag;
    if (d !== null) {
      const dx = e.clientX - d.x;
      const dy = e.clientY - d.y;
      if (Math.abs(dx) + Math.abs(dy) > 3) d.moved = true;
      if (d.moved) {
        const r = this.canvas.getBoundingClientRect();
        const dpr = this.canvas.width / Math.max(1, r.width);
        this.view = { ...this.view, ox: d.ox + dx * dpr, oy: d.oy + dy * dpr };
        this.fitted = false;
        this.canvas.classList.add('panning');
        this.draw();
      }
    }
    this.updateReadout();
  }

  private onUp(e: PointerEvent): void {
    const d = this.drag;
    this.drag = null;
    this.canvas.classList.remove('panning');
    if (d !== null && !d.moved) {
      const w = this.toWorld(e);
      const id = this.objectAt(w.x, w.y);
      if (id) this.onSelect(id);
    }
  }
}
