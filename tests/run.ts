// The test entry point behind `npm test`: one embedded PostgreSQL for the whole run, shared by
// every `bun test` worker process (each test file clones its own database from the template).
import { startTestCluster } from "./support/cluster.ts";
import { TEST_TIMEOUT_MS } from "./support/timeout.ts";

const cluster = await startTestCluster();
let code = 1;
try {
  const args = process.argv.slice(2);
  // process.execPath: the Bun running this file, which need not be on the PATH (.tools/).
  const child = Bun.spawn(
    [process.execPath, "test", `--timeout=${TEST_TIMEOUT_MS}`, ...(args.length ? args : ["--parallel=2"])],
    {
      env: { ...process.env, INKREEL_TEST_PG_URL: cluster.url },
      stdio: ["inherit", "inherit", "inherit"],
    },
  );
  for (const signal of ["SIGINT", "SIGTERM"] as const) {
    process.removeAllListeners(signal);
    process.on(signal, () => child.kill(signal));
  }
  code = await child.exited;
} finally {
  await cluster.stop();
}
process.exit(code);
