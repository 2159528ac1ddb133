import * as fs from 'node:fs';

/** CAP_SYS_NICE's bit in the capability sets of /proc/PID/status (linux/capability.h). */
const CAP_SYS_NICE = 23n;

/**
 * Whether this process holds CAP_SYS_NICE in its effective set (Linux), so
 * that raising a thread's priority must succeed. False elsewhere or when it
 * cannot be read.
 */
export function mayRaisePriority(): boolean {
  try {
    const m = /^CapEff:\s*([0-9a-f]+)$/m.exec(fs.readFileSync('/proc/self/status', 'utf8'));
    return m !== null && ((BigInt('0x' + m[1]) >> CAP_SYS_NICE) & 1n) === 1n;
  } catch {
    return false;
  }
}
