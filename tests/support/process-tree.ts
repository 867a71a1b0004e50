// The descendants of a process, read from /proc (Linux): how a chaos test finds the ffmpeg a
// worker process spawned, to kill it.
import { readdirSync, readFileSync } from "node:fs";

export interface ProcInfo {
  pid: number;
  ppid: number;
  /** The executable's name as the kernel keeps it (15 characters at most). */
  comm: string;
}

function snapshot(): ProcInfo[] {
  const all: ProcInfo[] = [];
  for (const name of readdirSync("/proc")) {
    if (!/^\d+$/.test(name)) continue;
    try {
      const stat = readFileSync(`/proc/${name}/stat`, "utf8");
      // "pid (comm) state ppid …": comm may hold spaces and parentheses, so split at the last ")".
      const close = stat.lastIndexOf(")");
      const comm = stat.slice(stat.indexOf("(") + 1, close);
      const ppid = Number(stat.slice(close + 2).split(" ")[1]);
      all.push({ pid: Number(name), ppid, comm });
    } catch {
      // Gone while we looked.
    }
  }
  return all;
}

/** Every live descendant of `pid` (children, their children, …). */
export function descendantsOf(pid: number): ProcInfo[] {
  const all = snapshot();
  const found: ProcInfo[] = [];
  const parents = new Set([pid]);
  for (let grew = true; grew; ) {
    grew = false;
    for (const p of all)
      if (parents.has(p.ppid) && !parents.has(p.pid)) {
        parents.add(p.pid);
        found.push(p);
        grew = true;
      }
  }
  return found;
}
