/**
 * The dashboard end to end in a real browser: Debian's Chromium driven by
 * playwright-core (which downloads no browser), against the real server on
 * the simulated microscope. Every wait is for a condition, bounded; nothing
 * is timed. Under CI (CI=true) a missing /usr/bin/chromium fails the run;
 * elsewhere these tests are skipped with a notice.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { chromium, type BrowserContext, type Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

const CHROMIUM = '/usr/bin/chromium';
const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const OUTPUT = join(ROOT, 'test/output');
const SOURCE = 'synthetic:?width=256&height=256&fps=30&objects=30';
const HAVE_BROWSER = existsSync(CHROMIUM);
const IN_CI = process.env.CI === 'true';
const WAIT = { timeout: 30_000, polling: 100 };

if (!HAVE_BROWSER && !IN_CI) {
  process.stderr.write(`dashboard browser tests skipped: ${CHROMIUM} is missing (install Debian's package: apt-get install chromium)\n`);
}

interface Server {
  child: ChildProcess;
  url: string;
  port: number;
  stderr: string[];
}

/** `scopestream run` on the simulated microscope; resolves once it prints where it serves. */
function startServer(port: number, extra: string[] = []): Promise<Server> {
  const child = spawn(process.execPath, [join(ROOT, 'bin/scopestream.js'), 'run', '--source', SOURCE, '--port', String(port), ...extra], {
    cwd: ROOT,
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  const stderr: string[] = [];
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`the server did not say it was serving within 30 s:\n${stderr.join('')}`));
    }, 30_000);
    child.stderr!.setEncoding('utf8');
    child.stderr!.on('data', (chunk: string) => {
      stderr.push(chunk);
      if (stderr.length > 200) stderr.splice(0, stderr.length - 200);
      const m = /scopestream: serving (http:\/\/[^\s]+)/.exec(stderr.join(''));
      if (m) {
        clearTimeout(timer);
        const url = m[1];
        resolve({ child, url, port: Number(new URL(url).port), stderr });
      }
    });
    child.once('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`the server exited (${code}) before serving:\n${stderr.join('')}`));
    });
  });
}

async function stopServer(s: Server | null): Promise<void> {
  if (s === null || s.child.exitCode !== null || s.child.signalCode !== null) return;
  const exited = new Promise<void>((r) => s.child.once('exit', () => r()));
  s.child.kill('SIGTERM');
  const timer = setTimeout(() => s.child.kill('SIGKILL'), 10_000);
  await exited;
  clearTimeout(timer);
}

/** A summary of the image canvas's pixels: a hash, and how much they vary. */
function canvasSummary(page: Page): Promise<{ hash: number; std: number; levels: number }> {
  return page.evaluate(() => {
    const c = document.getElementById('image')!;
    const d = c.getContext('2d')!.getImageData(0, 0, c.width, c.height).data;
    let hash = 2166136261;
    let s = 0;
    let ss = 0;
    const levels = new Set<number>();
    const n = d.length / 4;
    for (let i = 0; i < d.length; i += 4) {
      const v = d[i] + d[i + 1] + d[i + 2];
      hash = Math.imul(hash ^ v, 16777619);
      s += v;
      ss += v * v;
      levels.add(v);
    }
    const mean = s / n;
    return { hash: hash >>> 0, std: Math.sqrt(Math.max(0, ss / n - mean * mean)), levels: levels.size };
  });
}

const data = (page: Page, selector: string, key: string) =>
  page.evaluate(([sel, k]) => document.querySelector(sel)?.dataset[k] ?? null, [selector, key] as const);

// The page's globals, typed just enough for the page.evaluate callbacks (this
// file is type-checked with the Node libraries, without the DOM's).
interface PageElement {
  dataset: Record<string, string | undefined>;
  innerText: string;
  classList: { contains(c: string): boolean };
  width: number;
  height: number;
  getContext(kind: '2d'): { getImageData(x: number, y: number, w: number, h: number): { data: Uint8ClampedArray } } | null;
}
declare const document: {
  body: PageElement;
  getElementById(id: string): PageElement | null;
  querySelector(selector: string): PageElement | null;
  querySelectorAll(selector: string): { length: number };
};
declare const sessionStorage: { getItem(key: string): string | null };

const needBrowser = HAVE_BROWSER || IN_CI;

describe.skipIf(!needBrowser)('dashboard in Chromium against the real server', () => {
  let server: Server | null = null;
  let context: BrowserContext | null = null;
  let page: Page;
  let profile: string;
  const pageErrors: string[] = [];

  beforeAll(async () => {
    if (!HAVE_BROWSER) throw new Error(`${CHROMIUM} is missing: install Debian's chromium (apt-get install chromium); .ci/run does`);
    // The server serves dist/: make sure it is current.
    const b = spawnSync(process.execPath, [join(ROOT, 'tools/build.mjs')], { cwd: ROOT, encoding: 'utf8' });
    if (b.status !== 0) throw new Error(`build failed:\n${b.stdout}${b.stderr}`);
    mkdirSync(OUTPUT, { recursive: true });
    profile = mkdtempSync(join(tmpdir(), 'scopestream-chromium-'));
    server = await startServer(0);
    // A fresh profile (user-data dir) for every run.
    context = await chromium.launchPersistentContext(profile, {
      executablePath: CHROMIUM,
      args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update', '--no-first-run'],
      viewport: { width: 1280, height: 720 },
      acceptDownloads: true,
    });
    page = context.pages()[0] ?? (await context.newPage());
    page.on('pageerror', (e) => pageErrors.push(e.message));
    await page.goto(server.url);
    await page.waitForFunction(() => document.body.dataset.connection === 'open', null, WAIT);
  });

  afterAll(async () => {
    await context?.close();
    await stopServer(server);
    if (profile) rmSync(profile, { recursive: true, force: true });
  });

  it('shows the live image: not blank, and it changes', async () => {
    await page.waitForFunction(() => document.getElementById('image')!.dataset.frame !== undefined, null, WAIT);
    const first = await canvasSummary(page);
    expect(first.std).toBeGreaterThan(5);
    expect(first.levels).toBeGreaterThan(20);
    const seq = await data(page, '#image', 'frame');
    await page.waitForFunction((s) => document.getElementById('image')!.dataset.frame !== s, seq, WAIT);
    await expect.poll(async () => (await canvasSummary(page)).hash, { timeout: 30_000 }).not.toBe(first.hash);
  });

  it('plots drift: the plot gains points', async () => {
    await page.waitForFunction(() => Number(document.getElementById('plot-drift')!.dataset.rows ?? 0) > 0, null, WAIT);
    const rows = Number(await data(page, '#plot-drift', 'rows'));
    await page.waitForFunction((r) => Number(document.getElementById('plot-drift')!.dataset.rows) >= r + 10, rows, WAIT);
    expect(Number(await data(page, '#plot-drift', 'points'))).toBeGreaterThan(0);
  });

  it('lists the objects with values that change', async () => {
    await page.waitForFunction(() => document.querySelectorAll('#objects tbody tr[data-id]').length >= 5, null, WAIT);
    const text = await page.evaluate(() => document.querySelector('#objects tbody')!.innerText);
    expect(text).toMatch(/\d/);
    await page.waitForFunction((t) => document.querySelector('#objects tbody')!.innerText !== t, text, WAIT);
  });

  it('selects an object by clicking its row and plots its trace', async () => {
    const row = page.locator('#objects tbody tr[data-id]').nth(2);
    const id = await row.getAttribute('data-id');
    await row.click();
    await page.waitForFunction((i) => document.getElementById('plot-traces')!.dataset.series === i, id, WAIT);
    await page.waitForFunction(() => Number(document.getElementById('plot-traces')!.dataset.points ?? 0) > 1, null, WAIT);
    await expect.poll(() => page.locator('#plot-traces .u-legend').innerText(), { timeout: 30_000 }).toContain(`#${id}`);
    await page.waitForFunction((i) => document.querySelector(`#objects tbody tr[data-id="${i}"]`)?.classList.contains('selected') === true, id, WAIT);
  });

  it('pause freezes the display while messages keep coming; resume restarts it', async () => {
    await page.keyboard.press('Space');
    await page.waitForFunction(() => document.body.dataset.paused === 'true', null, WAIT);
    const frame = await data(page, '#image', 'frame');
    const rows = await data(page, '#plot-drift', 'rows');
    const table = await data(page, 'body', 'tableUpdates');
    const received = Number(await data(page, 'body', 'framesReceived'));
    const pixels = (await canvasSummary(page)).hash;
    // A second of frames arrives while paused…
    await page.waitForFunction((n) => Number(document.body.dataset.framesReceived) >= n + 30, received, WAIT);
    // …and none of it reached the display.
    expect(await data(page, '#image', 'frame')).toBe(frame);
    expect(await data(page, '#plot-drift', 'rows')).toBe(rows);
    expect(await data(page, 'body', 'tableUpdates')).toBe(table);
    expect((await canvasSummary(page)).hash).toBe(pixels);
    await page.click('#pause');
    await page.waitForFunction(() => document.body.dataset.paused === 'false', null, WAIT);
    await page.waitForFunction((f) => document.getElementById('image')!.dataset.frame !== f, frame, WAIT);
    await page.waitForFunction((r) => Number(document.getElementById('plot-drift')!.dataset.rows) > Number(r), rows, WAIT);
  });

  it('keyboard shortcuts, colour maps and the template reset work', async () => {
    await page.locator('#image').click({ position: { x: 5, y: 5 } }); // focus the page, not a field
    await page.keyboard.press('o');
    expect(await page.locator('#outlines').isChecked()).toBe(false);
    await page.keyboard.press('o');
    expect(await page.locator('#outlines').isChecked()).toBe(true);
    await page.selectOption('#contrast-mode', 'manual');
    await page.waitForFunction(() => document.body.dataset.contrast === 'manual', null, WAIT);
    await page.locator('#image').click({ position: { x: 5, y: 5 } });
    await page.keyboard.press('c');
    await page.waitForFunction(() => document.body.dataset.contrast === 'auto', null, WAIT);
    const coloured = () =>
      page.evaluate(() => {
        const c = document.getElementById('image')!;
        const d = c.getContext('2d')!.getImageData(0, 0, c.width, c.height).data;
        let n = 0;
        for (let i = 0; i < d.length; i += 4) if (Math.abs(d[i] - d[i + 2]) > 30) n++;
        return n;
      });
    await page.selectOption('#colormap', 'viridis');
    await expect.poll(coloured, { timeout: 30_000 }).toBeGreaterThan(1000);
    await page.selectOption('#colormap', 'gray');
    await page.click('#reset-template');
    await expect.poll(() => page.locator('#toast').innerText(), { timeout: 30_000 }).toContain('done: resetTemplate');
  });

  it('downloads the object table and the drift trace as CSV', async () => {
    const [objects] = await Promise.all([page.waitForEvent('download', WAIT), page.click('#csv-objects')]);
    const text = readFileSync((await objects.path())!, 'utf8');
    const lines = text.trim().split(/\r\n/);
    expect(lines[0]).toMatch(/^seq,t,id,/);
    expect(lines[0]).toContain('Trace_DeltaFOverF');
    expect(lines.length).toBeGreaterThan(5);
    expect(lines[1]).toMatch(/^\d+,[\d.]+,\d+,/);
    const width = lines[0].split(',').length;
    for (const l of lines.slice(1)) expect(l.split(',').length).toBe(width);
    const [drift] = await Promise.all([page.waitForEvent('download', WAIT), page.click('#csv-drift')]);
    const d = readFileSync((await drift.path())!, 'utf8').trim().split(/\r\n/);
    expect(d[0]).toBe('seq,t,dx,dy,peak,quality,ok,truth_dx,truth_dy,error_dx,error_dy,lc_median,lc_p10');
    expect(d.length).toBeGreaterThan(10);
  });

  it('draws outlines from /api/labels and saves a screenshot', async () => {
    await page.waitForFunction(() => document.querySelectorAll('#objects tbody tr[data-id]').length > 0, null, WAIT);
    await page.screenshot({ path: join(OUTPUT, 'dashboard.png') });
    expect(existsSync(join(OUTPUT, 'dashboard.png'))).toBe(true);
  });

  it('reconnects by itself after a server restart on the same port', async () => {
    const session = await data(page, 'body', 'session');
    const port = server!.port;
    await stopServer(server);
    server = null;
    await page.waitForFunction(() => document.body.dataset.connection !== 'open', null, WAIT);
    expect(await page.locator('#banner').isVisible()).toBe(true);
    server = await startServer(port);
    await page.waitForFunction(() => document.body.dataset.connection === 'open', null, WAIT);
    await page.waitForFunction((s) => document.body.dataset.session !== s, session, WAIT);
    const frame = await data(page, '#image', 'frame');
    await page.waitForFunction((f) => document.getElementById('image')!.dataset.frame !== f, frame, WAIT);
    await page.waitForFunction(() => Number(document.getElementById('plot-drift')!.dataset.rows ?? 0) > 0, null, WAIT);
    expect(await page.locator('#banner').isVisible()).toBe(false);
  });

  it('takes a token from the URL once, keeps it for the session and clears it from the address bar', async () => {
    const port = server!.port;
    await stopServer(server);
    server = await startServer(port, ['--token', 's3cret']);
    const p = await context!.newPage();
    await p.goto(`${server.url}?token=s3cret`);
    await p.waitForFunction(() => document.body.dataset.connection === 'open', null, WAIT);
    expect(new URL(p.url()).searchParams.has('token')).toBe(false);
    expect(await p.evaluate(() => sessionStorage.getItem('scopestream.token'))).toBe('s3cret');
    await p.waitForFunction(() => document.getElementById('image')!.dataset.frame !== undefined, null, WAIT);
    await p.close();
  });

  it('raised no page errors', () => {
    expect(pageErrors).toEqual([]);
  });
});
