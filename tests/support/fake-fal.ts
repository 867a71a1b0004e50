// A small local stand-in for fal.ai, speaking the wire format @fal-ai/client uses:
//   queue.fal.run  POST /{endpoint}                         → {request_id, status_url, response_url, cancel_url}
//                  GET  /{owner}/{app}/requests/{id}/status → {status: IN_QUEUE|IN_PROGRESS|COMPLETED, queue_position?, …}
//                  GET  /{owner}/{app}/requests/{id}        → the model's output JSON (or its 422 {detail})
//                  PUT  /{owner}/{app}/requests/{id}/cancel → 202 CANCELLATION_REQUESTED | 400 ALREADY_COMPLETED
//   rest.fal.ai    POST /storage/upload/initiate?storage_type=fal-cdn-v3 {content_type, file_name} → {upload_url, file_url}
//   signed upload  PUT  /upload/{id}                        (the bytes; no credentials)
//   CDN            GET  /files/{id}/{name}                  (uploads, and results: real PNGs and MP4s)
// Status and result paths name only owner/app (the client drops the endpoint's sub-path), as on fal.
// Inputs are validated per endpoint like fal's apps do — at run time, so the 422 `{detail: [{loc,
// msg, type}]}` comes from the result, not from the submission. Every HTTP request is recorded,
// every accepted submission too; statuses can be scripted per request, and faults (429/503/422 …)
// injected per call. Gates hold calls until the test lets them go (crash tests kill the worker at a
// chosen point): a submission held before it is accepted (nothing queued, nothing paid) or after
// (queued and paid, its answer not yet sent), a result download held mid-way.

import { join } from "node:path";
import type { RequestMiddleware } from "@fal-ai/client";
import { runFfmpeg, withTempDir } from "../../src/media/ffmpeg.ts";
import { paintKeyframe } from "../../src/providers/local/painter.ts";
import { TEST_H264 } from "./media.ts";

export type FalCall = "submit" | "status" | "result" | "cancel" | "initiate" | "upload" | "file" | "unknown";
export type QueueState = "IN_QUEUE" | "IN_PROGRESS" | "COMPLETED";

export interface RecordedFalRequest {
  call: FalCall;
  method: string;
  path: string;
  search: string;
  headers: Record<string, string>;
  /** Parsed JSON, or the byte count of a binary body. */
  body: unknown;
  status: number;
}

export interface FalSubmission {
  requestId: string;
  /** The endpoint as submitted, e.g. fal-ai/kling-video/v2.1/standard/image-to-video. */
  endpoint: string;
  input: Record<string, any>;
  headers: Record<string, string>;
  /** The status script: the n-th status poll answers statuses[min(n, last)]. */
  statuses: QueueState[];
  polls: number;
  cancelled: boolean;
  /** The `fal_webhook` URL it was submitted with, if any. */
  webhookUrl: string | null;
  /** When its answer (the request id) was sent: epoch ms, sub-millisecond (performance.timeOrigin + now). */
  answeredAt?: number;
}

/** A call a gate holds. */
export interface FalHeldCall {
  call: FalCall;
  path: string;
  /** The submission, once accepted (at once for an "after" gate, on release for a "before" one). */
  submission?: FalSubmission;
  /** Lets it through: a submission held before acceptance is accepted now; the answer is sent. */
  release(): void;
  /** Held before acceptance only: answers 503 and queues nothing, as if the call never reached fal. */
  drop(): void;
}

export interface FalGate {
  readonly held: FalHeldCall[];
  /** Resolves once `n` calls have been held in all. */
  arrived(n: number): Promise<FalHeldCall[]>;
  /** Stops holding: later calls pass, and the calls still held are released. */
  open(): void;
}

export interface FalFault {
  call: FalCall;
  status: number;
  body?: unknown;
  headers?: Record<string, string>;
  /** How many matching calls fail (default 1; Infinity for a persistent fault). */
  times?: number;
  /** Only calls about this request (status/result/cancel). */
  requestId?: string;
}

export interface FalUpload {
  id: string;
  fileName: string;
  contentType: string;
  bytes: Uint8Array | null;
  fileUrl: string;
}

const IMAGE_PRESETS: Record<string, [number, number]> = {
  square_hd: [1024, 1024],
  square: [512, 512],
  portrait_4_3: [768, 1024],
  portrait_16_9: [576, 1024],
  landscape_4_3: [1024, 768],
  landscape_16_9: [1024, 576],
};
const KONTEXT_RATIOS = ["21:9", "16:9", "4:3", "3:2", "1:1", "2:3", "3:4", "9:16", "9:21"];

type Field = { loc: string; msg: string; type: string };
type Spec = {
  kind: "image" | "video";
  validate(input: Record<string, any>, check: (url: unknown) => boolean): Field[];
};

const enumOf = (input: Record<string, any>, field: string, allowed: unknown[], out: Field[]) => {
  if (input[field] !== undefined && !allowed.includes(input[field])) {
    out.push({ loc: field, msg: `Input should be ${allowed.map((a) => `'${a}'`).join(", ")}`, type: "enum" });
  }
};
const required = (input: Record<string, any>, field: string, out: Field[]) => {
  if (input[field] === undefined || input[field] === null || input[field] === "")
    out.push({ loc: field, msg: "Field required", type: "missing" });
};
const maxLength = (input: Record<string, any>, field: string, n: number, out: Field[]) => {
  if (typeof input[field] === "string" && input[field].length > n)
    out.push({ loc: field, msg: `String should have at most ${n} characters`, type: "string_too_long" });
};
const fetchable = (input: Record<string, any>, field: string, check: (url: unknown) => boolean, out: Field[]) => {
  const urls = Array.isArray(input[field]) ? input[field] : input[field] === undefined ? [] : [input[field]];
  for (const u of urls)
    if (!check(u))
      out.push({
        loc: field,
        msg: `Could not download the file from ${String(u).slice(0, 120)}`,
        type: "file_download_error",
      });
};

const flux: Spec = {
  kind: "image",
  validate(i) {
    const out: Field[] = [];
    required(i, "prompt", out);
    const s = i.image_size;
    if (
      s !== undefined &&
      !(typeof s === "string" ? s in IMAGE_PRESETS : Number.isInteger(s?.width) && Number.isInteger(s?.height))
    ) {
      out.push({ loc: "image_size", msg: "Input should be a valid image size", type: "value_error" });
    }
    enumOf(i, "output_format", ["jpeg", "png"], out);
    return out;
  },
};
const kontext = (multi: boolean): Spec => ({
  kind: "image",
  validate(i, check) {
    const out: Field[] = [];
    required(i, "prompt", out);
    required(i, multi ? "image_urls" : "image_url", out);
    fetchable(i, multi ? "image_urls" : "image_url", check, out);
    enumOf(i, "aspect_ratio", KONTEXT_RATIOS, out);
    enumOf(i, "output_format", ["jpeg", "png"], out);
    return out;
  },
});
const video = (o: {
  image: boolean;
  durations: string[];
  ratios?: string[];
  resolutions?: string[];
  maxPrompt?: number;
}): Spec => ({
  kind: "video",
  validate(i, check) {
    const out: Field[] = [];
    required(i, "prompt", out);
    if (o.maxPrompt) maxLength(i, "prompt", o.maxPrompt, out);
    if (o.image) {
      required(i, "image_url", out);
      fetchable(i, "image_url", check, out);
    } else if (i.image_url !== undefined)
      out.push({ loc: "image_url", msg: "Extra inputs are not permitted", type: "extra_forbidden" });
    enumOf(i, "duration", o.durations, out);
    if (o.ratios) enumOf(i, "aspect_ratio", o.ratios, out);
    else if (i.aspect_ratio !== undefined)
      out.push({ loc: "aspect_ratio", msg: "Extra inputs are not permitted", type: "extra_forbidden" });
    if (o.resolutions) enumOf(i, "resolution", o.resolutions, out);
    else if (i.resolution !== undefined)
      out.push({ loc: "resolution", msg: "Extra inputs are not permitted", type: "extra_forbidden" });
    return out;
  },
});

/** The endpoints the fake serves, with fal's documented input constraints. */
const ENDPOINTS: Record<string, Spec> = {
  "fal-ai/flux/dev": flux,
  "fal-ai/flux/schnell": flux,
  "fal-ai/flux-pro/kontext": kontext(false),
  "fal-ai/flux-pro/kontext/max": kontext(false),
  "fal-ai/flux-pro/kontext/multi": kontext(true),
  "fal-ai/flux-pro/kontext/max/multi": kontext(true),
  "fal-ai/kling-video/v2.1/standard/image-to-video": video({ image: true, durations: ["5", "10"], maxPrompt: 2500 }),
  "fal-ai/kling-video/v2.1/master/image-to-video": video({ image: true, durations: ["5", "10"], maxPrompt: 2500 }),
  "fal-ai/kling-video/v2.1/master/text-to-video": video({
    image: false,
    durations: ["5", "10"],
    ratios: ["16:9", "9:16", "1:1"],
    maxPrompt: 2500,
  }),
  "fal-ai/minimax/hailuo-02/standard/image-to-video": video({
    image: true,
    durations: ["6", "10"],
    resolutions: ["512P", "768P"],
  }),
  "fal-ai/minimax/hailuo-02/standard/text-to-video": video({ image: false, durations: ["6", "10"] }),
  "fal-ai/veo3.1/image-to-video": video({
    image: true,
    durations: ["4s", "6s", "8s"],
    ratios: ["auto", "16:9", "9:16"],
    resolutions: ["720p", "1080p"],
  }),
  "fal-ai/veo3.1/fast/image-to-video": video({
    image: true,
    durations: ["4s", "6s", "8s"],
    ratios: ["auto", "16:9", "9:16"],
    resolutions: ["720p", "1080p"],
  }),
  "fal-ai/veo3.1": video({
    image: false,
    durations: ["4s", "6s", "8s"],
    ratios: ["16:9", "9:16"],
    resolutions: ["720p", "1080p"],
  }),
  "fal-ai/veo3.1/fast": video({
    image: false,
    durations: ["4s", "6s", "8s"],
    ratios: ["16:9", "9:16"],
    resolutions: ["720p", "1080p"],
  }),
};

const DEFAULT_SCRIPT: QueueState[] = ["IN_QUEUE", "IN_PROGRESS", "COMPLETED"];

const pngSize = (b: Uint8Array | null): [number, number] | null =>
  b && b.length >= 24 && b[1] === 0x50 && b[2] === 0x4e && b[3] === 0x47
    ? [new DataView(b.buffer, b.byteOffset).getUint32(16), new DataView(b.buffer, b.byteOffset).getUint32(20)]
    : null;
const even = (n: number) => Math.max(2, Math.round(n / 2) * 2);
/** A frame of the ratio, fitted to `long` pixels on its long side, even sides. */
function fit(ratio: number, long: number): [number, number] {
  return ratio >= 1 ? [even(long), even(long / ratio)] : [even(long * ratio), even(long)];
}
const ratioOf = (r: string) => {
  const [w, h] = r.split(":").map(Number);
  return w! / h!;
};

export async function startFakeFal(options: { key?: string } = {}) {
  const key = options.key ?? "fake-key-id:fake-key-secret";
  const requests: RecordedFalRequest[] = [];
  const submissions: FalSubmission[] = [];
  const uploads = new Map<string, FalUpload>();
  const outputs = new Map<string, { bytes: Uint8Array; contentType: string }>();
  const results = new Map<string, { status: number; body: unknown }>();
  const faults: Array<FalFault & { left: number }> = [];
  const mediaCache = new Map<string, Promise<Uint8Array>>();
  let script: QueueState[] = DEFAULT_SCRIPT;
  let seq = 0;
  type GateState = FalGate & {
    call: FalCall;
    when: "before" | "after";
    endpoint?: string;
    closed: boolean;
    hold(h: Omit<FalHeldCall, "release" | "drop">): { entry: FalHeldCall; decision: Promise<"release" | "drop"> };
  };
  const gates: GateState[] = [];

  function gate(o: { call: FalCall; when?: "before" | "after"; endpoint?: string }): FalGate {
    const held: FalHeldCall[] = [];
    const waiting: Array<{ n: number; resolve: (h: FalHeldCall[]) => void }> = [];
    const g: GateState = {
      call: o.call,
      when: o.when ?? "before",
      endpoint: o.endpoint,
      closed: false,
      held,
      arrived(n) {
        if (held.length >= n) return Promise.resolve(held.slice(0, n));
        return new Promise((resolve) => waiting.push({ n, resolve }));
      },
      open() {
        g.closed = true;
        for (const h of held) h.release();
      },
      hold(h) {
        let entry!: FalHeldCall;
        const decision = new Promise<"release" | "drop">((resolve) => {
          let settled = false;
          entry = {
            ...h,
            release: () => {
              if (settled) return;
              settled = true;
              resolve("release");
            },
            drop: () => {
              if (g.when !== "before") throw new Error("only a call held before acceptance can be dropped");
              if (settled) return;
              settled = true;
              resolve("drop");
            },
          };
        });
        held.push(entry);
        for (const w of waiting.splice(0)) {
          if (held.length >= w.n) w.resolve(held.slice(0, w.n));
          else waiting.push(w);
        }
        return { entry, decision };
      },
    };
    gates.push(g);
    return g;
  }

  const server = Bun.serve({
    port: 0,
    hostname: "127.0.0.1",
    idleTimeout: 60,
    fetch: handle,
  });
  const url = `http://127.0.0.1:${server.port}`;
  const byId = (id: string) => submissions.find((s) => s.requestId === id);

  /** Whether fal could fetch this URL: only the fake's own uploads and outputs (there is no internet). */
  function fetchableUrl(u: unknown): boolean {
    if (typeof u !== "string" || !u.startsWith(`${url}/files/`)) return false;
    const id = u.slice(`${url}/files/`.length).split("/")[0]!;
    return (uploads.get(id)?.bytes ?? null) !== null || outputs.has(id);
  }

  function classify(method: string, path: string): FalCall {
    if (method === "POST" && path === "/storage/upload/initiate") return "initiate";
    if (method === "PUT" && path.startsWith("/upload/")) return "upload";
    if (method === "GET" && path.startsWith("/files/")) return "file";
    if (method === "POST") return "submit";
    if (method === "PUT" && /\/requests\/[^/]+\/cancel$/.test(path)) return "cancel";
    if (method === "GET" && /\/requests\/[^/]+\/status$/.test(path)) return "status";
    if (method === "GET" && /\/requests\/[^/]+$/.test(path)) return "result";
    return "unknown";
  }

  const requestIdOf = (path: string) => /\/requests\/([^/]+)/.exec(path)?.[1];

  async function handle(req: Request): Promise<Response> {
    const u = new URL(req.url);
    const method = req.method.toUpperCase();
    const call = classify(method, u.pathname);
    const headers: Record<string, string> = {};
    req.headers.forEach((v, k) => {
      headers[k] = v;
    });
    let body: unknown = null;
    let raw: Uint8Array | null = null;
    if (method === "POST" || method === "PUT") {
      raw = new Uint8Array(await req.arrayBuffer());
      const text = (headers["content-type"] ?? "").includes("json") ? new TextDecoder().decode(raw) : null;
      try {
        body = text != null ? JSON.parse(text) : raw.length;
      } catch {
        body = text;
      }
    }
    const record: RecordedFalRequest = { call, method, path: u.pathname, search: u.search, headers, body, status: 0 };
    requests.push(record);
    const g = gates.find((x) => !x.closed && x.call === call && (!x.endpoint || u.pathname === `/${x.endpoint}`));
    const before = g?.when === "before" ? g.hold({ call, path: u.pathname }) : null;
    if (before && (await before.decision) === "drop") {
      record.status = 503;
      return Response.json({ detail: "dropped before it was queued" }, { status: 503 });
    }
    const res = await route(call, u, headers, body, raw);
    const submission = call === "submit" ? byId(res.headers.get("x-fal-request-id") ?? "") : undefined;
    if (before) before.entry.submission = submission;
    if (g?.when === "after") await g.hold({ call, path: u.pathname, submission }).decision;
    if (submission) submission.answeredAt = performance.timeOrigin + performance.now();
    record.status = res.status;
    return res;
  }

  function authorized(headers: Record<string, string>) {
    return headers.authorization === `Key ${key}`;
  }

  async function route(
    call: FalCall,
    u: URL,
    headers: Record<string, string>,
    body: unknown,
    raw: Uint8Array | null,
  ): Promise<Response> {
    const rid = requestIdOf(u.pathname);
    const fault = faults.find((f) => f.left > 0 && f.call === call && (!f.requestId || f.requestId === rid));
    if (fault) {
      fault.left--;
      return Response.json(
        fault.body ?? { detail: fault.status === 429 ? "Rate limit exceeded" : `Fault ${fault.status}` },
        { status: fault.status, headers: fault.headers },
      );
    }
    if (["submit", "status", "result", "cancel", "initiate"].includes(call) && !authorized(headers)) {
      return Response.json({ detail: "No user found for Key ID and Secret" }, { status: 401 });
    }
    switch (call) {
      case "initiate": {
        const b = body as { content_type?: string; file_name?: string } | null;
        if (u.searchParams.get("storage_type") !== "fal-cdn-v3" || !b?.content_type || !b.file_name) {
          return Response.json(
            { detail: [{ loc: ["body"], msg: "content_type and file_name required", type: "missing" }] },
            { status: 422 },
          );
        }
        const id = `up-${++seq}`;
        const fileUrl = `${url}/files/${id}/${encodeURIComponent(b.file_name)}`;
        uploads.set(id, { id, fileName: b.file_name, contentType: b.content_type, bytes: null, fileUrl });
        return Response.json({ upload_url: `${url}/upload/${id}?X-Goog-Signature=fake`, file_url: fileUrl });
      }
      case "upload": {
        const up = uploads.get(u.pathname.split("/")[2]!);
        if (!up) return new Response("no such upload", { status: 404 });
        up.bytes = raw;
        if (headers["content-type"]) up.contentType = headers["content-type"];
        return new Response(null, { status: 200 });
      }
      case "file": {
        const id = u.pathname.split("/")[2]!;
        const f = uploads.get(id);
        if (f?.bytes)
          return new Response(f.bytes as Uint8Array<ArrayBuffer>, { headers: { "content-type": f.contentType } });
        const o = outputs.get(id);
        if (o) return new Response(o.bytes as Uint8Array<ArrayBuffer>, { headers: { "content-type": o.contentType } });
        return new Response("not found", { status: 404 });
      }
      case "submit": {
        const endpoint = u.pathname.slice(1);
        if (!ENDPOINTS[endpoint])
          return Response.json({ detail: `Application '${endpoint}' not found` }, { status: 404 });
        if (!body || typeof body !== "object")
          return Response.json(
            { detail: [{ loc: ["body"], msg: "Input should be a valid dictionary", type: "dict_type" }] },
            { status: 422 },
          );
        const requestId = crypto.randomUUID();
        submissions.push({
          requestId,
          endpoint,
          input: body as Record<string, any>,
          headers,
          statuses: [...script],
          polls: 0,
          cancelled: false,
          webhookUrl: u.searchParams.get("fal_webhook"),
        });
        return Response.json(urlsOf(endpoint, requestId), { headers: { "x-fal-request-id": requestId } });
      }
      case "status": {
        const s = find(u.pathname, rid);
        if (s instanceof Response) return s;
        const state = s.cancelled ? "COMPLETED" : s.statuses[Math.min(s.polls, s.statuses.length - 1)]!;
        s.polls++;
        const position =
          state === "IN_QUEUE" ? s.statuses.slice(s.polls).filter((x) => x === "IN_QUEUE").length : undefined;
        const logs = u.searchParams.get("logs") === "1" ? [] : null;
        return Response.json({
          status: state,
          ...urlsOf(s.endpoint, s.requestId),
          ...(position !== undefined ? { queue_position: position } : {}),
          ...(state !== "IN_QUEUE" ? { logs } : {}),
          ...(state === "COMPLETED" ? { metrics: { inference_time: 1.5 } } : {}),
        });
      }
      case "result": {
        const s = find(u.pathname, rid);
        if (s instanceof Response) return s;
        if (s.cancelled) return Response.json({ detail: "Request was cancelled" }, { status: 400 });
        if (!completed(s)) return Response.json({ detail: "Request is still in progress" }, { status: 400 });
        const r = results.get(s.requestId) ?? (await run(s));
        results.set(s.requestId, r);
        return Response.json(r.body, { status: r.status, headers: { "x-fal-request-id": s.requestId } });
      }
      case "cancel": {
        const s = find(u.pathname, rid);
        if (s instanceof Response) return Response.json({ status: "NOT_FOUND" }, { status: 404 });
        if (completed(s) && !s.cancelled) return Response.json({ status: "ALREADY_COMPLETED" }, { status: 400 });
        s.cancelled = true;
        return Response.json({ status: "CANCELLATION_REQUESTED" }, { status: 202 });
      }
      default:
        return Response.json({ detail: "Not Found" }, { status: 404 });
    }
  }

  function urlsOf(endpoint: string, requestId: string) {
    const app = endpoint.split("/").slice(0, 2).join("/");
    const base = `https://queue.fal.run/${app}/requests/${requestId}`;
    return { request_id: requestId, response_url: base, status_url: `${base}/status`, cancel_url: `${base}/cancel` };
  }

  /** The submission a status/result/cancel path names; its owner/app must be the submission's. */
  function find(path: string, rid: string | undefined): FalSubmission | Response {
    const s = rid ? byId(rid) : undefined;
    const app = path.split("/requests/")[0]!.slice(1);
    if (!s || s.endpoint.split("/").slice(0, 2).join("/") !== app)
      return Response.json({ detail: "Request not found" }, { status: 404 });
    return s;
  }

  const completed = (s: FalSubmission) =>
    s.polls > 0 && s.statuses[Math.min(s.polls - 1, s.statuses.length - 1)] === "COMPLETED";

  /** The app at work: validation (422 from the result, as fal's apps answer), then real media. */
  async function run(s: FalSubmission): Promise<{ status: number; body: unknown }> {
    const spec = ENDPOINTS[s.endpoint]!;
    const errors = spec.validate(s.input, fetchableUrl);
    if (errors.length)
      return { status: 422, body: { detail: errors.map((e) => ({ loc: ["body", e.loc], msg: e.msg, type: e.type })) } };
    if (spec.kind === "image") {
      const [w, h] = imageDims(s.input);
      const bytes = await media(`png:${w}x${h}`, () =>
        paintKeyframe({
          width: w,
          height: h,
          scene: { location: "fal studio", timeOfDay: "day", mood: "calm" },
          characters: [],
        }),
      );
      const id = `out-${++seq}`;
      outputs.set(id, { bytes, contentType: "image/png" });
      return {
        status: 200,
        body: {
          images: [{ url: `${url}/files/${id}/image.png`, width: w, height: h, content_type: "image/png" }],
          seed: s.input.seed ?? 42,
          has_nsfw_concepts: [false],
          prompt: s.input.prompt,
          timings: { inference: 1.5 },
        },
      };
    }
    const seconds = Number(String(s.input.duration ?? "5").replace(/s$/, ""));
    const [w, h] = videoDims(s.input);
    const bytes = await media(`mp4:${w}x${h}:${seconds}`, () => mp4(w, h, seconds));
    const id = `out-${++seq}`;
    outputs.set(id, { bytes, contentType: "video/mp4" });
    return {
      status: 200,
      body: {
        video: {
          url: `${url}/files/${id}/output.mp4`,
          content_type: "video/mp4",
          file_name: "output.mp4",
          file_size: bytes.length,
        },
      },
    };
  }

  function imageDims(input: Record<string, any>): [number, number] {
    const s = input.image_size;
    if (typeof s === "string") return IMAGE_PRESETS[s]!;
    if (s && typeof s === "object") return [even(s.width), even(s.height)];
    if (typeof input.aspect_ratio === "string") return fit(ratioOf(input.aspect_ratio), 1024);
    return IMAGE_PRESETS.landscape_4_3!;
  }

  /** Small clips (fast to make): the requested ratio, else the keyframe's. */
  function videoDims(input: Record<string, any>): [number, number] {
    if (typeof input.aspect_ratio === "string" && input.aspect_ratio !== "auto")
      return fit(ratioOf(input.aspect_ratio), 320);
    const id =
      typeof input.image_url === "string" ? input.image_url.slice(`${url}/files/`.length).split("/")[0] : undefined;
    const size = id ? pngSize(uploads.get(id)?.bytes ?? null) : null;
    return fit(size ? size[0] / size[1] : 16 / 9, 320);
  }

  function media(key: string, make: () => Promise<Uint8Array>): Promise<Uint8Array> {
    const cached = mediaCache.get(key);
    if (cached) return cached;
    const made = make();
    mediaCache.set(key, made);
    return made;
  }

  async function mp4(w: number, h: number, seconds: number): Promise<Uint8Array> {
    const frame = await paintKeyframe({
      width: w,
      height: h,
      scene: { location: "fal studio", timeOfDay: "dusk", mood: "calm" },
      characters: [],
    });
    return withTempDir(async (dir) => {
      const input = join(dir, "frame.png");
      const out = join(dir, "clip.mp4");
      await Bun.write(input, frame);
      await runFfmpeg(["-loop", "1", "-i", input, "-t", String(seconds), "-r", "8", ...TEST_H264, out], {
        durationS: seconds,
        timeoutMs: 60_000,
      });
      return Bun.file(out).bytes();
    });
  }

  /** Sends the client's fal hosts here (queue.fal.run, rest.fal.ai). */
  const middleware: RequestMiddleware = async (r) => ({
    ...r,
    url: r.url.replace(/^https:\/\/(queue\.fal\.run|rest\.fal\.ai)/, url),
  });

  return {
    url,
    key,
    middleware,
    requests,
    submissions,
    uploads,
    /** The status sequence of later submissions (default IN_QUEUE → IN_PROGRESS → COMPLETED). */
    script(statuses: QueueState[]) {
      script = statuses.length ? statuses : DEFAULT_SCRIPT;
    },
    /** Holds the matching calls (`endpoint`: submissions to it only) until the test releases them; see FalGate. */
    gate,
    /** The next `times` matching calls answer `status` (with `body`/`headers`) instead. */
    fault(f: FalFault) {
      faults.push({ ...f, left: f.times ?? 1 });
    },
    calls: (call: FalCall, requestId?: string) =>
      requests.filter((r) => r.call === call && (!requestId || requestIdOf(r.path) === requestId)),
    submission: byId,
    reset() {
      requests.length = 0;
      submissions.length = 0;
      faults.length = 0;
      for (const g of gates.splice(0)) g.open();
      uploads.clear();
      outputs.clear();
      results.clear();
      script = DEFAULT_SCRIPT;
    },
    stop: () => server.stop(true),
  };
}

export type FakeFal = Awaited<ReturnType<typeof startFakeFal>>;
