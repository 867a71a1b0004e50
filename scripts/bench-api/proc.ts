/**
 * Memory and CPU time of processes, from /proc (Linux). CPU time per request does not depend on
 * how busy the rest of the machine is, so it is the figure to compare on a shared machine.
 */
import { readdirSync, readFileSync, rmSync } from "node:fs";

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

/** The port an API process (`src/cli.ts api`) says it listens on in its log file; throws if it exits or takes a minute. */
export async function listeningPort(logFile: string, child: { exitCode: number | null }): Promise<number> {
  for (const started = Date.now(); ; await Bun.sleep(50)) {
    let log = "";
    try {
      log = readFileSync(logFile, "utf8");
    } catch {}
    const m = /"msg":"api listening".*"url":"http:\/\/localhost:(\d+)"/.exec(log);
    if (m) return Number(m[1]);
    if (child.exitCode !== null || Date.now() - started > 60_000) throw new Error("the API did not start");
  }
}

/** Logs in over HTTP as a client would; the access token. */
export async function accessToken(base: string, who: { username: string; password: string }): Promise<string> {
  const login = await fetch(`${base}/api/v1/auth/login`, {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify(who),
  });
  if (login.status !== 200) throw new Error(`login answered ${login.status}`);
  return ((await login.json()) as { data: { access_token: string } }).data.access_token;
}

/** A benchmark's end: its child processes stopped, its database closed and stopped, its data directory removed. */
export async function tearDown(t: {
  children: Array<{ kill(signal?: NodeJS.Signals): void; exited: Promise<number> }>;
  db: { destroy(): Promise<void> };
  database: { stop(): Promise<void> };
  dataDir: string;
}): Promise<void> {
  for (const child of t.children) child.kill("SIGTERM");
  await Promise.all(t.children.map((c) => c.exited));
  await t.db.destroy();
  await t.database.stop();
  rmSync(t.dataDir, { recursive: true, force: true });
}
