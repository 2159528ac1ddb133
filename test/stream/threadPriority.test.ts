/**
 * pipeline.priority: each pipeline worker sets its own thread's nice value
 * (and only its own: the main thread keeps its priority), reports what it got,
 * and says why when it may not raise it (no CAP_SYS_NICE). Checked on the
 * threads themselves, in /proc.
 */
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { pathToFileURL } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';
import { defaultConfig } from '../../src/config/schema.js';
import { openSource } from '../../src/ingest/open.js';
import { openStage } from '../../src/stream/stage.js';
import { resolvePriority, setThisThreadPriority } from '../../src/stream/threadPriority.js';
import { mayRaisePriority } from '../helpers/capabilities.js';

const linux = process.platform === 'linux';
const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'scopestream-prio-'));
afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

/** The nice value of each thread of this process (field 19 of /proc/self/task/TID/stat), by thread id. */
function threadNice(): Map<number, number> {
  const out = new Map<number, number>();
  for (const tid of fs.readdirSync('/proc/self/task')) {
    const stat = fs.readFileSync(`/proc/self/task/${tid}/stat`, 'utf8');
    // Fields after the command name, which is in parentheses and may hold spaces.
    const rest = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    out.set(Number(tid), Number(rest[16]));
  }
  return out;
}

const URI = 'synthetic:?width=64&height=64&fps=100&objects=4&frames=20&seed=5';

describe('resolvePriority', () => {
  it('auto is nice -10 with two cores or more and leaves the threads alone with one; a value is kept', () => {
    expect(resolvePriority('auto', 1)).toBeNull();
    expect(resolvePriority('auto', 2)).toBe(-10);
    expect(resolvePriority('auto', 64)).toBe(-10);
    expect(resolvePriority(null, 8)).toBeNull();
    expect(resolvePriority(5, 1)).toBe(5);
    expect(resolvePriority(-3, 8)).toBe(-3);
  });
});

describe('setThisThreadPriority', () => {
  it('leaves the thread alone when nothing is asked, and reads what it runs at', () => {
    const before = os.getPriority(0);
    expect(setThisThreadPriority(null)).toEqual({ requested: null, applied: before, error: null });
    expect(os.getPriority(0)).toBe(before);
  });

  it('does not apply a request off Linux, where the call would change the whole process', () => {
    const before = os.getPriority(0);
    const p = setThisThreadPriority(5, 'darwin');
    expect(p.applied).toBe(before);
    expect(p.error).toBe('not applied: per-thread priorities are set only on Linux (this is darwin)');
    expect(os.getPriority(0)).toBe(before);
  });
});

/**
 * Opens a stage of `workers` worker threads asking for `asked`, and checks
 * that each worker thread (new in /proc) runs at it, reports it, and that the
 * main thread kept `mainBefore`.
 */
async function expectWorkersAt(workers: 1 | 2, asked: number, mainBefore: number): Promise<void> {
  const config = defaultConfig();
  config.source = URI;
  config.pipeline.workers = workers;
  config.pipeline.priority = asked;
  const source = openSource(URI, config);
  const info = await source.open();
  const threadsBefore = threadNice();
  const stage = await openStage(config, info, 'auto', () => undefined, () => undefined);
  try {
    expect(stage.priority).toEqual(Array.from({ length: workers }, () => ({ requested: asked, applied: asked, error: null })));
    const now = threadNice();
    expect([...now].filter(([tid, nice]) => !threadsBefore.has(tid) && nice === asked)).toHaveLength(workers);
    expect(now.get(process.pid)).toBe(mainBefore);
    expect(os.getPriority(0)).toBe(mainBefore);
  } finally {
    await stage.close();
    await source.close();
  }
}

describe.runIf(linux)('pipeline.priority on the worker threads', () => {
  it.each([1, 2] as const)('with %i worker(s): each worker thread runs at the value asked, the main thread at its own', async (workers) => {
    // Lower than this thread's: that needs no privilege, so this holds for any user (raising is checked below).
    const mainBefore = os.getPriority(0);
    await expectWorkersAt(workers, Math.min(19, mainBefore + 3), mainBefore);
  });

  it.runIf(mayRaisePriority())('with CAP_SYS_NICE a raise is applied to the worker thread only', async () => {
    const mainBefore = os.getPriority(0);
    await expectWorkersAt(1, Math.max(-20, mainBefore - 3), mainBefore);
  });

  it('without the right to raise it, a raise is refused: the worker keeps its priority and says why', () => {
    const root = process.getuid?.() === 0;
    // The child may not raise: root loses CAP_SYS_NICE (its bounding set), and for anyone the nice
    // limit (RLIMIT_NICE) is set to allow no raise either.
    const limit = ['prlimit', '--nice=0:0', process.execPath];
    const cmd = root ? ['setpriv', '--bounding-set=-sys_nice', '--inh-caps=-sys_nice', ...limit] : limit;
    const dist = (p: string): string => pathToFileURL(path.resolve(__dirname, '../../dist', p)).href;
    const child = path.join(dir, 'child.mjs');
    fs.writeFileSync(
      child,
      `import { defaultConfig } from ${JSON.stringify(dist('config/schema.js'))};
import { openSource } from ${JSON.stringify(dist('ingest/open.js'))};
import { openStage } from ${JSON.stringify(dist('stream/stage.js'))};
import { getPriority } from 'node:os';
const config = defaultConfig();
config.source = ${JSON.stringify(URI)};
config.pipeline.workers = 1;
config.pipeline.priority = getPriority(0) - 5;
const source = openSource(config.source, config);
const info = await source.open();
const stage = await openStage(config, info, 'auto', () => {}, () => {});
process.stdout.write(JSON.stringify({ main: getPriority(0), workers: stage.priority }));
await stage.close();
await source.close();
`,
    );
    const r = spawnSync(cmd[0], [...cmd.slice(1), child], { encoding: 'utf8', timeout: 60_000 });
    expect(r.error, `${cmd[0]} (util-linux) could not be run`).toBeUndefined();
    expect(r.status, r.stderr).toBe(0);
    const { main, workers } = JSON.parse(r.stdout) as { main: number; workers: unknown };
    expect(workers).toEqual([{ requested: main - 5, applied: main, error: 'not applied: not permitted (raising it needs CAP_SYS_NICE or an RLIMIT_NICE that allows it)' }]);
  });
});
