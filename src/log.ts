import type { Config } from "./config.ts";

const LEVELS = { debug: 10, info: 20, warn: 30, error: 40 } as const;
type Level = keyof typeof LEVELS;

/** Keys whose values never reach a log line, wherever they sit in the record. */
const SECRET_KEY = /pass(word)?|secret|token|authorization|cookie|api[-_]?key|private/i;

export type Fields = Record<string, unknown>;

export interface Logger {
  readonly level: Level;
  debug(msg: string, fields?: Fields): void;
  info(msg: string, fields?: Fields): void;
  warn(msg: string, fields?: Fields): void;
  error(msg: string, fields?: Fields): void;
  child(fields: Fields): Logger;
}

export function redact(value: unknown, depth = 0): unknown {
  if (depth > 6 || value === null || typeof value !== "object") return value;
  if (value instanceof Error) return { name: value.name, message: value.message };
  if (Array.isArray(value)) return value.map((v) => redact(v, depth + 1));
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(value)) out[k] = SECRET_KEY.test(k) ? "[redacted]" : redact(v, depth + 1);
  return out;
}

/** Structured JSON lines on stdout (stderr for errors), secrets redacted by key. */
export function createLogger(
  level: Config["logLevel"] = "info",
  base: Fields = {},
  sink?: (line: string, level: Level) => void,
): Logger {
  const min = LEVELS[level];
  const write =
    sink ?? ((line: string, lvl: Level) => (lvl === "error" ? process.stderr : process.stdout).write(`${line}\n`));
  const emit = (lvl: Level, msg: string, fields?: Fields) => {
    if (LEVELS[lvl] < min) return;
    const record = redact({ ...base, ...fields }) as Fields;
    write(JSON.stringify({ time: new Date().toISOString(), level: lvl, msg, ...record }), lvl);
  };
  return {
    level,
    debug: (m, f) => emit("debug", m, f),
    info: (m, f) => emit("info", m, f),
    warn: (m, f) => emit("warn", m, f),
    error: (m, f) => emit("error", m, f),
    child: (fields) => createLogger(level, { ...base, ...fields }, write),
  };
}
