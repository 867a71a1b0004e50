/**
 * The SSE subscribers of `bench:api`, in their own process so their parsing does not share an
 * event loop with the one that appends events. Opens BENCH_SSE_CLIENTS plain TCP connections to
 * GET /api/v1/projects/:id/events (a raw HTTP/1.1 client: fetch would cap concurrent requests),
 * decodes the chunked stream, and for every event records now − the stamp in its `message`
 * (milliseconds since the epoch, high resolution) in a 0.1 ms histogram.
 *
 * Protocol on stdio: prints `{"ready":…}` once every connection answered; then on a stdin line
 * `stop <events>` waits (at most 10 s) until each connection got that many events and prints
 * `{"result":…}`, then exits.
 * Usage: BENCH_PORT=… BENCH_TOKEN=… BENCH_PROJECT=… BENCH_AFTER=… bun scripts/bench-api/sse-clients.ts
 */
import { connect, type Socket } from "node:net";

const port = Number(process.env.BENCH_PORT);
const token = process.env.BENCH_TOKEN ?? "";
const projectId = process.env.BENCH_PROJECT ?? "";
const after = process.env.BENCH_AFTER ?? "0";
const clients = Number(process.env.BENCH_SSE_CLIENTS ?? 1000);
const CONNECT_BATCH = 100;
const BUCKET_MS = 0.1;
const MAX_BUCKET = 600_000;

const now = () => performance.timeOrigin + performance.now();
const histogram = new Uint32Array(MAX_BUCKET + 1);
let samples = 0;
let maxMs = 0;
let received = 0;
let closedEarly = 0;
let stopping = false;

function record(ms: number) {
  const b = Math.min(MAX_BUCKET, Math.max(0, Math.round(ms / BUCKET_MS)));
  histogram[b]!++;
  samples++;
  if (ms > maxMs) maxMs = ms;
}

function percentile(p: number): number {
  const rank = Math.ceil(samples * p);
  let seen = 0;
  for (let b = 0; b <= MAX_BUCKET; b++) {
    seen += histogram[b]!;
    if (seen >= rank) return b * BUCKET_MS;
  }
  return maxMs;
}

interface Client {
  socket: Socket;
  events: number;
}

/** Opens one stream; resolves with its status once the response headers arrived. */
function open(): Promise<{ client: Client | null; status: number }> {
  return new Promise((resolve) => {
    // latin1: one char per byte, so chunk sizes count characters (our bench events are ASCII).
    let raw = "";
    let headersDone = false;
    let sse = "";
    let settled = false;
    const client: Client = { socket: connect({ host: "127.0.0.1", port }), events: 0 };
    const socket = client.socket;
    socket.setNoDelay(true);
    socket.setEncoding("latin1");
    const settle = (status: number) => {
      if (settled) return;
      settled = true;
      resolve({ client: status === 200 ? client : null, status });
    };
    socket.on("connect", () => {
      socket.write(
        `GET /api/v1/projects/${projectId}/events HTTP/1.1\r\nHost: 127.0.0.1:${port}\r\n` +
          `Authorization: Bearer ${token}\r\nAccept: text/event-stream\r\nLast-Event-ID: ${after}\r\n\r\n`,
      );
    });
    socket.on("data", (text: string) => {
      raw += text;
      if (!headersDone) {
        const end = raw.indexOf("\r\n\r\n");
        if (end < 0) return;
        const status = Number(/^HTTP\/1\.1 (\d{3})/.exec(raw)?.[1] ?? 0);
        headersDone = true;
        raw = raw.slice(end + 4);
        settle(status);
        if (status !== 200) return socket.destroy();
      }
      // Chunked transfer coding: "<hex size>\r\n<data>\r\n".
      for (;;) {
        const line = raw.indexOf("\r\n");
        if (line < 0) break;
        const size = Number.parseInt(raw.slice(0, line), 16);
        if (raw.length < line + 2 + size + 2) break;
        sse += raw.slice(line + 2, line + 2 + size);
        raw = raw.slice(line + 2 + size + 2);
      }
      for (;;) {
        const end = sse.indexOf("\n\n");
        if (end < 0) break;
        const frame = sse.slice(0, end);
        sse = sse.slice(end + 2);
        const at = frame.indexOf('"message":"');
        if (at < 0) continue;
        const stamp = Number(frame.slice(at + 11, frame.indexOf('"', at + 11)));
        record(now() - stamp);
        client.events++;
        received++;
      }
    });
    socket.on("error", () => settle(0));
    socket.on("close", () => {
      settle(0);
      if (!stopping) closedEarly++;
    });
  });
}

const open200: Client[] = [];
const statuses: Record<string, number> = {};
const started = now();
for (let i = 0; i < clients; i += CONNECT_BATCH) {
  const batch = await Promise.all(Array.from({ length: Math.min(CONNECT_BATCH, clients - i) }, open));
  for (const { client, status } of batch) {
    statuses[status] = (statuses[status] ?? 0) + 1;
    if (client) open200.push(client);
  }
}
console.log(
  JSON.stringify({
    ready: { connected: open200.length, statuses, connect_s: Number(((now() - started) / 1000).toFixed(3)) },
  }),
);

let input = "";
process.stdin.setEncoding("utf8");
process.stdin.on("data", async (chunk: string) => {
  input += chunk;
  const match = /stop (\d+)\n/.exec(input);
  if (!match || stopping) return;
  stopping = true;
  const expected = Number(match[1]);
  const deadline = now() + 10_000;
  while (open200.some((c) => c.events < expected && !c.socket.destroyed) && now() < deadline) await Bun.sleep(20);
  const complete = open200.filter((c) => c.events >= expected).length;
  console.log(
    JSON.stringify({
      result: {
        connected: open200.length,
        complete,
        received,
        expected: expected * open200.length,
        closed_early: closedEarly,
        latency_ms: {
          p50: Number(percentile(0.5).toFixed(1)),
          p99: Number(percentile(0.99).toFixed(1)),
          max: Number(maxMs.toFixed(1)),
        },
      },
    }),
  );
  for (const c of open200) c.socket.destroy();
  process.exit(0);
});
