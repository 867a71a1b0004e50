/**
 * The per-test timeout of every run: `npm test` (tests/run.ts) and a bare `bun test <file>`.
 * Bun does not read `timeout` from bunfig.toml, so the preload sets it (setDefaultTimeout) and
 * tests/run.ts passes it as --timeout too: a preload's default reaches only the first file of a
 * process that runs several files one after another (without --parallel).
 */
export const TEST_TIMEOUT_MS = 300_000;
