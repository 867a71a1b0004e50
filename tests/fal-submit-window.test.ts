// A queue job's fal submission killed at every point of its life, at the queue level: the real
// @fal-ai/client against tests/support/fake-fal.ts, requests and intents in a real Postgres, the
// real webhook route and LISTEN wake-ups. The fake holds calls (gates) until the test lets them go,
// so each kill lands exactly where it is meant to: the worker "dies" by its job's signal aborting
// with "lease-lost" (what a lost lease does; nothing is cancelled, the queue rescues the job) and
// the rescued attempt is a fresh model, as in a fresh process. No sleep decides anything.
import { afterAll, beforeEach, describe, expect, test } from "bun:test";
import { ConfigError, loadConfig } from "../src/config.ts";
import { createLogger } from "../src/log.ts";
import {
  createFalImage,
  type FalImageOptions,
  type FalIntentStore,
  type FalRequestStore,
} from "../src/providers/fal/index.ts";
import { pgRequestStore } from "../src/providers/fal/pg-store.ts";
import { createFalWakeups } from "../src/providers/fal/webhook-waiter.ts";
import type { LedgerContext } from "../src/providers/ledger.ts";
import { priceOf } from "../src/providers/pricing.ts";
import { createTestContext } from "./support/context.ts";
import { type FalSubmission, startFakeFal } from "./support/fake-fal.ts";
import { delivery, falSigningKey, startJwksServer } from "./support/fal-webhook-signer.ts";
import { rejection } from "./support/rejection.ts";

const key = falSigningKey("k1");
const jwks = startJwksServer([key]);
afterAll(() => jwks.stop());
const ctx = await createTestContext({ FAL_JWKS_URL: jwks.url, PUBLIC_URL: "https://inkreel.example" });
const wakeups = createFalWakeups({ connectionString: ctx.url, log: createLogger("warn", {}, () => {}) });
afterAll(() => wakeups.stop());
await wakeups.ready;
const fake = await startFakeFal();
afterAll(() => fake.stop());
beforeEach(() => fake.reset());

const MODEL = "fal-ai/flux/dev";
const PRICE = priceOf("fal", MODEL);
const webhookUrl = ctx.config.cloud.fal.webhookUrl!;

/** Time from fal's answer leaving the fake to the commit of our intent holding its request id, per submission (ms). */
const windows: number[] = [];

/** The Postgres store as a worker has it, timing when each request id is committed on its intent. */
function store(): FalRequestStore {
  const s = pgRequestStore(ctx.db);
  const intents = s.intents!;
  const timed: FalIntentStore = {
    ...intents,
    async submitted(nonce, k, ref) {
      await intents.submitted(nonce, k, ref);
      const answered = fake.submission(ref.requestId)?.answeredAt;
      if (answered !== undefined) windows.push(performance.timeOrigin + performance.now() - answered);
    },
  };
  return { ...s, intents: timed };
}

/** A worker's image model: with our webhook and its wake-ups, or polling only (no PUBLIC_URL). */
function model(o: { webhook?: boolean; orphanWaitMs?: number; wait?: typeof wakeups.wait } = {}) {
  const hooks = o.webhook === false ? {} : { webhookUrl, wait: o.wait ?? wakeups.wait, webhookPollMs: 20 };
  return createFalImage({
    key: fake.key,
    requestMiddleware: fake.middleware,
    pollIntervalMs: 5,
    retry: { retries: 1, baseDelayMs: 5, maxDelayMs: 50 },
    requests: store(),
    orphanWaitMs: o.orphanWaitMs ?? 100,
    ...hooks,
  });
}

/** One queue job: its attempts' ledger contexts, and options unique to it (its own fingerprint). */
function job() {
  const id = crypto.randomUUID();
  const options = { prompt: `a lighthouse, job ${id}`, width: 1280, height: 720, seed: 7 };
  const ledger = (attempt: number): LedgerContext => ({
    scope: { jobId: id, attempt },
    capability: "image",
    provider: "fal",
    model: MODEL,
    price: PRICE,
  });
  return { id, options, ledger };
}
type Job = ReturnType<typeof job>;

/** The first attempt, killed (signal aborted with "lease-lost") once `at` says so. */
async function killedAttempt(j: Job, at: (kill: () => void) => Partial<FalImageOptions>) {
  const crash = new AbortController();
  const kill = () => crash.abort("lease-lost");
  const err = await rejection(
    model().generate({ ...j.options, ...at(kill), signal: crash.signal, ledger: j.ledger(1) }),
  );
  expect(crash.signal.aborted).toBe(true);
  return err;
}

const mine = (j: Job) => (s: FalSubmission) => s.input.prompt === j.options.prompt;
const submissions = (j: Job) => fake.submissions.filter(mine(j));
const intents = (j: Job) =>
  ctx.db
    .selectFrom("submit_intents")
    .select(["nonce", "attempt", "request_id", "state", "adopted_by"])
    .where("job_id", "=", j.id)
    .orderBy("created_at")
    .execute();
const resubmissions = (j: Job) =>
  ctx.db
    .selectFrom("provider_usage")
    .selectAll()
    .where("error", "like", `resubmitted_after_crash:%job ${j.id}%`)
    .execute();
const storedRef = (requestId: string) =>
  ctx.db.selectFrom("provider_requests").selectAll().where("request_id", "=", requestId).execute();

/** fal's webhook for a finished submission, to the URL it was submitted with, through our route. */
async function webhookOf(s: FalSubmission) {
  s.statuses = ["COMPLETED"];
  const u = new URL(s.webhookUrl!);
  const d = delivery(key, s.requestId);
  return ctx.call("POST", `${u.pathname}${u.search}`, { raw: d.body, headers: d.headers });
}

describe("a fal submission killed at each point", () => {
  test("before fal accepted it (intent written, submission not queued): the rescue submits once, and records the possible charge", async () => {
    const j = job();
    const gate = fake.gate({ call: "submit", when: "before" });
    await killedAttempt(j, (kill) => {
      void gate.arrived(1).then(kill);
      return {};
    });
    // The intent was committed before the submission left; fal never queued it.
    expect(await intents(j)).toEqual([
      expect.objectContaining({ attempt: 1, request_id: null, state: "pending", adopted_by: null }),
    ]);
    gate.held[0]!.drop();
    gate.open();
    expect(submissions(j)).toHaveLength(0);

    const r = await model().generate({ ...j.options, ledger: j.ledger(2) });
    expect(submissions(j)).toHaveLength(1);
    expect(r.response.id).toBe(submissions(j)[0]!.requestId);
    expect(r.warnings.some((w) => w.includes("submitted again (resubmitted_after_crash in the ledger)"))).toBe(true);
    const [first, second] = await intents(j);
    expect(first).toMatchObject({ attempt: 1, state: "abandoned", request_id: null });
    expect(second).toMatchObject({ attempt: 2, state: "downloaded", request_id: r.response.id, adopted_by: "answer" });
    // fal cannot be asked whether it got the lost one: the ledger counts it, at the price of one image.
    const [lost, ...more] = await resubmissions(j);
    expect(more).toHaveLength(0);
    expect(lost).toMatchObject({ outcome: "failed", capability: "image", provider: "fal", images: 1 });
    expect(Number(lost!.cost_usd)).toBeCloseTo(PRICE.per_image!, 6);
    expect(lost!.error).toContain(first!.nonce);
  });

  test("after fal accepted it, before its id was stored: the webhook adopts it by nonce and the rescue resumes it (paid once)", async () => {
    const j = job();
    const gate = fake.gate({ call: "submit", when: "after" });
    await killedAttempt(j, (kill) => {
      void gate.arrived(1).then(kill);
      return {};
    });
    gate.open();
    const [orphan] = submissions(j);
    expect(orphan).toBeDefined();
    const [pending] = await intents(j);
    expect(pending).toMatchObject({ request_id: null, state: "pending" });
    expect(new URL(orphan!.webhookUrl!).searchParams.get("nonce")).toBe(pending!.nonce);

    // fal finishes it and calls the URL it was given: the route hands it to the intent.
    const res = await webhookOf(orphan!);
    expect(res.status).toBe(200);
    expect(res.json.data).toEqual({ received: true });
    expect(await intents(j)).toEqual([
      expect.objectContaining({ request_id: orphan!.requestId, state: "submitted", adopted_by: "webhook" }),
    ]);
    expect(await storedRef(orphan!.requestId)).toHaveLength(1);

    const r = await model().generate({ ...j.options, ledger: j.ledger(2) });
    expect(submissions(j)).toHaveLength(1);
    expect(r.response.id).toBe(orphan!.requestId);
    expect(await resubmissions(j)).toHaveLength(0);
    expect((await intents(j)).map((i) => i.state)).toEqual(["downloaded"]);
    expect(await storedRef(orphan!.requestId)).toEqual([]);
  });

  test("…and when the webhook comes while the rescue waits for it, the wait ends and the orphan is resumed", async () => {
    const j = job();
    const gate = fake.gate({ call: "submit", when: "after" });
    await killedAttempt(j, (kill) => {
      void gate.arrived(1).then(kill);
      return {};
    });
    gate.open();
    const [orphan] = submissions(j);
    const [pending] = await intents(j);

    let waiting!: () => void;
    const waits = new Promise<void>((resolve) => (waiting = resolve));
    // A wait far longer than the test may take: only the adoption can end it in time.
    const rescue = model({
      orphanWaitMs: 600_000,
      wait: (id, ms, signal) => {
        if (id === pending!.nonce) waiting();
        return wakeups.wait(id, ms, signal);
      },
    }).generate({ ...j.options, ledger: j.ledger(2) });
    await waits;
    expect((await webhookOf(orphan!)).json.data).toEqual({ received: true });
    const r = await rescue;
    expect(r.response.id).toBe(orphan!.requestId);
    expect(r.warnings.some((w) => w.includes("adopted, not submitted again"))).toBe(true);
    expect(submissions(j)).toHaveLength(1);
    expect(await resubmissions(j)).toHaveLength(0);
  });

  test("after fal accepted it, without a webhook (no PUBLIC_URL): the rescue submits again at once, and the ledger says so", async () => {
    const j = job();
    const gate = fake.gate({ call: "submit", when: "after" });
    const crash = new AbortController();
    void gate.arrived(1).then(() => crash.abort("lease-lost"));
    await rejection(model({ webhook: false }).generate({ ...j.options, signal: crash.signal, ledger: j.ledger(1) }));
    gate.open();
    expect(submissions(j)).toHaveLength(1);
    expect(submissions(j)[0]!.webhookUrl).toBeNull();

    const r = await model({ webhook: false, orphanWaitMs: 600_000 }).generate({ ...j.options, ledger: j.ledger(2) });
    // Paid twice: the orphan and the resubmission; the orphan is in the ledger.
    expect(submissions(j)).toHaveLength(2);
    expect(r.response.id).toBe(submissions(j)[1]!.requestId);
    expect((await intents(j)).map((i) => i.state)).toEqual(["abandoned", "downloaded"]);
    expect(await resubmissions(j)).toHaveLength(1);
  });

  test("a webhook that comes after the rescue gave up on its orphan: the id is recorded on the abandoned intent, nothing is resumed", async () => {
    const j = job();
    const gate = fake.gate({ call: "submit", when: "after" });
    await killedAttempt(j, (kill) => {
      void gate.arrived(1).then(kill);
      return {};
    });
    gate.open();
    const [orphan] = submissions(j);
    await model({ orphanWaitMs: 0 }).generate({ ...j.options, ledger: j.ledger(2) });
    expect(submissions(j)).toHaveLength(2);

    const res = await webhookOf(orphan!);
    expect(res.status).toBe(200);
    expect(res.json.data).toEqual({ received: true });
    const [abandoned, done] = await intents(j);
    expect(abandoned).toMatchObject({ state: "abandoned", request_id: orphan!.requestId, adopted_by: "webhook" });
    expect(done).toMatchObject({ state: "downloaded" });
    expect(await storedRef(orphan!.requestId)).toEqual([]);
    expect(await resubmissions(j)).toHaveLength(1);
  });

  test("after its id was stored, before the first poll: the rescue resumes it", async () => {
    const j = job();
    await killedAttempt(j, (kill) => ({ onSubmitted: kill }));
    const [s] = submissions(j);
    expect(s!.polls).toBe(0);
    expect(await intents(j)).toEqual([expect.objectContaining({ request_id: s!.requestId, state: "submitted" })]);
    const r = await model().generate({ ...j.options, ledger: j.ledger(2) });
    expect(r.response.id).toBe(s!.requestId);
    expect(submissions(j)).toHaveLength(1);
    expect(await resubmissions(j)).toHaveLength(0);
    expect(fake.calls("cancel")).toHaveLength(0);
  });

  test("while polling: the rescue resumes it", async () => {
    const j = job();
    fake.script(["IN_QUEUE", "IN_PROGRESS", "IN_PROGRESS", "COMPLETED"]);
    await killedAttempt(j, (kill) => ({ onStatus: kill }));
    const [s] = submissions(j);
    expect(s!.polls).toBe(1);
    const r = await model().generate({ ...j.options, ledger: j.ledger(2) });
    expect(r.response.id).toBe(s!.requestId);
    expect(submissions(j)).toHaveLength(1);
    expect(await resubmissions(j)).toHaveLength(0);
  });

  test("while downloading the output: the rescue fetches the result and downloads it again", async () => {
    const j = job();
    const gate = fake.gate({ call: "file" });
    await killedAttempt(j, (kill) => {
      void gate.arrived(1).then(kill);
      return {};
    });
    gate.open();
    const [s] = submissions(j);
    expect(await storedRef(s!.requestId)).toHaveLength(1);
    const r = await model().generate({ ...j.options, ledger: j.ledger(2) });
    expect(r.response.id).toBe(s!.requestId);
    expect(r.data.mimeType).toBe("image/png");
    expect(submissions(j)).toHaveLength(1);
    expect(fake.calls("result", s!.requestId).length).toBeGreaterThanOrEqual(2);
    expect(fake.calls("file").length).toBeGreaterThanOrEqual(2);
    expect(await resubmissions(j)).toHaveLength(0);
    expect(await storedRef(s!.requestId)).toEqual([]);
  });

  test("after the download, before the caller kept the output (the asset row): the rescue fetches the same request again", async () => {
    const j = job();
    // The attempt got its output and died before storing it.
    const lost = await model().generate({ ...j.options, ledger: j.ledger(1) });
    expect(await storedRef(lost.response.id!)).toEqual([]);
    expect((await intents(j)).map((i) => i.state)).toEqual(["downloaded"]);

    const r = await model().generate({ ...j.options, ledger: j.ledger(2) });
    expect(r.response.id).toBe(lost.response.id);
    expect(r.warnings.some((w) => w.includes("fetched again, not submitted"))).toBe(true);
    expect(submissions(j)).toHaveLength(1);
    expect(await resubmissions(j)).toHaveLength(0);

    // Another job with the same inputs is a generation of its own, as is a repeat within one attempt.
    const other = { ...job(), options: j.options };
    await model().generate({ ...other.options, ledger: other.ledger(1) });
    await model().generate({ ...other.options, ledger: other.ledger(1) });
    expect(submissions(j)).toHaveLength(3);
  });

  test("a submission fal refused (an error answer) leaves no orphan: the retry submits without a charge for it", async () => {
    const j = job();
    fake.fault({ call: "submit", status: 400, body: { detail: "bad" } });
    await rejection(model().generate({ ...j.options, ledger: j.ledger(1) }));
    expect((await intents(j)).map((i) => i.state)).toEqual(["dead"]);
    await model().generate({ ...j.options, ledger: j.ledger(2) });
    expect(submissions(j)).toHaveLength(1);
    expect(await resubmissions(j)).toHaveLength(0);
  });
});

describe("FAL_ORPHAN_WAIT_MS", () => {
  test("defaults to 5 s; a whole number of milliseconds up to 10 minutes, 0 resubmitting at once", () => {
    expect(loadConfig({ DATA_DIR: "/tmp/x" }).cloud.fal.orphanWaitMs).toBe(5000);
    expect(loadConfig({ DATA_DIR: "/tmp/x", FAL_ORPHAN_WAIT_MS: "0" }).cloud.fal.orphanWaitMs).toBe(0);
    for (const bad of ["-1", "1.5", "soon", "600001"]) {
      expect(() => loadConfig({ DATA_DIR: "/tmp/x", FAL_ORPHAN_WAIT_MS: bad }), bad).toThrow(ConfigError);
    }
  });
});

describe("the residual window", () => {
  test("from fal's answer to the commit of its request id on the intent", async () => {
    for (let i = 0; i < 20; i++) {
      const j = job();
      await model().generate({ ...j.options, ledger: j.ledger(1) });
    }
    expect(windows.length).toBeGreaterThanOrEqual(20);
    for (const w of windows) expect(w).toBeGreaterThan(0);
    const sorted = [...windows].sort((a, b) => a - b);
    const at = (q: number) => sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))]!.toFixed(2);
    console.log(
      `fal submit window (answer sent → request id committed): n=${sorted.length} median ${at(0.5)} ms, p90 ${at(0.9)} ms, max ${at(1)} ms`,
    );
  });
});
