import { availableParallelism, getPriority, setPriority } from 'node:os';

/**
 * The scheduling priority (nice value) of the calling thread: what was asked
 * (`pipeline.priority`), what the thread runs at, and why they differ.
 *
 * A pipeline worker raises its own thread above the main thread and other
 * processes, so that a frame being registered is not preempted by the
 * sockets' sends or by local subscribers: on a machine whose cores are all
 * busy that preemption is much of the latency tail (docs/design.md,
 * "Decisions"). On Linux each thread has its own nice value
 * and setpriority(PRIO_PROCESS, 0) changes only the calling thread's; on other
 * systems it would change the whole process's, so the request is not applied
 * there. Raising it needs CAP_SYS_NICE (root has it, unless a container
 * drops it) or an RLIMIT_NICE that allows it; without either the thread
 * keeps its priority and `error` says so.
 */
export interface ThreadPriority {
  requested: number | null;
  /** The thread's nice value now; null when it cannot be read. */
  applied: number | null;
  error: string | null;
}

/**
 * `pipeline.priority: auto`: nice −10 with two cores or more. With one, a
 * worker busy all the time (a replay at full speed) would leave the main
 * thread, which serves the sockets, little of it: left as started.
 */
export function resolvePriority(setting: 'auto' | number | null, cores = availableParallelism()): number | null {
  if (setting !== 'auto') return setting;
  return cores >= 2 ? -10 : null;
}

export function setThisThreadPriority(requested: number | null, platform: string = process.platform): ThreadPriority {
  const current = (): number | null => {
    try {
      return getPriority(0);
    } catch {
      return null;
    }
  };
  if (requested === null) return { requested, applied: current(), error: null };
  if (platform !== 'linux') return { requested, applied: current(), error: `not applied: per-thread priorities are set only on Linux (this is ${platform})` };
  try {
    setPriority(0, requested);
    return { requested, applied: current(), error: null };
  } catch (e) {
    // Node reports it as a SystemError (ERR_SYSTEM_ERROR) whose info.code is the errno name.
    const code = (e as { info?: { code?: string } }).info?.code ?? (e as NodeJS.ErrnoException).code ?? '';
    const why = code === 'EACCES' || code === 'EPERM' ? 'not permitted (raising it needs CAP_SYS_NICE or an RLIMIT_NICE that allows it)' : (e as Error).message;
    return { requested, applied: current(), error: `not applied: ${why}` };
  }
}
