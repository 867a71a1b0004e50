// A small local stand-in for Supabase Storage, speaking its REST wire format at the paths
// supabase-js 2.119 (@supabase/storage-js) calls under /storage/v1: upload (POST, or PUT to
// update), download (with Range), object info, list, delete, and signed URLs whose token is an
// HS256 JWT {url: "<bucket>/<path>", iat, exp}, as Storage signs them. Objects live in memory;
// every request is recorded. Errors follow Storage's shape and its quirk of answering most
// failures with HTTP 400 and the real status in the body: {statusCode: "404", code: "NoSuchKey",
// error: "not_found", message: "Object not found"}.
import { createHash } from "node:crypto";
import { jwtVerify, SignJWT } from "jose";

export interface RecordedStorageRequest {
  method: string;
  path: string;
  search: string;
  headers: Record<string, string>;
  /** Parsed JSON for JSON bodies, byte count for uploads, null without a body. */
  body: unknown;
}

interface FakeObject {
  id: string;
  bytes: Uint8Array;
  contentType: string;
  cacheControl: string;
  userMetadata: Record<string, unknown> | null;
  createdAt: Date;
  updatedAt: Date;
}

const ROOT = "/storage/v1";

function storageError(statusCode: number, code: string, message: string, error: string = code): Response {
  // Storage's error handler: the HTTP status is 400 for every 4xx (500 stays 500).
  return Response.json(
    { statusCode: String(statusCode), code, error, message },
    { status: statusCode >= 500 ? 500 : 400 },
  );
}

const noSuchKey = () => storageError(404, "NoSuchKey", "Object not found", "not_found");
const noSuchBucket = () => storageError(404, "NoSuchBucket", "Bucket not found", "Bucket not found");

/** Postgres ILIKE `<search>%`: `%` and `_` are wildcards, matching is case-insensitive. */
function likePrefix(search: string): RegExp {
  const body = [...search]
    .map((c) => (c === "%" ? ".*" : c === "_" ? "." : c.replace(/[.*+?^${}()|[\]\\]/g, "\\$&")))
    .join("");
  return new RegExp(`^${body}`, "is");
}

interface Part {
  name: string;
  filename: string | null;
  contentType: string | null;
  data: Uint8Array;
}

/** multipart/form-data, parsed by hand: Bun's FormData parser drops parts with an empty name. */
function parseMultipart(body: Uint8Array, contentType: string): Part[] {
  const boundary = /boundary="?([^";]+)"?/.exec(contentType)?.[1];
  if (!boundary) return [];
  const text = Buffer.from(body).toString("latin1"); // one char per byte, so offsets are byte offsets
  const parts: Part[] = [];
  for (const chunk of text.split(`--${boundary}`).slice(1)) {
    if (chunk.startsWith("--")) break;
    const headerEnd = chunk.indexOf("\r\n\r\n");
    if (headerEnd < 0) continue;
    const head = chunk.slice(2, headerEnd);
    const disposition = /content-disposition:([^\r\n]*)/i.exec(head)?.[1] ?? "";
    parts.push({
      name: /\bname="([^"]*)"/.exec(disposition)?.[1] ?? "",
      filename: /\bfilename="([^"]*)"/.exec(disposition)?.[1] ?? null,
      contentType: /content-type:\s*([^\r\n]*)/i.exec(head)?.[1]?.trim() ?? null,
      data: new Uint8Array(Buffer.from(chunk.slice(headerEnd + 4, chunk.length - 2), "latin1")),
    });
  }
  return parts;
}

export async function startFakeSupabaseStorage(
  options: { serviceKey?: string; bucket?: string; jwtSecret?: string } = {},
) {
  const serviceKey = options.serviceKey ?? "sb_secret_fake_service_key";
  const bucket = options.bucket ?? "inkreel";
  const secret = new TextEncoder().encode(options.jwtSecret ?? "fake-storage-jwt-secret-0123456789abcdef");
  const objects = new Map<string, FakeObject>(); // by object name (path inside the bucket)
  const requests: RecordedStorageRequest[] = [];
  /**
   * ignoreRange: answer ranged downloads with the whole object (200), as a server without Range support would.
   * clockAheadMs: signed URLs are checked this far in the future (an expiry is reached without waiting for it).
   */
  const settings = { ignoreRange: false, clockAheadMs: 0 };

  function metadataOf(o: FakeObject) {
    return {
      eTag: `"${createHash("md5").update(o.bytes).digest("hex")}"`,
      size: o.bytes.byteLength,
      mimetype: o.contentType,
      cacheControl: o.cacheControl,
      lastModified: o.updatedAt.toISOString(),
      contentLength: o.bytes.byteLength,
      httpStatusCode: 200,
    };
  }

  /** The object's bytes as Storage serves them: Range (single, inclusive) honoured with 206. */
  function serve(req: Request, name: string, o: FakeObject, download: string | null): Response {
    const size = o.bytes.byteLength;
    const headers = new Headers({
      "content-type": o.contentType,
      "cache-control": o.cacheControl,
      etag: metadataOf(o).eTag,
      "last-modified": o.updatedAt.toUTCString(),
      "accept-ranges": "bytes",
    });
    if (download !== null)
      headers.set("content-disposition", `attachment; filename="${download || name.slice(name.lastIndexOf("/") + 1)}"`);
    const range = /^bytes=(\d*)-(\d*)$/.exec(req.headers.get("range") ?? "");
    if (range && !settings.ignoreRange && (range[1] || range[2])) {
      let start: number;
      let end: number;
      if (range[1] === "") {
        start = Math.max(0, size - Number(range[2])); // suffix: the last N bytes
        end = size - 1;
      } else {
        start = Number(range[1]);
        end = range[2] === "" ? size - 1 : Math.min(Number(range[2]), size - 1);
      }
      if (start >= size || start > end) {
        headers.set("content-range", `bytes */${size}`);
        return new Response(null, { status: 416, headers });
      }
      headers.set("content-range", `bytes ${start}-${end}/${size}`);
      return new Response(o.bytes.slice(start, end + 1), { status: 206, headers });
    }
    return new Response(o.bytes.slice(), { status: 200, headers });
  }

  /** "/<bucket>/<name>" after a route prefix → the object name, or a bucket error. */
  function target(rest: string): { name: string } | Response {
    const slash = rest.indexOf("/");
    const b = slash < 0 ? rest : rest.slice(0, slash);
    if (b !== bucket) return noSuchBucket();
    const name = slash < 0 ? "" : rest.slice(slash + 1);
    return { name };
  }

  async function upload(req: Request, name: string, update: boolean): Promise<Response> {
    if (!name) return storageError(400, "InvalidKey", "Invalid key: ");
    const exists = objects.has(name);
    if (update && !exists) return noSuchKey();
    if (!update && exists && req.headers.get("x-upsert") !== "true") {
      return storageError(409, "Duplicate", "The resource already exists", "Duplicate");
    }
    let bytes: Uint8Array;
    let contentType = req.headers.get("content-type") ?? "application/octet-stream";
    let cacheControl = req.headers.get("cache-control") ?? "no-cache";
    let userMetadata: Record<string, unknown> | null = null;
    if (contentType.startsWith("multipart/form-data")) {
      // supabase-js sends Blob and FormData bodies as multipart, the file in a part named "".
      const parts = parseMultipart(await req.bytes(), contentType);
      const file = parts.find((p) => p.filename !== null);
      if (!file) return storageError(400, "InvalidRequest", "No file in the form");
      bytes = file.data;
      contentType = file.contentType ?? "application/octet-stream";
      const field = (name: string) => {
        const part = parts.find((p) => p.name === name && p.filename === null);
        return part ? new TextDecoder().decode(part.data) : null;
      };
      const cc = field("cacheControl");
      if (cc !== null) cacheControl = `max-age=${cc}`;
      const md = field("metadata");
      if (md !== null) userMetadata = JSON.parse(md) as Record<string, unknown>;
    } else {
      bytes = await req.bytes();
      const md = req.headers.get("x-metadata");
      if (md) userMetadata = JSON.parse(Buffer.from(md, "base64").toString("utf8")) as Record<string, unknown>;
    }
    requests[requests.length - 1]!.body = bytes.byteLength;
    const now = new Date();
    const previous = objects.get(name);
    const o: FakeObject = {
      id: crypto.randomUUID(),
      bytes,
      contentType,
      cacheControl,
      userMetadata,
      createdAt: previous?.createdAt ?? now,
      updatedAt: now,
    };
    objects.set(name, o);
    return Response.json({ Id: o.id, Key: `${bucket}/${name}` });
  }

  function list(body: {
    prefix?: string;
    limit?: number;
    offset?: number;
    search?: string;
    sortBy?: { column?: string; order?: string };
  }) {
    let prefix = body.prefix ?? "";
    if (prefix.length > 0 && !prefix.endsWith("/")) prefix += "/"; // Storage treats the prefix as a folder
    const match = likePrefix(body.search ?? "");
    const entries = new Map<string, object>();
    for (const [name, o] of objects) {
      if (!name.startsWith(prefix)) continue;
      const rest = name.slice(prefix.length);
      const slash = rest.indexOf("/");
      const entry = slash < 0 ? rest : rest.slice(0, slash);
      if (!match.test(entry) || entries.has(entry)) continue;
      entries.set(
        entry,
        slash < 0
          ? {
              name: entry,
              id: o.id,
              updated_at: o.updatedAt.toISOString(),
              created_at: o.createdAt.toISOString(),
              last_accessed_at: o.updatedAt.toISOString(),
              metadata: metadataOf(o),
            }
          : { name: entry, id: null, updated_at: null, created_at: null, last_accessed_at: null, metadata: null },
      );
    }
    const desc = body.sortBy?.order === "desc";
    const sorted = [...entries.entries()]
      .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0) * (desc ? -1 : 1))
      .map(([, e]) => e);
    const offset = body.offset ?? 0;
    return Response.json(sorted.slice(offset, offset + (body.limit ?? 100)));
  }

  async function handle(req: Request, body: unknown): Promise<Response> {
    const url = new URL(req.url);
    if (!url.pathname.startsWith(`${ROOT}/`))
      return Response.json({ message: "no Route matched with those values" }, { status: 404 });
    const path = decodeURIComponent(url.pathname.slice(ROOT.length));
    const signed = /^\/object\/sign\/(.+)$/.exec(path);

    // Signed URLs work without any key: the token is the credential.
    if (req.method === "GET" && signed) {
      const t = target(signed[1]!);
      if (t instanceof Response) return t;
      const token = url.searchParams.get("token");
      if (!token) return storageError(400, "InvalidSignature", "Missing token", "InvalidSignature");
      let claims: { url?: string };
      try {
        claims = (
          await jwtVerify(token, secret, {
            algorithms: ["HS256"],
            currentDate: new Date(Date.now() + settings.clockAheadMs),
          })
        ).payload as { url?: string };
      } catch (err) {
        const expired = (err as { code?: string }).code === "ERR_JWT_EXPIRED";
        return storageError(
          400,
          "InvalidJWT",
          expired ? '"exp" claim timestamp check failed' : "signature verification failed",
          "InvalidJWT",
        );
      }
      if (claims.url !== `${bucket}/${t.name}`)
        return storageError(400, "InvalidSignature", "The url do not match the signature", "InvalidSignature");
      const o = objects.get(t.name);
      return o ? serve(req, t.name, o, url.searchParams.get("download")) : noSuchKey();
    }

    // Supabase's API gateway refuses calls without the project's API key; Storage then wants a JWT.
    if (req.headers.get("apikey") !== serviceKey) return Response.json({ message: "Invalid API key" }, { status: 401 });
    if (req.headers.get("authorization") !== `Bearer ${serviceKey}`) {
      return storageError(403, "InvalidJWT", "invalid signature", "Unauthorized");
    }

    if (req.method === "POST" && signed) {
      const t = target(signed[1]!);
      if (t instanceof Response) return t;
      const expiresIn = (body as { expiresIn?: unknown }).expiresIn;
      if (typeof expiresIn !== "number" || !Number.isInteger(expiresIn) || expiresIn < 1) {
        return storageError(400, "InvalidRequest", "body/expiresIn must be integer >= 1");
      }
      if (!objects.has(t.name)) return noSuchKey();
      const token = await new SignJWT({ url: `${bucket}/${t.name}` })
        .setProtectedHeader({ alg: "HS256", typ: "JWT" })
        .setIssuedAt()
        .setExpirationTime(Math.floor(Date.now() / 1000) + expiresIn)
        .sign(secret);
      return Response.json({ signedURL: `/object/sign/${bucket}/${encodeURI(t.name)}?token=${token}` });
    }
    const listed = /^\/object\/list\/([^/]+)$/.exec(path);
    if (listed && req.method === "POST") {
      if (listed[1] !== bucket) return noSuchBucket();
      return list(body as Parameters<typeof list>[0]);
    }
    const info = /^\/object\/info\/(?:authenticated\/)?(.+)$/.exec(path);
    if (info && req.method === "GET") {
      const t = target(info[1]!);
      if (t instanceof Response) return t;
      const o = objects.get(t.name);
      if (!o) return noSuchKey();
      const md = metadataOf(o);
      return Response.json({
        id: o.id,
        name: t.name,
        version: o.id,
        bucket_id: bucket,
        size: md.size,
        content_type: o.contentType,
        cache_control: o.cacheControl,
        etag: md.eTag,
        metadata: o.userMetadata,
        last_modified: o.updatedAt.toISOString(),
        created_at: o.createdAt.toISOString(),
      });
    }
    const removed = /^\/object\/([^/]+)$/.exec(path);
    if (removed && req.method === "DELETE") {
      if (removed[1] !== bucket) return noSuchBucket();
      const prefixes = (body as { prefixes?: unknown }).prefixes;
      if (!Array.isArray(prefixes) || prefixes.length === 0)
        return storageError(400, "InvalidRequest", "body/prefixes must NOT have fewer than 1 items");
      const deleted = [];
      for (const p of prefixes) {
        const name = typeof p === "string" ? p : (p as { path: string }).path;
        const o = objects.get(name);
        if (!o) continue;
        objects.delete(name);
        deleted.push({
          bucket_id: bucket,
          name,
          id: o.id,
          updated_at: o.updatedAt.toISOString(),
          created_at: o.createdAt.toISOString(),
          last_accessed_at: o.updatedAt.toISOString(),
          metadata: metadataOf(o),
        });
      }
      return Response.json(deleted);
    }
    const object = /^\/object\/(?:authenticated\/)?(.+)$/.exec(path);
    if (object) {
      const t = target(object[1]!);
      if (t instanceof Response) return t;
      if (req.method === "POST") return upload(req, t.name, false);
      if (req.method === "PUT") return upload(req, t.name, true);
      if (req.method === "GET") {
        const o = objects.get(t.name);
        return o ? serve(req, t.name, o, url.searchParams.get("download")) : noSuchKey();
      }
    }
    return storageError(404, "NotFound", `Route ${req.method}:${url.pathname} not found`, "Not Found");
  }

  const server = Bun.serve({
    hostname: "127.0.0.1",
    port: 0,
    async fetch(req) {
      const { pathname, search } = new URL(req.url);
      const headers: Record<string, string> = {};
      req.headers.forEach((value, name) => {
        headers[name] = value;
      });
      const record: RecordedStorageRequest = { method: req.method, path: pathname, search, headers, body: null };
      requests.push(record);
      let body: unknown = null;
      // JSON bodies of the API calls (list, sign, delete); uploads keep their raw bytes.
      const api = /^\/storage\/v1\/object\/(list|sign)\//.test(pathname) || req.method === "DELETE";
      if (api && (req.headers.get("content-type") ?? "").startsWith("application/json")) {
        try {
          body = await req.json();
        } catch {
          return storageError(400, "InvalidRequest", "Body is not valid JSON");
        }
        record.body = body;
      }
      return handle(req, body);
    },
  });
  const url = `http://127.0.0.1:${server.port}`;

  return {
    url,
    serviceKey,
    bucket,
    settings,
    requests,
    /** Requests whose path starts with `${ROOT}${path}` (e.g. "/object/sign/"). */
    calls: (path: string, method?: string) =>
      requests.filter((r) => r.path.startsWith(ROOT + path) && (!method || r.method === method)),
    /** The stored object, as the fake holds it. */
    object: (name: string) => objects.get(name) ?? null,
    /** An object written behind the driver's back (no sha256 in its metadata). */
    putRaw(name: string, bytes: Uint8Array, contentType = "application/octet-stream") {
      const now = new Date();
      objects.set(name, {
        id: crypto.randomUUID(),
        bytes,
        contentType,
        cacheControl: "no-cache",
        userMetadata: null,
        createdAt: now,
        updatedAt: now,
      });
    },
    stop: () => server.stop(true),
  };
}

export type FakeSupabaseStorage = Awaited<ReturnType<typeof startFakeSupabaseStorage>>;
