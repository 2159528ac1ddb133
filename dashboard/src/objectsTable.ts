/**
 * The objects table: sortable by any column, filterable, a ΔF/F sparkline
 * per row, click to select. Only the rows in view are in the DOM (fixed row
 * height), so 500 objects cost no more than the 30 visible ones.
 */
import { parseFilter, sortRows, type Cell, type TableData } from './table.js';
import { TRACE_COLOURS } from './plots.js';

const ROW_H = 21;
export const DEFAULT_COLUMNS = [
  'id',
  'AreaShape_Area',
  'Intensity_MeanIntensity',
  'Intensity_IntegratedIntensity',
  'Trace_DeltaFOverF',
  'Trace_Baseline',
  'Trace_EventCount',
  'Track_Speed',
];

function fmt(v: Cell): string {
  if (v === null || Number.isNaN(v)) return '–';
  if (Number.isInteger(v)) return String(v);
  const a = Math.abs(v);
  return a !== 0 && (a >= 1e5 || a < 1e-3) ? v.toExponential(3) : v.toFixed(a >= 100 ? 1 : 3);
}

export class ObjectsTable {
  private data: TableData = { columns: ['id'], rows: [] };
  private view: Cell[][] = [];
  private sort: { column: string; descending: boolean } = { column: 'id', descending: false };
  private filterText = '';
  private visible: Set<string>;
  private selected: number[] = [];
  private headerKey = '';

  constructor(
    private readonly wrap: HTMLElement,
    private readonly table: HTMLTableElement,
    private readonly columnsMenu: HTMLElement,
    private readonly filterError: HTMLElement,
    private readonly count: HTMLElement,
    private readonly onSelect: (id: number) => void,
    private readonly sparkline: (id: number) => number[],
    visible: string[],
    private readonly onColumns: (visible: string[]) => void,
  ) {
    this.visible = new Set(visible);
    wrap.addEventListener('scroll', () => this.renderBody());
    new ResizeObserver(() => this.renderBody()).observe(wrap);
    table.tBodies[0].addEventListener('click', (e) => {
      const tr = (e.target as HTMLElement).closest('tr');
      const id = tr?.dataset.id;
      if (id !== undefined) this.onSelect(Number(id));
    });
    table.tHead!.addEventListener('click', (e) => {
      const th = (e.target as HTMLElement).closest('th');
      const c = th?.dataset.column;
      if (c === undefined) return;
      this.sort = { column: c, descending: this.sort.column === c ? !this.sort.descending : c !== 'id' };
      this.refresh();
    });
  }

  setFilter(text: string): void {
    this.filterText = text;
    this.refresh();
  }

  setSelected(ids: number[]): void {
    this.selected = ids;
    this.renderBody();
  }

  /** New data (at most a few times per second). */
  update(data: TableData): void {
    this.data = data;
    this.refresh();
  }

  /** The rows in the order and filter shown, all columns. */
  shown(): { columns: string[]; rows: Cell[][] } {
    return { columns: this.data.columns, rows: this.view };
  }

  private shownColumns(): number[] {
    return this.data.columns.map((c, i) => [c, i] as const).filter(([c]) => this.visible.has(c)).map(([, i]) => i);
  }

  private refresh(): void {
    const f = parseFilter(this.filterText, this.data.columns);
    this.filterError.hidden = f.ok;
    if (!f.ok) this.filterError.textContent = f.error;
    const rows = f.ok ? this.data.rows.filter(f.test) : this.data.rows.slice();
    const c = Math.max(0, this.data.columns.indexOf(this.sort.column));
    this.view = sortRows(rows, c, this.sort.descending);
    this.count.textContent = `${this.view.length} of ${this.data.rows.length}`;
    this.renderHeader();
    this.renderMenu();
    this.renderBody();
  }

  private renderHeader(): void {
    const cols = this.shownColumns();
    const key = `${cols.join()}|${this.data.columns.join()}|${this.sort.column}|${this.sort.descending}`;
    if (key === this.headerKey) return;
    this.headerKey = key;
    const tr = document.createElement('tr');
    for (const i of cols) {
      const name = this.data.columns[i];
      const th = document.createElement('th');
      th.dataset.column = name;
      th.textContent = name.replace(/^(AreaShape|Intensity|Trace|Location|Correlation|Track)_/, '');
      th.title = `${name} (click to sort)`;
      if (name === this.sort.column) th.className = this.sort.descending ? 'sorted-desc' : 'sorted-asc';
      tr.append(th);
      if (i === 0) {
        const spark = document.createElement('th');
        spark.textContent = 'ΔF/F';
        spark.title = 'ΔF/F over the last frames';
        tr.append(spark);
      }
    }
    this.table.tHead!.replaceChildren(tr);
  }

  private renderMenu(): void {
    const have = [...this.columnsMenu.querySelectorAll('input')].map((i) => i.value).join();
    if (have === this.data.columns.join()) return;
    this.columnsMenu.replaceChildren(
      ...this.data.columns.map((c) => {
        const label = document.createElement('label');
        const box = document.createElement('input');
        box.type = 'checkbox';
        box.value = c;
        box.checked = this.visible.has(c);
        box.disabled = c === 'id';
        box.addEventListener('change', () => {
          if (box.checked) this.visible.add(c);
          else this.visible.delete(c);
          this.onColumns([...this.visible]);
          this.refresh();
        });
        label.append(c, box);
        return label;
      }),
    );
  }

  private renderBody(): void {
    const body = this.table.tBodies[0];
    const cols = this.shownColumns();
    const top = Math.max(0, Math.floor(this.wrap.scrollTop / ROW_H) - 5);
    const end = Math.min(this.view.length, top + Math.ceil(this.wrap.clientHeight / ROW_H) + 10);
    const pad = (h: number) => {
      const tr = document.createElement('tr');
      tr.className = 'pad';
      const td = document.createElement('td');
      td.colSpan = cols.length + 1;
      td.style.height = `${h}px`;
      tr.append(td);
      return tr;
    };
    const rows: HTMLTableRowElement[] = [pad(top * ROW_H)];
    const dpr = window.devicePixelRatio || 1;
    for (let r = top; r < end; r++) {
      const row = this.view[r];
      const id = row[0] as number;
      const tr = document.createElement('tr');
      tr.dataset.id = String(id);
      const k = this.selected.indexOf(id);
      if (k >= 0) tr.className = 'selected';
      for (const i of cols) {
        const td = document.createElement('td');
        if (i === 0 && k >= 0) {
          const sw = document.createElement('span');
          sw.className = 'swatch';
          sw.style.background = TRACE_COLOURS[k % TRACE_COLOURS.length];
          td.append(sw);
        }
        td.append(fmt(row[i]));
        tr.append(td);
        if (i === 0) {
          const td2 = document.createElement('td');
          td2.className = 'spark';
          const c = document.createElement('canvas');
          c.width = 80 * dpr;
          c.height = 16 * dpr;
          drawSpark(c, this.sparkline(id));
          td2.append(c);
          tr.append(td2);
        }
      }
      rows.push(tr);
    }
    rows.push(pad((this.view.length - end) * ROW_H));
    body.replaceChildren(...rows);
  }
}

function drawSpark(c: HTMLCanvasElement, v: number[]): void {
  const ctx = c.getContext('2d')!;
  let min = Infinity;
  let max = -Infinity;
  for (const x of v) {
    if (Number.isNaN(x)) continue;
    if (x < min) min = x;
    if (x > max) max = x;
  }
  if (!(max >= min)) return;
  if (max === min) {
    max += 0.5;
    min -= 0.5;
  }
  const w = c.width;
  const h = c.height;
  ctx.strokeStyle = '#4ee1d0';
  ctx.lineWidth = Math.max(1, w / 80);
  ctx.beginPath();
  let pen = false;
  for (let i = 0; i < v.length; i++) {
    if (Number.isNaN(v[i])) {
      pen = false;
      continue;
    }
    const x = (i / Math.max(1, v.length - 1)) * (w - 2) + 1;
    const y = h - 1 - ((v[i] - min) / (max - min)) * (h - 2);
    if (pen) ctx.lineTo(x, y);
    else ctx.moveTo(x, y);
    pen = true;
  }
  ctx.stroke();
}
