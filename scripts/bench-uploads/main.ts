/**
 * `bun run bench:uploads`: memory of the API process while BENCH_UPLOADS (3) uploads of
 * BENCH_UPLOAD_MB (100) MB each stream in at once, side by side with the competitor that buffers
 * them (`buffered-server.ts`: `await request.formData()`, what a framework's body parser does by
 * default), in one run.
 *
 * One API process (`bun src/cli.ts api` on a free loopback port) on a fresh embedded PostgreSQL,
 * with the per-user limit of uploads in flight at BENCH_UPLOADS; a user logs in over HTTP. Each
 * upload is a WAV of silence (a valid recording: sniffed, ffprobed and stored like any other)
 * sent as multipart/form-data from a stream, so this process never holds a file either. RSS of
 * each server is sampled from /proc every 50 ms: idle (after a warm-up upload), and its peak while
 * the uploads arrive. Progress on stderr; the last stdout line is one JSON object, with the ratio
 * of memory above idle (ours / the competitor's) and the goal (under 150 MB above idle).
 */
import { chmodSync, mkdtempSync } from "node:fs";
import { cpus, release, tmpdir, totalmem, type } from "node:os";
import { join, resolve } from "node:path";
import { loadConfig } from "../../src/config.ts";
import { createDb } from "../../src/db/client.ts";
import { openDatabase } from "../../src/db/connect.ts";
import { createLogger } from "../../src/log.ts";
import { wavHeader } from "../../src/providers/local/wav.ts";
import { createUser } from "../../src/services/users.ts";
import { accessToken, listeningPort, rssMb, tearDown } from "../bench-api/proc.ts";

const ROOT = resolve(import.meta.dir, "../..");
const UPLOADS = Number(process.env.BENCH_UPLOADS ?? 3);
const UPLOAD_BYTES = Number(process.env.BENCH_UPLOAD_MB ?? 100) * 1024 * 1024;
const GOAL_ABOVE_IDLE_MB = 150;
const BOUNDARY = "inkreel-bench-boundary";
const say = (...a: unknown[]) => console.error("[bench:uploads]", ...a);
const round = (n: number, d = 1) => Number(n.toFixed(d));

/** A multipart body of one `bytes`-long WAV, produced as it is read (never whole in memory). */
function uploadBody(bytes: number): ReadableStream<Uint8Array> {
  const enc = new TextEncoder();
  const chunk = new Uint8Array(256 * 1024);
  const data = bytes - 44;
  let sent = 0;
  return new ReadableStream({
    start(c) {
      c.enqueue(
        enc.encode(
          `--${BOUNDARY}\r\nContent-Disposition: form-data; name="file"; filename="silence.wav"\r\nContent-Type: audio/wav\r\n\r\n`,
        ),
      );
      c.enqueue(wavHeader(data, 44_100, 1));
    },
    pull(c) {
      if (sent >= data) {
        c.enqueue(enc.encode(`\r\n--${BOUNDARY}--\r\n`));
        c.close();
        return;
      }
      const n = Math.min(chunk.length, data - sent);
      c.enqueue(chunk.subarray(0, n));
      sent += n;
    },
  });
}

async function send(url: string, headers: Record<string, string>, bytes: number): Promise<number> {
  const res = await fetch(url, {
    method: "POST",
    headers: { ...headers, "content-type": `multipart/form-data; boundary=${BOUNDARY}` },
    body: uploadBody(bytes),
    // @ts-expect-error a streamed request body (Bun's fetch takes it)
    duplex: "half",
  });
  await res.arrayBuffer();
  return res.status;
}

/** Idle RSS after one small upload, then the peak while `UPLOADS` big ones arrive at once. */
async function measure(label: string, pid: number, url: string, headers: Record<string, string>) {
  const warm = await send(url, headers, 1024 * 1024);
  if (warm !== 201) throw new Error(`${label}: the warm-up upload answered ${warm}`);
  Bun.gc(true);
  await Bun.sleep(500);
  const idle = rssMb(pid);
  let peak = idle;
  const sampler = setInterval(() => (peak = Math.max(peak, rssMb(pid))), 50);
  const started = performance.now();
  const statuses = await Promise.all(Array.from({ length: UPLOADS }, () => send(url, headers, UPLOAD_BYTES)));
  const seconds = (performance.now() - started) / 1000;
  clearInterval(sampler);
  peak = Math.max(peak, rssMb(pid));
  if (statuses.some((s) => s !== 201)) throw new Error(`${label}: uploads answered ${statuses.join(", ")}`);
  const figures = {
    idle_mb: round(idle),
    peak_mb: round(peak),
    above_idle_mb: round(peak - idle),
    seconds: round(seconds, 2),
    mb_per_s: round((UPLOADS * UPLOAD_BYTES) / 1024 / 1024 / seconds),
  };
  say(`${label}: ${JSON.stringify(figures)}`);
  return figures;
}

const dataDir = mkdtempSync(join(tmpdir(), "inkreel-bench-uploads-"));
// As root the embedded server runs as the postgres user, which must reach its data directory.
chmodSync(dataDir, 0o755);
const env = {
  ...process.env,
  DATA_DIR: dataDir,
  LOG_LEVEL: "info",
  UPLOADS_PER_USER: String(UPLOADS),
  UPLOAD_MAX_BYTES: String(UPLOAD_BYTES + 1024 * 1024),
};
const config = loadConfig(env);
const database = await openDatabase(config, createLogger("warn", { process: "bench" }));
const db = createDb(database.url, { max: 2 });
const children: Array<ReturnType<typeof Bun.spawn>> = [];
try {
  const password = crypto.randomUUID();
  await createUser(db, { username: "bench", email: "bench@inkreel.local", password });
  const logFile = join(dataDir, "api.log");
  const api = Bun.spawn([process.execPath, join(ROOT, "src/cli.ts"), "api"], {
    env: { ...env, DATABASE_URL: database.url, HOST: "127.0.0.1", PORT: "0" },
    stdout: Bun.file(logFile),
    stderr: "inherit",
  });
  children.push(api);
  const base = `http://127.0.0.1:${await listeningPort(logFile, api)}`;
  const token = await accessToken(base, { username: "bench", password });

  const buffered = Bun.spawn([process.execPath, join(import.meta.dir, "buffered-server.ts")], {
    env: { ...process.env, BENCH_UPLOAD_DIR: dataDir },
    stdout: "pipe",
    stderr: "inherit",
  });
  children.push(buffered);
  const reader = buffered.stdout.getReader();
  const first = new TextDecoder().decode((await reader.read()).value);
  const competitorPort = Number(/port (\d+)/.exec(first)?.[1]);
  if (!competitorPort) throw new Error(`the competitor did not start: ${first}`);

  say(`${UPLOADS} uploads of ${UPLOAD_BYTES / 1024 / 1024} MB at once to each server…`);
  const inkreel = await measure("inkreel (streamed)", api.pid, `${base}/api/v1/uploads`, {
    authorization: `Bearer ${token}`,
  });
  const competitor = await measure("formData() (buffered)", buffered.pid, `http://127.0.0.1:${competitorPort}/`, {});
  console.log(
    JSON.stringify({
      inkreel_streamed: inkreel,
      competitor_buffered: competitor,
      ratio_above_idle: round(inkreel.above_idle_mb / Math.max(0.1, competitor.above_idle_mb), 3),
      goal: { above_idle_mb_under: GOAL_ABOVE_IDLE_MB, met: inkreel.above_idle_mb < GOAL_ABOVE_IDLE_MB },
      setup: { uploads: UPLOADS, upload_mb: UPLOAD_BYTES / 1024 / 1024 },
      versions: { bun: Bun.version },
      machine: {
        cpu: cpus()[0]?.model,
        cores: cpus().length,
        memory_gib: round(totalmem() / 2 ** 30),
        os: `${type()} ${release()}`,
      },
    }),
  );
} finally {
  await tearDown({ children, db, database, dataDir });
}
