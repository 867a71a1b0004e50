/**
 * Memory and CPU time of processes, from /proc (Linux). CPU time per request does not depend on
 * how busy the rest of the machine is, so it is the figure to compare on a shared machine.
 */
import { readdirSync, readFileSync } from "node:fs";

const TICK_MS = 10; // USER_HZ is 100 on Linux

export function rssMb(pid: number): number {
  try {
    return Number(/VmRSS:\s+(\d+)/.exec(readFileSync(`/proc/${pid}/status`, "utf8"))?.[1] ?? 0) / 1024;
  } catch {
    return 0;
  }
}

/** utime, stime and the reaped children's cutime, cstime of one process, with its parent pid. */
function stat(pid: number): { ppid: number; ms: number } | null {
  try {
    const text = readFileSync(`/proc/${pid}/stat`, "utf8");
    // Fields after the command name, which sits in parentheses and may contain spaces.
    const f = text.slice(text.lastIndexOf(")") + 2).split(" ");
    const ticks = Number(f[11]) + Number(f[12]) + Number(f[13]) + Number(f[14]);
    return { ppid: Number(f[1]), ms: ticks * TICK_MS };
  } catch {
    return null;
  }
}

/** CPU milliseconds a process (and the children it reaped) used so far. */
export function cpuMs(pid: number): number {
  return stat(pid)?.ms ?? 0;
}

/** CPU milliseconds of a process and all its live descendants (a PostgreSQL server and its backends). */
export function treeCpuMs(root: number): number {
  const children = new Map<number, number[]>();
  const ms = new Map<number, number>();
  for (const entry of readdirSync("/proc")) {
    if (!/^\d+$/.test(entry)) continue;
    const s = stat(Number(entry));
    if (!s) continue;
    ms.set(Number(entry), s.ms);
    children.set(s.ppid, [...(children.get(s.ppid) ?? []), Number(entry)]);
  }
  let total = 0;
  const stack = [root];
  while (stack.length) {
    const pid = stack.pop()!;
    total += ms.get(pid) ?? 0;
    stack.push(...(children.get(pid) ?? []));
  }
  return total;
}
