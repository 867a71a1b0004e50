// The test entry point behind `npm test`: one embedded PostgreSQL for the whole run, shared by
// every `bun test` worker process (each test file clones its own database from the template).
import { startTestCluster } from "./support/cluster.ts";

const cluster = await startTestCluster();
const args = process.argv.slice(2);
const child = Bun.spawn(["bun", "test", ...(args.length ? args : ["--parallel=2"])], {
  env: { ...process.env, INKREEL_TEST_PG_URL: cluster.url },
  stdio: ["inherit", "inherit", "inherit"],
});
const stop = () => child.kill("SIGTERM");
process.on("SIGINT", stop);
process.on("SIGTERM", stop);
const code = await child.exited;
await cluster.stop();
process.exit(code);
