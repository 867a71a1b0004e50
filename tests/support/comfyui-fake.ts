// A small local ComfyUI, speaking the routes of its server.py and the validation of execution.py:
//   POST /upload/image  multipart image, overwrite, type, subfolder → {name, subfolder, type}
//   POST /prompt        {prompt, client_id?, prompt_id?, number?, front?} → {prompt_id, number, node_errors}
//                       | 400 {error: {type, message, details, extra_info}, node_errors: {id: {errors, dependent_outputs, class_type}}}
//   GET  /queue         {queue_running: [[number, prompt_id, prompt, extra_data, outputs]], queue_pending: [...]}
//   POST /queue         {delete: [prompt_id]} | {clear: true}
//   POST /interrupt     {prompt_id?}
//   GET  /history/{id}  {} | {id: {prompt, outputs: {node: {images|gifs: [{filename, subfolder, type}]}}, status: {status_str, completed, messages}, meta}}
//   GET  /view          ?filename=&subfolder=&type= → the file (real PNGs and MP4s, made with ffmpeg)
//   GET  /object_info   the node classes it knows, as ComfyUI describes them
//   GET  /ws?clientId=  status {status: {exec_info: {queue_remaining}}, sid}; to the prompt's client:
//                       execution_start, execution_cached, executing {node, display_node, prompt_id},
//                       progress {value, max, prompt_id, node}, executed, executing {node: null},
//                       execution_success | execution_error
// One prompt runs at a time, lowest number first. Every request is recorded. A hold keeps prompts
// running (after their sampler's first step) until the test releases them; faults make the next
// prompts fail while running (execution_error) or make the server answer 500.

import { join } from "node:path";
import type { ServerWebSocket } from "bun";
import { runFfmpeg, withTempDir } from "../../src/media/ffmpeg.ts";
import { TEST_H264 } from "./media.ts";

// biome-ignore lint/suspicious/noExplicitAny: the fake reads and writes arbitrary ComfyUI JSON
type Json = Record<string, any>;
type Graph = Record<string, { class_type?: string; inputs?: Json; _meta?: Json }>;

interface NodeClass {
  required: string[];
  output?: boolean;
  /** Inputs that must be numbers (INT/FLOAT in ComfyUI). */
  numbers?: string[];
  /** An input whose value must be one of these (COMBO). */
  combo?: [string, string[]];
}

const CHECKPOINTS = ["sd_xl_base_1.0.safetensors", "v1-5-pruned-emaonly.safetensors"];

/** The node classes this ComfyUI has (core nodes of the shipped workflows and a few more). */
const NODES: Record<string, NodeClass> = {
  CheckpointLoaderSimple: { required: ["ckpt_name"], combo: ["ckpt_name", CHECKPOINTS] },
  ImageOnlyCheckpointLoader: { required: ["ckpt_name"], combo: ["ckpt_name", ["svd_xt.safetensors"]] },
  CLIPTextEncode: { required: ["text", "clip"] },
  EmptyLatentImage: { required: ["width", "height", "batch_size"], numbers: ["width", "height", "batch_size"] },
  KSampler: {
    required: [
      "model",
      "seed",
      "steps",
      "cfg",
      "sampler_name",
      "scheduler",
      "positive",
      "negative",
      "latent_image",
      "denoise",
    ],
    numbers: ["seed", "steps", "cfg", "denoise"],
  },
  VAEDecode: { required: ["samples", "vae"] },
  VAEEncode: { required: ["pixels", "vae"] },
  LoadImage: { required: ["image"] },
  ImageScale: { required: ["image", "upscale_method", "width", "height", "crop"], numbers: ["width", "height"] },
  SVD_img2vid_Conditioning: {
    required: [
      "clip_vision",
      "init_image",
      "vae",
      "width",
      "height",
      "video_frames",
      "motion_bucket_id",
      "fps",
      "augmentation_level",
    ],
    numbers: ["width", "height", "video_frames", "motion_bucket_id", "fps", "augmentation_level"],
  },
  VideoLinearCFGGuidance: { required: ["model", "min_cfg"], numbers: ["min_cfg"] },
  CreateVideo: { required: ["images", "fps"], numbers: ["fps"] },
  SaveVideo: { required: ["video", "filename_prefix", "format", "codec"], output: true },
  SaveImage: { required: ["images", "filename_prefix"], output: true },
  PreviewImage: { required: ["images"], output: true },
};

interface QueueItem {
  number: number;
  id: string;
  prompt: Graph;
  extra: Json;
  outputs: string[];
}

/** A real PNG (one frame) or MP4 of ffmpeg's test pattern. */
export function renderMedia(kind: "png" | "mp4", w: number, h: number, seconds = 1, fps = 8): Promise<Uint8Array> {
  return withTempDir(async (dir) => {
    const out = join(dir, `out.${kind}`);
    const source = ["-f", "lavfi", "-i", `testsrc=size=${w}x${h}:rate=${fps}`];
    const args =
      kind === "png" ? [...source, "-frames:v", "1", out] : [...source, "-t", String(seconds), ...TEST_H264, out];
    await runFfmpeg(args, { timeoutMs: 60_000, durationS: seconds });
    return Bun.file(out).bytes();
  });
}

export interface FakePrompt {
  id: string;
  clientId: string | null;
  prompt: Graph;
  /** Times POST /prompt carried this id. */
  posts: number;
}

export interface HeldPrompt {
  id: string;
  release(): void;
}

export async function startFakeComfyUI() {
  const requests: Array<{ method: string; path: string; search: string; status: number }> = [];
  const prompts = new Map<string, FakePrompt>();
  const history = new Map<string, Json>();
  const inputs = new Map<string, Uint8Array>();
  const files = new Map<string, { bytes: Uint8Array; type: string }>();
  const sockets = new Map<string, ServerWebSocket<{ clientId: string }>>();
  const pending: QueueItem[] = [];
  let running: QueueItem | null = null;
  let lastNode: string | null = null;
  let counter = 0;
  let seq = 0;
  let fail: { times: number; message: string } | null = null;
  let down = 0;
  let hold: { held: HeldPrompt[]; waiters: Array<() => void>; open: boolean } | null = null;
  const media = new Map<string, Promise<Uint8Array>>();

  const remaining = () => pending.length + (running ? 1 : 0);
  const send = (sid: string | null | undefined, type: string, data: Json) => {
    const message = JSON.stringify({ type, data });
    if (sid == null) for (const ws of sockets.values()) ws.send(message);
    else sockets.get(sid)?.send(message);
  };
  const queueUpdated = () => send(null, "status", { status: { exec_info: { queue_remaining: remaining() } } });

  /** execution.py validate_prompt: the error of a refused prompt, or null. */
  function validate(prompt: Graph): { error: Json; node_errors: Json } | { outputs: string[] } {
    const outputs: string[] = [];
    for (const [id, node] of Object.entries(prompt)) {
      if (!node || typeof node !== "object" || !("class_type" in node))
        return {
          error: {
            type: "invalid_prompt",
            message: "Cannot execute because a node is missing the class_type property.",
            details: `Node ID '#${id}'`,
            extra_info: {},
          },
          node_errors: {},
        };
      const cls = NODES[node.class_type as string];
      if (!cls)
        return {
          error: {
            type: "invalid_prompt",
            message: `Cannot execute because node ${node.class_type} does not exist.`,
            details: `Node ID '#${id}'`,
            extra_info: {},
          },
          node_errors: {},
        };
      if (cls.output) outputs.push(id);
    }
    if (!outputs.length)
      return {
        error: { type: "prompt_no_outputs", message: "Prompt has no outputs", details: "", extra_info: {} },
        node_errors: {},
      };
    const nodeErrors: Json = {};
    for (const [id, node] of Object.entries(prompt)) {
      const cls = NODES[node.class_type!]!;
      const errors: Json[] = [];
      for (const name of cls.required) {
        const v = node.inputs?.[name];
        if (v === undefined) {
          errors.push({
            type: "required_input_missing",
            message: "Required input is missing",
            details: name,
            extra_info: { input_name: name },
          });
          continue;
        }
        if (Array.isArray(v)) {
          if (v.length !== 2 || !(String(v[0]) in prompt))
            errors.push({
              type: "exception_during_validation",
              message: "Exception when validating node",
              details: `'${v[0]}'`,
              extra_info: {},
            });
          continue;
        }
        if (cls.numbers?.includes(name) && !Number.isFinite(Number(v)))
          errors.push({
            type: "invalid_input_type",
            message: "Failed to convert an input value to a INT value",
            details: `${name}, ${v}`,
            extra_info: { input_name: name, received_value: v },
          });
        if (cls.combo?.[0] === name && !cls.combo[1].includes(v))
          errors.push({
            type: "value_not_in_list",
            message: "Value not in list",
            details: `${name}: '${v}' not in ${JSON.stringify(cls.combo[1])}`,
            extra_info: { input_name: name, received_value: v },
          });
        if (node.class_type === "LoadImage" && name === "image" && !inputs.has(String(v)))
          errors.push({
            type: "custom_validation_failed",
            message: "Custom validation failed for node",
            details: `image - Invalid image file: ${v}`,
            extra_info: { input_name: name },
          });
      }
      if (errors.length) nodeErrors[id] = { errors, dependent_outputs: outputs, class_type: node.class_type };
    }
    if (Object.keys(nodeErrors).length) {
      const details = Object.values(nodeErrors)
        .flatMap((e: Json) => e.errors.map((x: Json) => `${x.message}: ${x.details}`))
        .join("\n");
      return {
        error: {
          type: "prompt_outputs_failed_validation",
          message: "Prompt outputs failed validation",
          details,
          extra_info: {},
        },
        node_errors: nodeErrors,
      };
    }
    return { outputs };
  }

  /** Nodes in the order ComfyUI runs them: every input's node before the node. */
  function order(prompt: Graph): string[] {
    const out: string[] = [];
    const seen = new Set<string>();
    const visit = (id: string) => {
      if (seen.has(id)) return;
      seen.add(id);
      for (const v of Object.values(prompt[id]?.inputs ?? {})) if (Array.isArray(v)) visit(String(v[0]));
      out.push(id);
    };
    for (const id of Object.keys(prompt)) visit(id);
    return out;
  }

  const num = (prompt: Graph, cls: string, input: string) =>
    Object.values(prompt).find((n) => n.class_type === cls)?.inputs?.[input] as number | undefined;

  function make(kind: "png" | "mp4", w: number, h: number, seconds = 1, fps = 8): Promise<Uint8Array> {
    const key = `${kind}:${w}x${h}:${seconds}:${fps}`;
    let made = media.get(key);
    if (!made) {
      made = renderMedia(kind, w, h, seconds, fps);
      media.set(key, made);
    }
    return made;
  }

  async function execute(item: QueueItem) {
    const sid = item.extra.client_id as string | undefined;
    const now = () => Date.now();
    const messages: Array<[string, Json]> = [];
    const note = (type: string, data: Json) => {
      if (["execution_start", "execution_cached", "execution_success", "execution_error"].includes(type))
        messages.push([type, data]);
      send(sid, type, data);
    };
    note("execution_start", { prompt_id: item.id, timestamp: now() });
    note("execution_cached", { nodes: [], prompt_id: item.id, timestamp: now() });
    const outputs: Json = {};
    const failing = fail && fail.times > 0 ? fail : null;
    if (failing) failing.times--;
    for (const id of order(item.prompt)) {
      const node = item.prompt[id]!;
      lastNode = id;
      send(sid, "executing", { node: id, display_node: id, prompt_id: item.id });
      if (node.class_type === "KSampler") {
        const steps = Math.min(4, Number(node.inputs?.steps ?? 4));
        send(sid, "progress", { value: 1, max: steps, prompt_id: item.id, node: id });
        if (hold && !hold.open) {
          await new Promise<void>((resolve) => {
            const h: HeldPrompt = { id: item.id, release: resolve };
            hold!.held.push(h);
            for (const w of hold!.waiters.splice(0)) w();
          });
        }
        if (failing) {
          note("execution_error", {
            prompt_id: item.id,
            node_id: id,
            node_type: node.class_type,
            executed: [],
            exception_message: failing.message,
            exception_type: "torch.OutOfMemoryError",
            traceback: [],
            current_inputs: {},
            current_outputs: {},
            timestamp: now(),
          });
          lastNode = null;
          return { outputs: {}, status: { status_str: "error", completed: false, messages } };
        }
        for (let v = 2; v <= steps; v++) send(sid, "progress", { value: v, max: steps, prompt_id: item.id, node: id });
      }
      if (node.class_type === "SaveImage" || node.class_type === "PreviewImage") {
        const w = num(item.prompt, "ImageScale", "width") ?? num(item.prompt, "EmptyLatentImage", "width") ?? 512;
        const h = num(item.prompt, "ImageScale", "height") ?? num(item.prompt, "EmptyLatentImage", "height") ?? 512;
        const filename = `inkreel_${String(++seq).padStart(5, "0")}_.png`;
        const type = node.class_type === "SaveImage" ? "output" : "temp";
        files.set(`${type}//${filename}`, { bytes: await make("png", w, h), type: "image/png" });
        outputs[id] = { images: [{ filename, subfolder: "", type }] };
      }
      if (node.class_type === "SaveVideo") {
        const w = num(item.prompt, "SVD_img2vid_Conditioning", "width") ?? 512;
        const h = num(item.prompt, "SVD_img2vid_Conditioning", "height") ?? 288;
        const fps = num(item.prompt, "CreateVideo", "fps") ?? 8;
        const frames = num(item.prompt, "SVD_img2vid_Conditioning", "video_frames") ?? 16;
        const filename = `clip_${String(++seq).padStart(5, "0")}_.mp4`;
        files.set(`output/inkreel/${filename}`, {
          bytes: await make("mp4", w, h, Math.max(0.25, frames / fps), fps),
          type: "video/mp4",
        });
        outputs[id] = { images: [{ filename, subfolder: "inkreel", type: "output" }], animated: [true] };
      }
      if (outputs[id]) send(sid, "executed", { node: id, display_node: id, output: outputs[id], prompt_id: item.id });
    }
    lastNode = null;
    send(sid, "executing", { node: null, prompt_id: item.id });
    note("execution_success", { prompt_id: item.id, timestamp: now() });
    return { outputs, status: { status_str: "success", completed: true, messages } };
  }

  function pump() {
    if (running || !pending.length) return;
    pending.sort((a, b) => a.number - b.number);
    const item = pending.shift()!;
    running = item;
    queueUpdated();
    void execute(item).then((done) => {
      history.set(item.id, {
        prompt: [item.number, item.id, item.prompt, item.extra, item.outputs],
        outputs: done.outputs,
        status: done.status,
        meta: {},
      });
      running = null;
      queueUpdated();
      pump();
    });
  }

  const json = (body: unknown, status = 200) => Response.json(body, { status });

  async function route(req: Request, url: URL): Promise<Response> {
    const path = url.pathname.replace(/^\/api(?=\/)/, "");
    if (down > 0 && path !== "/ws") {
      down--;
      return new Response("500 Internal Server Error\n\nServer got itself in trouble", { status: 500 });
    }
    if (req.method === "POST" && path === "/upload/image") {
      const form = await req.formData();
      const image = form.get("image");
      if (!(image instanceof File) || !image.name) return new Response(null, { status: 400 });
      const subfolder = String(form.get("subfolder") ?? "");
      const name = subfolder ? `${subfolder}/${image.name}` : image.name;
      inputs.set(name, new Uint8Array(await image.arrayBuffer()));
      return json({ name: image.name, subfolder, type: String(form.get("type") ?? "input") });
    }
    if (req.method === "POST" && path === "/prompt") {
      const body = (await req.json()) as Json;
      const number = "number" in body ? Number(body.number) : body.front ? -counter++ : counter++;
      if (!("prompt" in body)) return json({ error: "no prompt", node_errors: [] }, 400);
      const id = String(body.prompt_id ?? crypto.randomUUID());
      const seen = prompts.get(id) ?? { id, clientId: body.client_id ?? null, prompt: body.prompt, posts: 0 };
      seen.posts++;
      prompts.set(id, seen);
      const valid = validate(body.prompt);
      if (!("outputs" in valid)) return json(valid, 400);
      const extra = { ...(body.extra_data ?? {}), ...(body.client_id ? { client_id: body.client_id } : {}) };
      pending.push({ number, id, prompt: body.prompt, extra, outputs: valid.outputs });
      queueUpdated();
      queueMicrotask(pump);
      return json({ prompt_id: id, number, node_errors: {} });
    }
    if (req.method === "GET" && path === "/queue") {
      const tuple = (i: QueueItem) => [i.number, i.id, i.prompt, i.extra, i.outputs];
      return json({ queue_running: running ? [tuple(running)] : [], queue_pending: pending.map(tuple) });
    }
    if (req.method === "POST" && path === "/queue") {
      const body = (await req.json()) as Json;
      if (body.clear) pending.length = 0;
      for (const id of body.delete ?? []) {
        const i = pending.findIndex((p) => p.id === id);
        if (i >= 0) pending.splice(i, 1);
      }
      queueUpdated();
      return new Response(null, { status: 200 });
    }
    if (req.method === "POST" && path === "/interrupt") return new Response(null, { status: 200 });
    if (req.method === "GET" && path.startsWith("/history/")) {
      const id = decodeURIComponent(path.slice("/history/".length));
      const entry = history.get(id);
      return json(entry ? { [id]: structuredClone(entry) } : {});
    }
    if (req.method === "GET" && path === "/history") return json(Object.fromEntries(history));
    if (req.method === "GET" && path === "/view") {
      const filename = url.searchParams.get("filename");
      if (!filename) return new Response(null, { status: 404 });
      if (filename.startsWith("/") || filename.includes("..")) return new Response(null, { status: 400 });
      const type = url.searchParams.get("type") ?? "output";
      const f = files.get(`${type}/${url.searchParams.get("subfolder") ?? ""}/${filename}`);
      if (!f) return new Response(null, { status: 404 });
      return new Response(f.bytes as Uint8Array<ArrayBuffer>, {
        headers: { "content-type": f.type, "content-disposition": `filename="${filename}"` },
      });
    }
    if (req.method === "GET" && path === "/object_info") {
      const info = Object.fromEntries(
        Object.entries(NODES).map(([name, c]) => [
          name,
          {
            input: {
              required: Object.fromEntries(c.required.map((r) => [r, [c.numbers?.includes(r) ? "INT" : "*", {}]])),
            },
            name,
            display_name: name,
            output_node: !!c.output,
            category: "sd",
          },
        ]),
      );
      return json(info);
    }
    return new Response(null, { status: 404 });
  }

  const server = Bun.serve<{ clientId: string }>({
    port: 0,
    hostname: "127.0.0.1",
    async fetch(req, srv) {
      const url = new URL(req.url);
      if (url.pathname === "/ws" || url.pathname === "/api/ws") {
        const clientId = url.searchParams.get("clientId") || crypto.randomUUID().replaceAll("-", "");
        requests.push({ method: "WS", path: url.pathname, search: url.search, status: 101 });
        return srv.upgrade(req, { data: { clientId } }) ? undefined : new Response(null, { status: 400 });
      }
      const res = await route(req, url);
      requests.push({ method: req.method, path: url.pathname, search: url.search, status: res.status });
      return res;
    },
    websocket: {
      open(ws) {
        sockets.set(ws.data.clientId, ws);
        ws.send(
          JSON.stringify({
            type: "status",
            data: { status: { exec_info: { queue_remaining: remaining() } }, sid: ws.data.clientId },
          }),
        );
        // On reconnect, the client whose prompt is running is told the node it is at (server.py).
        if (running && running.extra.client_id === ws.data.clientId && lastNode !== null)
          ws.send(JSON.stringify({ type: "executing", data: { node: lastNode } }));
      },
      close(ws) {
        if (sockets.get(ws.data.clientId) === ws) sockets.delete(ws.data.clientId);
      },
      message() {},
    },
  });

  return {
    url: `http://127.0.0.1:${server.port}`,
    requests,
    prompts,
    history,
    /** POST /prompt requests received (refused ones included). */
    posts: () => requests.filter((r) => r.method === "POST" && r.path === "/prompt").length,
    /** Prompts stay running after their sampler's first step until released (or `release()`). */
    hold() {
      const h = { held: [] as HeldPrompt[], waiters: [] as Array<() => void>, open: false };
      hold = h;
      return {
        held: h.held,
        /** Resolves once `n` prompts have been held in all. */
        async arrived(n: number) {
          while (h.held.length < n) await new Promise<void>((r) => h.waiters.push(r));
          return h.held.slice(0, n);
        },
        /** Lets every held prompt (and later ones) run on. */
        release() {
          h.open = true;
          for (const p of h.held) p.release();
        },
      };
    },
    /** The next `times` prompts fail while running (execution_error at their sampler). */
    failRuns(times: number, message = "CUDA out of memory. Tried to allocate 2.00 GiB") {
      fail = { times, message };
    },
    /** The next `times` HTTP requests answer 500. */
    breakDown(times: number) {
      down = times;
    },
    reset() {
      requests.length = 0;
      prompts.clear();
      history.clear();
      pending.length = 0;
      fail = null;
      down = 0;
      for (const p of hold?.held ?? []) p.release();
      hold = null;
    },
    stop: () => server.stop(true),
  };
}

export type FakeComfyUI = Awaited<ReturnType<typeof startFakeComfyUI>>;
