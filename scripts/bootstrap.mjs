#!/usr/bin/env node
// The README's commands start here, on a machine that may have nothing but Node.js and npm:
// find or install Bun (into ./.tools, no root needed), install the locked packages, then run
// an `inkreel` command (e.g. "demo <story>" for `npm start`, "dev" for `npm run dev`) or the whole test suite (mode "test").
import { execFileSync, spawnSync } from "node:child_process";
import { existsSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

const BUN_VERSION = "1.4.5";
const root = join(dirname(fileURLToPath(import.meta.url)), "..");
const localBun = join(root, ".tools", "node_modules", ".bin", "bun");
const [mode = "dev", ...rest] = process.argv.slice(2);

function say(message) {
  console.error(`[inkreel] ${message}`);
}

function bunVersion(bin) {
  try {
    return execFileSync(bin, ["--version"], { encoding: "utf8" }).trim();
  } catch {
    return null;
  }
}

function atLeast(version, wanted) {
  const [a, b] = version.split(".").map(Number);
  const [x, y] = wanted.split(".").map(Number);
  return a > x || (a === x && b >= y);
}

function run(cmd, args, options = {}) {
  const result = spawnSync(cmd, args, { stdio: "inherit", cwd: root, ...options });
  if (result.error) throw result.error;
  return result.status ?? 1;
}

function findBun() {
  for (const bin of ["bun", localBun]) {
    const version = bunVersion(bin);
    if (version && atLeast(version, "1.4")) return bin;
  }
  say(`Bun ${BUN_VERSION} not found; installing it into .tools/ with npm`);
  const code = run("npm", [
    "install",
    "--prefix",
    join(root, ".tools"),
    "--no-save",
    "--no-audit",
    "--no-fund",
    `bun@${BUN_VERSION}`,
  ]);
  if (code !== 0 || !bunVersion(localBun)) {
    say("could not install Bun with npm; install it yourself (npm install -g bun) and run this again");
    process.exit(1);
  }
  return localBun;
}

/**
 * Debian packages the suite needs: Chromium (Playwright drives it; its own browser download cannot
 * work offline) and melt (MLT, which renders the editor-project export in its test).
 */
function ensureDebianTools() {
  const missing = [
    ["/usr/bin/chromium", "chromium"],
    ["/usr/bin/melt", "melt"],
  ].filter(([path]) => !existsSync(path));
  if (missing.length === 0) return;
  const names = missing.map(([, name]) => name);
  const isRoot = process.getuid?.() === 0;
  if (!isRoot || !existsSync("/usr/bin/apt-get")) {
    say(
      `missing: install Debian's ${names.map((n) => `\`${n}\``).join(" and ")} (the browser and MLT tests need them)`,
    );
    return;
  }
  say(`installing ${names.join(" and ")} with apt-get for the tests`);
  run("apt-get", ["update", "-qq"]);
  run("apt-get", ["install", "-y", "-qq", ...names], { env: { ...process.env, DEBIAN_FRONTEND: "noninteractive" } });
}

const bun = findBun();
if (run(bun, ["install", "--frozen-lockfile"]) !== 0) process.exit(1);

/**
 * The static checks, in order, before the suite: the compiler (Bun strips types without checking
 * them), Biome's lint and format check, and the layering rules. The first that fails stops here.
 */
function staticChecks() {
  const bin = (name) => join(root, "node_modules", ".bin", name);
  const checks = [
    ["typecheck (tsc --noEmit)", bun, ["--bun", bin("tsc"), "--noEmit"]],
    ["lint and format (biome ci)", bin("biome"), ["ci", "--error-on-warnings", "."]],
    // dependency-cruiser needs Node >= 22; Bun runs it whatever Node the machine has.
    ["dependency rules (depcruise)", bun, ["--bun", bin("depcruise"), "src", "--config", ".dependency-cruiser.cjs"]],
  ];
  for (const [name, cmd, args] of checks) {
    const started = Date.now();
    const code = run(cmd, args);
    say(`${name}: ${code === 0 ? "ok" : "FAILED"} in ${((Date.now() - started) / 1000).toFixed(1)} s`);
    if (code !== 0) process.exit(code);
  }
}

if (mode === "test") {
  staticChecks();
  ensureDebianTools();
  process.exit(run(bun, ["tests/run.ts", ...rest]));
}
process.exit(run(bun, ["src/cli.ts", mode, ...rest]));
