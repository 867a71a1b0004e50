/**
 * `bun run flake-hunt [N]`: runs the whole suite N times (default 10) in a fresh clone of HEAD and
 * reports every test that failed at least once, with its error, so a test that fails by chance is
 * found before it turns a CI run red.
 *
 * The clone gets the locked packages with `bun install --frozen-lockfile` (Bun's cache makes that
 * fast after the first time); each round is `bun tests/run.ts` there, the suite the README's test
 * command runs after its static checks (which are deterministic and need no hunting). Progress on
 * stderr; the last stdout line is JSON:
 *   {rounds, green_rounds, consecutive_green, failures: [{test, file, rounds: [..], error}], seconds}
 */
import { chmodSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";

const rounds = Number(process.argv[2] ?? process.env.FLAKE_ROUNDS ?? 10);
if (!Number.isInteger(rounds) || rounds < 1 || rounds > 100) {
  console.error("usage: bun scripts/flake-hunt.ts [rounds 1-100]");
  process.exit(2);
}
const log = (...a: unknown[]) => console.error("[flake-hunt]", ...a);
const root = resolve(import.meta.dir, "..");
const bun = process.execPath;

async function sh(cmd: string[], cwd: string): Promise<{ code: number; out: string }> {
  const child = Bun.spawn(cmd, { cwd, stdout: "pipe", stderr: "pipe", env: { ...process.env, CI: "true" } });
  const [out, err] = await Promise.all([new Response(child.stdout).text(), new Response(child.stderr).text()]);
  return { code: await child.exited, out: out + err };
}

interface Failure {
  test: string;
  file: string;
  rounds: number[];
  error: string;
}

/** The `(fail) name` lines of a bun test run, each with its file and the error printed above it. */
function failuresOf(output: string): Array<Omit<Failure, "rounds">> {
  const lines = output.split("\n");
  const found: Array<Omit<Failure, "rounds">> = [];
  let file = "";
  let errorStart = 0;
  for (const [i, line] of lines.entries()) {
    // Bun's closing summary repeats every failure without its file: each was counted already.
    if (/^\d+ tests? failed:$/.test(line.trim())) break;
    const header = /^(tests\/\S+\.test\.ts):$/.exec(line.trim());
    if (header) {
      file = header[1]!;
      errorStart = i + 1;
      continue;
    }
    if (line.startsWith("(pass)")) errorStart = i + 1;
    const failed = /^\(fail\) (.*?)(?: \[[\d.]+m?s\])?$/.exec(line);
    if (failed) {
      const error = lines
        .slice(Math.max(errorStart, i - 25), i)
        .join("\n")
        .trim();
      found.push({ test: failed[1]!, file, error: error.slice(-2000) });
      errorStart = i + 1;
    }
  }
  return found;
}

const started = Date.now();
const dir = mkdtempSync(join(tmpdir(), "inkreel-flake-hunt-"));
// mkdtemp makes it 0700; run as root, the embedded PostgreSQL runs as `postgres` and must reach
// the binaries in the clone's node_modules.
chmodSync(dir, 0o755);
try {
  log(`cloning HEAD of ${root} into ${dir}`);
  const clone = await sh(["git", "clone", "--quiet", "--no-hardlinks", root, dir], root);
  if (clone.code !== 0) throw new Error(`git clone failed:\n${clone.out}`);
  const install = await sh([bun, "install", "--frozen-lockfile"], dir);
  if (install.code !== 0) throw new Error(`bun install failed:\n${install.out}`);

  const failures = new Map<string, Failure>();
  let green = 0;
  let streak = 0;
  let longest = 0;
  for (let round = 1; round <= rounds; round++) {
    const t0 = Date.now();
    const run = await sh([bun, "tests/run.ts"], dir);
    const failed = failuresOf(run.out);
    const summary = /^\s*(\d+) pass$/m.exec(run.out)?.[1] ?? "?";
    if (run.code === 0 && failed.length === 0) {
      green++;
      streak++;
      longest = Math.max(longest, streak);
    } else {
      streak = 0;
      if (failed.length === 0)
        failed.push({ test: "(the run itself)", file: "", error: run.out.split("\n").slice(-30).join("\n") });
    }
    for (const f of failed) {
      const key = `${f.file} > ${f.test}`;
      const seen = failures.get(key) ?? { ...f, rounds: [] };
      seen.rounds.push(round);
      failures.set(key, seen);
    }
    log(
      `round ${round}/${rounds}: ${run.code === 0 && !failed.length ? "green" : "RED"}, ${summary} passed, ${failed.length} failed, ${((Date.now() - t0) / 1000).toFixed(0)} s`,
    );
    // At once, not only at the end: a long hunt that is stopped still says what failed.
    for (const f of failed) log(`  failed in round ${round}: ${f.file} > ${f.test}\n${f.error}\n`);
  }
  for (const f of failures.values()) log(`failed in rounds ${f.rounds.join(",")}: ${f.file} > ${f.test}\n${f.error}\n`);
  console.log(
    JSON.stringify({
      rounds,
      green_rounds: green,
      consecutive_green: longest,
      failures: [...failures.values()],
      seconds: Math.round((Date.now() - started) / 1000),
    }),
  );
  process.exitCode = failures.size ? 1 : 0;
} finally {
  rmSync(dir, { recursive: true, force: true });
}
