/**
 * Shared by the fault tests: the processes a CLI run started (to kill its
 * ffmpeg), the address it serves, its resident memory, a free loopback port.
 * Everything here reads the real system (/proc, sockets); waits are bounded
 * polls, never measurements.
 */
import * as fs from 'node:fs';
import net from 'node:net';
import { afterAll, afterEach, beforeAll } from 'vitest';
import { type CliOptions, type CliRun, startCli, waitFor } from '../helpers/cli.js';
import { tempDir } from '../helpers/imageWriters.js';
import { TestClient } from '../helpers/server.js';

/** Pids of the live children of `parent` whose command name is `comm` (from /proc). */
export function childPids(parent: number, comm: string): number[] {
  const out: number[] = [];
  for (const name of fs.readdirSync('/proc')) {
    if (!/^\d+$/.test(name)) continue;
    let stat: string;
    try {
      stat = fs.readFileSync(`/proc/${name}/stat`, 'utf8');
    } catch {
      continue; // gone meanwhile
    }
    // pid (comm) state ppid …; comm may contain spaces and parentheses: cut at the last ')'.
    const close = stat.lastIndexOf(')');
    const c = stat.slice(stat.indexOf('(') + 1, close);
    const [state, ppid] = stat.slice(close + 2).split(' ');
    if (Number(ppid) === parent && c === comm && state !== 'Z') out.push(Number(name));
  }
  return out;
}

/** Resident set size of a process in bytes (VmRSS), or null when it is gone. */
export function rssOf(pid: number): number | null {
  try {
    const m = /^VmRSS:\s+(\d+) kB$/m.exec(fs.readFileSync(`/proc/${pid}/status`, 'utf8'));
    return m ? Number(m[1]) * 1024 : null;
  } catch {
    return null;
  }
}

/** The http://127.0.0.1:PORT the CLI run announced on stderr (`scopestream: serving …`). */
export async function servingUrl(run: CliRun): Promise<string> {
  const re = /scopestream: serving (http:\/\/127\.0\.0\.1:\d+)\//;
  await waitFor(() => re.test(run.output.stderr), run, 'the serving line');
  return (re.exec(run.output.stderr) as RegExpExecArray)[1];
}

/** A loopback port that was free a moment ago (bound and released by the OS). */
export async function freePort(): Promise<number> {
  const s = net.createServer();
  await new Promise<void>((resolve) => s.listen(0, '127.0.0.1', () => resolve()));
  const port = (s.address() as net.AddressInfo).port;
  await new Promise<void>((resolve) => s.close(() => resolve()));
  return port;
}

/** Waits for `p`, failing with `what` after `limitMs` (a guard against hangs, not a measurement). */
export async function bounded<T>(p: Promise<T>, limitMs: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const guard = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`gave up waiting for ${what}`)), limitMs);
  });
  try {
    return await Promise.race([p, guard]);
  } finally {
    clearTimeout(timer);
  }
}

/** Kills what is still running of `runs` (SIGKILL) and waits for it to be gone: for afterEach. */
export async function killAll(runs: CliRun[]): Promise<void> {
  await Promise.all(
    runs.splice(0).map(async (r) => {
      if (r.child.exitCode === null && r.child.signalCode === null) {
        // Its ffmpeg first: a child of a killed run would be left behind.
        for (const pid of r.child.pid === undefined ? [] : childPids(r.child.pid, 'ffmpeg')) process.kill(pid, 'SIGKILL');
        r.child.kill('SIGKILL');
      }
      await r.done.catch(() => undefined);
    }),
  );
}

export interface FaultFixtures {
  /** This file's temporary folder (made before its first test, removed after its last). */
  readonly dir: string;
  /** Starts the CLI (default limit 120 s); whatever still runs after a test is killed. */
  start(args: string[], opts?: CliOptions): CliRun;
  /** A WebSocket client, terminated after each test. */
  client(url: string): TestClient;
  /** Something else to undo after each test (a socket, a helper process). */
  afterEach(undo: () => void): void;
}

/** The setup every fault-test file shares: registers its vitest hooks and returns the fixtures. */
export function useFaultFixtures(): FaultFixtures {
  let dir: string | null = null;
  const runs: CliRun[] = [];
  const clients: TestClient[] = [];
  const undo: (() => void)[] = [];
  beforeAll(() => {
    dir = tempDir();
  });
  afterEach(async () => {
    for (const c of clients.splice(0)) c.socket.terminate();
    for (const u of undo.splice(0)) u();
    await killAll(runs);
  });
  afterAll(() => {
    if (dir !== null) fs.rmSync(dir, { recursive: true, force: true });
  });
  return {
    get dir(): string {
      if (dir === null) throw new Error('the fault fixtures folder exists only inside tests');
      return dir;
    },
    start(args, opts = {}) {
      const r = startCli(args, { timeoutMs: 120_000, ...opts });
      runs.push(r);
      return r;
    },
    client(url) {
      const c = new TestClient(url);
      clients.push(c);
      return c;
    },
    afterEach(u) {
      undo.push(u);
    },
  };
}
