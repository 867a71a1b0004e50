// The ComfyUI provider against tests/support/comfyui-fake.ts (ComfyUI's routes and validation as
// its server.py and execution.py define them): images and clips, the prompt id committed before
// the prompt is sent and resumed by a later attempt, queue position and node progress, refused
// prompts, and the ADMIN routes — workflow uploads checked node by node, custom ComfyUI servers
// under the SSRF rules.
import { afterAll, beforeEach, describe, expect, test } from "bun:test";
import { probe } from "../src/media/ffmpeg.ts";
import { sniffImage } from "../src/media/sniff.ts";
import { DEFAULT_NEGATIVE } from "../src/providers/comfyui/image.ts";
import {
  type ComfyProgress,
  ComfyUIProviderError,
  checkWorkflow,
  createComfyImage,
  createComfyVideo,
  findWorkflow,
  pgPromptStore,
  SHIPPED,
} from "../src/providers/comfyui/index.ts";
import { fingerprint } from "../src/providers/comfyui/run.ts";
import { fillWorkflow } from "../src/providers/comfyui/workflow.ts";
import type { LedgerContext } from "../src/providers/ledger.ts";
import { renderMedia, startFakeComfyUI } from "./support/comfyui-fake.ts";
import { createTestContext } from "./support/context.ts";
import { waitUntil } from "./support/pipeline.ts";

const ctx = await createTestContext({ COMFYUI_URL: "http://127.0.0.1:1" });
const fake = await startFakeComfyUI();
afterAll(() => fake.stop());
beforeEach(() => fake.reset());

const admin = await ctx.register("admin");
await ctx.db.updateTable("users").set({ role: "ADMIN" }).where("id", "=", admin.user.id).execute();
const user = await ctx.register("plain");

/** The chain's context of a queue job's call: its scope names the job and attempt owning the prompt. */
function ledgerOf(jobId: string, attempt: number): LedgerContext {
  return { scope: { jobId, attempt }, capability: "image", provider: "comfyui", model: "txt2img", price: {} };
}

function models(o: { pollIntervalMs?: number } = {}) {
  const common = {
    url: fake.url,
    prompts: pgPromptStore(ctx.db),
    workflows: (name: string) => findWorkflow(ctx.db, name),
    pollIntervalMs: o.pollIntervalMs ?? 50,
    retryDelayMs: 10,
  };
  return {
    image: createComfyImage({ ...common, workflow: "txt2img" }),
    video: createComfyVideo({ ...common, workflow: "img2vid", fps: 8 }),
  };
}

const reference = await renderMedia("png", 96, 64);

describe("shipped workflows", () => {
  test("each one passes the check of its kind, with the placeholders the docs list", () => {
    expect(SHIPPED.map((w) => w.name)).toEqual(["txt2img", "img2img", "img2vid"]);
    for (const w of SHIPPED) expect(checkWorkflow(w.graph, w.kind).problems).toEqual([]);
    const classes = (name: string) =>
      Object.values(SHIPPED.find((w) => w.name === name)!.graph).map((n) => n.class_type);
    expect(classes("txt2img")).toEqual(
      expect.arrayContaining([
        "CheckpointLoaderSimple",
        "CLIPTextEncode",
        "KSampler",
        "EmptyLatentImage",
        "VAEDecode",
        "SaveImage",
      ]),
    );
    expect(classes("img2img")).toEqual(expect.arrayContaining(["LoadImage", "VAEEncode", "SaveImage"]));
    expect(classes("img2vid")).toEqual(expect.arrayContaining(["LoadImage", "SVD_img2vid_Conditioning", "SaveVideo"]));
  });
});

describe("images and clips from ComfyUI", () => {
  test("text to image: one prompt under the id we committed first, a real PNG of the size asked", async () => {
    const jobId = crypto.randomUUID();
    const seen: ComfyProgress[] = [];
    const r = await models().image.generate({
      prompt: "a tea house in the rain",
      width: 320,
      height: 180,
      seed: 7,
      ledger: ledgerOf(jobId, 1),
      onProgress: (p) => seen.push(p),
    });
    expect(r.data.mimeType).toBe("image/png");
    const size = await sniffImage(r.data.bytes);
    expect([size?.width, size?.height]).toEqual([320, 184]);
    expect([r.response.provider, r.response.modelId]).toEqual(["comfyui", "txt2img"]);
    expect(fake.posts()).toBe(1);
    expect([...fake.prompts.keys()]).toEqual([r.response.id!]);
    const sent = fake.prompts.get(r.response.id!)!;
    expect(sent.posts).toBe(1);
    // Our id, and our socket's client id: ComfyUI reports the prompt's progress to that client.
    expect(sent.clientId).toBe(r.response.id!);
    expect(sent.prompt["6"]!.inputs!.text).toBe("a tea house in the rain");
    expect(sent.prompt["3"]!.inputs!.seed).toBe(7);
    // The node progress came over the socket: the sampler's steps.
    expect(seen.some((p) => p.node?.classType === "KSampler" && p.max === 4)).toBe(true);
    // The record of the prompt: downloaded; the live ref is gone.
    const intents = await ctx.db.selectFrom("submit_intents").selectAll().where("job_id", "=", jobId).execute();
    expect(intents).toMatchObject([
      { provider: "comfyui", request_id: r.response.id, state: "downloaded", endpoint_id: fake.url },
    ]);
    expect(await ctx.db.selectFrom("provider_requests").selectAll().execute()).toEqual([]);
  });

  test("with references: the first one is uploaded and redrawn by the image-to-image workflow", async () => {
    const r = await models().image.generate({
      prompt: "林小雨 in the tea house",
      width: 256,
      height: 256,
      references: [
        { bytes: reference, mimeType: "image/png" },
        { bytes: reference, mimeType: "image/png" },
      ],
    });
    expect(r.response.modelId).toBe("img2img");
    expect(r.warnings.join(" ")).toContain("takes one reference image");
    const sent = fake.prompts.get(r.response.id!)!;
    const loaded = sent.prompt["1"]!.inputs!.image as string;
    expect(loaded).toMatch(/^inkreel-[0-9a-f]{32}\.png$/);
    expect(fake.requests.filter((q) => q.path === "/upload/image")).toHaveLength(1);
    expect((await sniffImage(r.data.bytes))?.width).toBe(256);
  });

  test("image to video: the keyframe animated, frames = duration × fps, a real MP4", async () => {
    const r = await models().video.generate({
      prompt: "rain on the window",
      image: { bytes: reference, mimeType: "image/png" },
      durationS: 2,
      width: 320,
      height: 180,
    });
    const sent = fake.prompts.get(r.response.id!)!;
    expect(sent.prompt["3"]!.inputs).toMatchObject({ video_frames: 16, fps: 8, width: 320, height: 184 });
    expect(r.data.mimeType).toBe("video/mp4");
    expect(r.data.durationS).toBeCloseTo(2, 0);
    expect([r.data.width, r.data.height]).toEqual([320, 184]);
    const path = `${ctx.config.dataDir}/clip.mp4`;
    await Bun.write(path, r.data.bytes);
    expect((await probe(path)).streams.some((s) => s.codec_type === "video")).toBe(true);
  });

  test("a waiting prompt reports its place in the queue, then its node's steps", async () => {
    const hold = fake.hold();
    const m = models();
    const first = m.image.generate({ prompt: "first", width: 128, height: 128, seed: 1 });
    await hold.arrived(1);
    const seen: ComfyProgress[] = [];
    const second = m.image.generate({
      prompt: "second",
      width: 128,
      height: 128,
      seed: 2,
      onProgress: (p) => seen.push(p),
    });
    await waitUntil("the second prompt's queue position", () => seen.some((p) => p.state === "queued"));
    expect(seen.find((p) => p.state === "queued")).toMatchObject({
      ahead: 1,
      message: "ComfyUI: queued, 1 prompt ahead",
    });
    hold.release();
    await Promise.all([first, second]);
    expect(seen.some((p) => p.message === "ComfyUI: KSampler (node 3) step 4/4")).toBe(true);
  });
});

describe("a later attempt resumes the prompt", () => {
  test("the worker goes away while the prompt runs: the rescued attempt polls the same prompt id, never POSTs again", async () => {
    const jobId = crypto.randomUUID();
    const options = { prompt: "陈默 at the door", width: 192, height: 128, seed: 3 };
    const hold = fake.hold();
    const gone = new AbortController();
    const dying = models().image.generate({ ...options, ledger: ledgerOf(jobId, 1), signal: gone.signal });
    const [held] = await hold.arrived(1);
    // Committed before the prompt was sent: its id is in Postgres while ComfyUI runs it.
    const stored = await ctx.db.selectFrom("provider_requests").select(["request_id", "endpoint_id"]).execute();
    expect(stored).toEqual([{ request_id: held!.id, endpoint_id: fake.url }]);
    gone.abort("lease-lost");
    expect(await dying.catch((e) => String(e))).toContain("lease-lost");
    // Nothing was cancelled: the prompt still runs, its ref still stands.
    expect(fake.requests.some((r) => r.path === "/queue" && r.method === "POST")).toBe(false);

    const polled = fake.requests.filter((r) => r.path === `/history/${held!.id}`).length;
    const rescued = models().image.generate({ ...options, ledger: ledgerOf(jobId, 2) });
    await waitUntil(
      "the rescued attempt to poll the prompt",
      () =>
        fake.requests.some((r, i) => i >= 0 && r.path === `/history/${held!.id}`) &&
        fake.requests.filter((r) => r.path === `/history/${held!.id}`).length > polled,
    );
    hold.release();
    const r = await rescued;
    expect(r.response.id).toBe(held!.id);
    expect(r.warnings.join(" ")).toContain(`resumed comfyui prompt ${held!.id}`);
    expect(fake.posts()).toBe(1);
    expect(fake.prompts.get(held!.id)!.posts).toBe(1);
    // Once more, by a third attempt after a crash that came after the download: still no new prompt.
    const again = await models().image.generate({ ...options, ledger: ledgerOf(jobId, 3) });
    expect(again.response.id).toBe(held!.id);
    expect(fake.posts()).toBe(1);
  });

  test("a prompt the server never got (the worker died between the commit and the POST) is sent once, under the reserved id", async () => {
    const jobId = crypto.randomUUID();
    const options = { prompt: "never sent", width: 128, height: 128, seed: 11 };
    // What such a crash leaves: the id reserved in Postgres under the call's fingerprint, unknown to ComfyUI.
    const w = (await findWorkflow(ctx.db, "txt2img"))!;
    const filled = fillWorkflow(w.graph, { ...options, negative_prompt: DEFAULT_NEGATIVE });
    const reserved = crypto.randomUUID();
    await pgPromptStore(ctx.db).reserve(
      fingerprint(fake.url, filled),
      { server: fake.url, promptId: reserved },
      { jobId, attempt: 1 },
    );
    const r = await models().image.generate({ ...options, ledger: ledgerOf(jobId, 2) });
    expect(r.response.id).toBe(reserved);
    expect(r.warnings.join(" ")).toContain("unknown to the server");
    expect(fake.posts()).toBe(1);
    expect(fake.prompts.get(reserved)!.posts).toBe(1);
    const intent = await ctx.db
      .selectFrom("submit_intents")
      .select("state")
      .where("nonce", "=", reserved)
      .executeTakeFirst();
    expect(intent?.state).toBe("downloaded");
  });
});

describe("failures", () => {
  test("a prompt that fails while running is an execution error worth failing over (no request left in flight)", async () => {
    fake.failRuns(1);
    const err = await models()
      .image.generate({ prompt: "too big", width: 128, height: 128 })
      .catch((e) => e);
    expect(err).toBeInstanceOf(ComfyUIProviderError);
    expect(err).toMatchObject({ retryable: true, phase: "execution", status: undefined });
    expect(err.message).toContain("node 3 (KSampler)");
    expect(err.message).toContain("CUDA out of memory");
    expect(await ctx.db.selectFrom("provider_requests").selectAll().execute()).toEqual([]);
  });

  test("a prompt the server refuses names the node ComfyUI complained about", async () => {
    const graph = structuredClone(SHIPPED[0]!.graph);
    graph["4"]!.inputs.ckpt_name = "missing.safetensors";
    const put = await ctx.call("PUT", "/api/v1/admin/providers/comfyui/workflows/bad-ckpt", {
      token: admin.token,
      body: { kind: "text_to_image", graph },
    });
    expect(put.status).toBe(201);
    const m = createComfyImage({
      url: fake.url,
      workflow: "bad-ckpt",
      workflows: (n) => findWorkflow(ctx.db, n),
      pollIntervalMs: 50,
    });
    const err = await m.generate({ prompt: "x", width: 64, height: 64 }).catch((e) => e);
    expect(err).toMatchObject({ status: 400, retryable: false, phase: "submit" });
    expect(err.message).toContain("node 4 (CheckpointLoaderSimple)");
    expect(err.message).toContain("missing.safetensors");
    expect(Object.keys(err.nodeErrors)).toEqual(["4"]);
  });
});

describe("ADMIN: workflows", () => {
  type Node = { class_type?: string; inputs?: Record<string, unknown> };
  const base = () => structuredClone(SHIPPED[0]!.graph) as unknown as Record<string, Node | string>;
  const node = (g: Record<string, Node | string>, id: string) => g[id] as Node;
  /** The shipped text-to-image graph with one thing changed. */
  const broken = (edit: (g: Record<string, Node | string>) => void) => {
    const g = base();
    edit(g);
    return g;
  };
  const put = (name: string, body: unknown, token = admin.token) =>
    ctx.call("PUT", `/api/v1/admin/providers/comfyui/workflows/${name}`, { token, body });

  test("a malformed workflow is refused when saved, naming the node that is wrong", async () => {
    const cases: Array<[string, unknown, string, string]> = [
      [
        "no inputs",
        broken((g) => delete node(g, "8").inputs),
        "/graph/8/inputs",
        'node "8" (VAEDecode): inputs is missing',
      ],
      [
        "no class_type",
        broken((g) => delete node(g, "5").class_type),
        "/graph/5/class_type",
        'node "5": class_type is missing',
      ],
      [
        "a link to no node",
        broken((g) => {
          node(g, "8").inputs!.samples = ["42", 0];
        }),
        "/graph/8/inputs/samples",
        'node "8" (VAEDecode): input "samples" links node "42", which is not in the workflow',
      ],
      [
        "a bad link",
        broken((g) => {
          node(g, "3").inputs!.model = ["4"];
        }),
        "/graph/3/inputs/model",
        'node "3" (KSampler): input "model" is a list but not a link',
      ],
      [
        "a node that is not an object",
        broken((g) => {
          g["7"] = "CLIPTextEncode";
        }),
        "/graph/7",
        'node "7": must be an object',
      ],
      [
        "an unknown placeholder",
        broken((g) => {
          node(g, "6").inputs!.text = "{{promt}}";
        }),
        "/graph/6/inputs/text",
        'node "6" (CLIPTextEncode): input "text" uses {{promt}}',
      ],
      [
        "a required placeholder missing",
        broken((g) => {
          node(g, "5").inputs!.width = 512;
        }),
        "/graph",
        "a text_to_image workflow needs {{width}}",
      ],
      ["no output node", broken((g) => delete g["9"]), "/graph", "no node saves a result"],
      [
        "a cycle",
        broken((g) => {
          node(g, "4").inputs!.ckpt_name = ["8", 0];
        }),
        "/graph/",
        "(a cycle)",
      ],
    ];
    for (const [what, graph, path, message] of cases) {
      const res = await put("broken", { kind: "text_to_image", graph });
      expect(res.status, what).toBe(400);
      expect(res.json, what).toMatchObject({ success: false, data: null, error: { code: "VALIDATION_ERROR" } });
      const fields = res.json.error.details.fields as Array<{ path: string; message: string }>;
      expect(
        fields.some((f) => f.path.startsWith(path) && f.message.includes(message)),
        `${what}: ${JSON.stringify(fields)}`,
      ).toBe(true);
    }
    // ComfyUI's own shape too: node id → class_type and errors.
    const res = await put("broken", { kind: "text_to_image", graph: cases[0]![1] });
    expect(res.json.error.details.node_errors).toMatchObject({ "8": { class_type: "VAEDecode" } });
    // An image-to-image workflow needs {{image}}: the text-to-image graph is not one.
    const kind = await put("broken", { kind: "image_to_image", graph: base() });
    expect(kind.json.message).toContain("{{image}}");
    // Not an object, and too big.
    expect((await put("broken", { kind: "text_to_image", graph: [1, 2] })).status).toBe(400);
    const big = broken((g) => {
      node(g, "6").inputs!.text = `{{prompt}} ${"x".repeat(300_000)}`;
    });
    const tooBig = await put("broken", { kind: "text_to_image", graph: big });
    expect(tooBig.status).toBe(413);
    expect(tooBig.json.error.code).toBe("PAYLOAD_TOO_LARGE");
    expect(await ctx.db.selectFrom("comfyui_workflows").select("name").where("name", "=", "broken").execute()).toEqual(
      [],
    );
  });

  test("a good workflow is saved, listed, becomes a model of every ComfyUI provider, and only an ADMIN may upload", async () => {
    expect((await put("sd15", { kind: "text_to_image", graph: base() }, user.token)).status).toBe(403);
    const created = await put("sd15", { kind: "text_to_image", graph: base(), description: "SD 1.5" });
    expect(created.status).toBe(201);
    expect(created.json.data).toMatchObject({
      name: "sd15",
      kind: "text_to_image",
      capability: "image",
      source: "uploaded",
      placeholders: ["prompt", "negative_prompt", "seed", "width", "height"],
      nodes: 7,
    });
    expect((await put("sd15", { kind: "text_to_image", graph: base() })).status).toBe(200);
    const list = await ctx.call("GET", "/api/v1/admin/providers/comfyui/workflows?page_size=100", {
      token: admin.token,
    });
    expect(list.json.data.items.map((w: { name: string }) => w.name)).toEqual(
      expect.arrayContaining(["img2img", "img2vid", "sd15", "txt2img"]),
    );
    const one = await ctx.call("GET", "/api/v1/admin/providers/comfyui/workflows/sd15", { token: admin.token });
    expect(one.json.data.graph["9"].class_type).toBe("SaveImage");
    const provider = await ctx.db
      .selectFrom("providers")
      .select("models")
      .where("id", "=", "comfyui")
      .executeTakeFirstOrThrow();
    expect(provider.models.image).toContain("sd15");
    expect(provider.models.video).toEqual(["img2vid"]);
    // A chain may name it now.
    const chained = await ctx.call("PUT", "/api/v1/config/providers", {
      token: admin.token,
      body: {
        chains: {
          image: [
            { provider: "comfyui", model: "sd15" },
            { provider: "local", model: "inkreel-painter-1" },
          ],
        },
      },
    });
    expect(chained.status).toBe(200);
    // And while it does, it cannot become a video workflow.
    const video = structuredClone(SHIPPED[2]!.graph);
    expect((await put("sd15", { kind: "image_to_video", graph: video })).status).toBe(409);
    expect(
      (await ctx.call("GET", "/api/v1/admin/providers/comfyui/workflows/nope", { token: admin.token })).status,
    ).toBe(404);
  });
});

describe("ADMIN: custom ComfyUI servers", () => {
  test("a loopback URL is refused unless ALLOW_PRIVATE_PROVIDER_URLS; its models are the workflows", async () => {
    const refused = await ctx.call("POST", "/api/v1/admin/providers/comfyui", {
      token: admin.token,
      body: { name: "Local GPU", api_url: fake.url },
    });
    expect(refused.status).toBe(400);
    expect(refused.json.error.details.fields[0].path).toBe("/api_url");

    const open = await createTestContext({ ALLOW_PRIVATE_PROVIDER_URLS: "true" });
    const boss = await open.register("admin");
    await open.db.updateTable("users").set({ role: "ADMIN" }).where("id", "=", boss.user.id).execute();
    const created = await open.call("POST", "/api/v1/admin/providers/comfyui", {
      token: boss.token,
      body: { name: "Local GPU", api_url: fake.url, config: { concurrency: 2 } },
    });
    expect(created.status).toBe(201);
    expect(created.json.data).toMatchObject({
      id: "custom-local-gpu",
      kind: "comfyui",
      base_url: fake.url,
      has_key: true,
      capabilities: ["image", "video"],
      models: { image: ["img2img", "txt2img"], video: ["img2vid"] },
    });
    const listed = await open.call("GET", "/api/v1/admin/providers?page_size=100", { token: boss.token });
    expect(listed.status).toBe(200);
    expect(listed.json.data.items.find((p: { id: string }) => p.id === "comfyui")).toMatchObject({ has_key: false });
    const noModels = await open.call("PATCH", "/api/v1/admin/providers/custom-local-gpu", {
      token: boss.token,
      body: { models: ["x"] },
    });
    expect(noModels.status).toBe(400);
  });
});
