// A real API process (`bun src/cli.ts api`) on a test's database and data directory, listening
// on a port the kernel chose (PORT=0): the port is read from its "api listening" log line.
import { afterAll } from "bun:test";
import { GENEROUS_REQUEST_LIMITS } from "./context.ts";

export interface ApiProcess {
  readonly proc: Bun.Subprocess<"ignore", "pipe", "pipe">;
  readonly base: string;
  output(): string;
  kill9(): Promise<void>;
  stop(): Promise<void>;
}

const started = new Set<Bun.Subprocess>();
afterAll(() => {
  for (const p of started) if (p.exitCode === null && p.signalCode === null) p.kill(9);
});

const CLI = new URL("../../src/cli.ts", import.meta.url).pathname;

export async function spawnApi(
  ctx: { url: string; config: { dataDir: string } },
  env: Record<string, string> = {},
): Promise<ApiProcess> {
  const proc = Bun.spawn([process.execPath, CLI, "api"], {
    env: {
      ...process.env,
      DATABASE_URL: ctx.url,
      DATA_DIR: ctx.config.dataDir,
      PORT: "0",
      HOST: "127.0.0.1",
      LOG_LEVEL: "info",
      RATE_LIMIT_AUTH_PER_MIN: "100000",
      RATE_LIMIT_USER_PER_MIN: "100000",
      ...GENEROUS_REQUEST_LIMITS,
      ...env,
    },
    stdin: "ignore",
    stdout: "pipe",
    stderr: "pipe",
  });
  started.add(proc);
  let out = "";
  const decoder = new TextDecoder();
  const drain = async (stream: ReadableStream<Uint8Array>, onText: (s: string) => void) => {
    for await (const chunk of stream as unknown as AsyncIterable<Uint8Array>) onText(decoder.decode(chunk));
  };
  const listening = new Promise<number>((resolve, reject) => {
    const look = (s: string) => {
      out += s;
      const m = /"msg":"api listening"[^\n]*"url":"http:\/\/localhost:(\d+)"/.exec(out);
      if (m) resolve(Number(m[1]));
    };
    void drain(proc.stdout, look);
    void drain(proc.stderr, look);
    void proc.exited.then((code) => reject(new Error(`api process exited (${code}) before listening:\n${out}`)));
  });
  let timer: ReturnType<typeof setTimeout> | undefined;
  const deadline = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`api process not listening after 20 s:\n${out}`)), 20_000);
  });
  const port = await Promise.race([listening, deadline]).finally(() => clearTimeout(timer));
  return {
    proc,
    base: `http://127.0.0.1:${port}`,
    output: () => out,
    async kill9() {
      proc.kill(9);
      await proc.exited;
    },
    async stop() {
      if (proc.exitCode === null && proc.signalCode === null) proc.kill("SIGTERM");
      await proc.exited;
    },
  };
}
