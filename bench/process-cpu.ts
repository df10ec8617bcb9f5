// CPU time used by the processes under test (from /proc/<pid>/stat), so a
// report can say where a phase's time went: API server, etcd, operator or the
// benchmark client itself. Linux only; elsewhere the figures are left out.
import { readFileSync } from 'node:fs';
import type { BenchResult } from './bench-suite.js';

const TICKS_PER_SECOND = 100; // USER_HZ: 100 on every Linux architecture Node supports

/** User and system CPU seconds of `pid` so far, or undefined if /proc cannot tell. */
export function cpuTimes(pid: number): { user: number; system: number } | undefined {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    // Fields after the command name (which may hold spaces), from field 3 (state) on.
    const rest = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    const utime = Number(rest[11]);
    const stime = Number(rest[12]);
    return Number.isFinite(utime) && Number.isFinite(stime) ? { user: utime / TICKS_PER_SECOND, system: stime / TICKS_PER_SECOND } : undefined;
  } catch {
    return undefined;
  }
}

/** User + system CPU seconds of `pid` so far, or undefined if /proc cannot tell. */
export function cpuSeconds(pid: number): number | undefined {
  const t = cpuTimes(pid);
  return t === undefined ? undefined : t.user + t.system;
}

/** The machine's idle and total CPU ticks so far (all cores, from /proc/stat), or undefined. */
export function machineTicks(): { idle: number; total: number } | undefined {
  try {
    const fields = (readFileSync('/proc/stat', 'utf8').split('\n')[0] ?? '').trim().split(/\s+/).slice(1).map(Number);
    if (fields.length < 5 || fields.some((n) => !Number.isFinite(n))) return undefined;
    // idle + iowait count as idle.
    return { idle: (fields[3] as number) + (fields[4] as number), total: fields.reduce((a, b) => a + b, 0) };
  } catch {
    return undefined;
  }
}

export type CpuSnapshot = Map<string, number>;

export function snapshotCpu(pids: Record<string, number | undefined>): CpuSnapshot {
  const out: CpuSnapshot = new Map();
  for (const [name, pid] of Object.entries(pids)) {
    const s = pid === undefined ? undefined : cpuSeconds(pid);
    if (s !== undefined) out.set(name, s);
  }
  return out;
}

/** CPU seconds per process between two snapshots, for processes in both. */
export function cpuBetween(before: CpuSnapshot, after: CpuSnapshot): Array<{ name: string; seconds: number }> {
  const out: Array<{ name: string; seconds: number }> = [];
  for (const [name, a] of after) {
    const b = before.get(name);
    if (b !== undefined) out.push({ name, seconds: a - b });
  }
  return out;
}

/** One result per process: CPU seconds it used during a phase of `wallS` seconds. */
export function cpuResults(phase: string, before: CpuSnapshot, after: CpuSnapshot, wallS: number): BenchResult[] {
  return cpuBetween(before, after).map(({ name, seconds }) => ({
    name: `CPU during ${phase}: ${name}`, value: Math.round(seconds * 100) / 100, unit: 's',
    note: `${Math.round((seconds / wallS) * 100)} % of one core over ${Math.round(wallS * 10) / 10} s`,
  }));
}
