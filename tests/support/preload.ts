// Runs before the test files of each `bun test` process. Under tests/run.ts the cluster is
// already up (INKREEL_TEST_PG_URL); a bare `bun test` gets a cluster of its own here, stopped
// by the global afterAll (bun test does not emit process "exit").
import { afterAll, setDefaultTimeout } from "bun:test";
import { startTestCluster } from "./cluster.ts";
import { TEST_TIMEOUT_MS } from "./timeout.ts";

setDefaultTimeout(TEST_TIMEOUT_MS);

if (!process.env.INKREEL_TEST_PG_URL) {
  const cluster = await startTestCluster();
  process.env.INKREEL_TEST_PG_URL = cluster.url;
  afterAll(() => cluster.stop());
}
