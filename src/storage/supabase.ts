import { createHash } from "node:crypto";
import { createClient } from "@supabase/supabase-js";
import {
  assertKey,
  type ByteRange,
  type ObjectStream,
  type PutBody,
  type Storage,
  StorageNotFound,
  type StoredObject,
} from "./types.ts";

export interface SupabaseStorageOptions {
  /** The project URL (SUPABASE_URL); Storage lives under /storage/v1. */
  url: string;
  /** A service-role (or secret) key: the driver acts for the server, not for a user. */
  serviceKey: string;
  bucket: string;
  /** For tests and custom transports; supabase-js adds the apikey and Authorization headers. */
  fetch?: typeof fetch;
}

/** A Storage call that failed for a reason other than "no such object". */
export class SupabaseStorageError extends Error {
  override name = "SupabaseStorageError";
  constructor(
    readonly operation: string,
    readonly key: string,
    /** HTTP status of the response (Storage answers most errors with 400), or null without one. */
    readonly status: number | null,
    /** Storage's error code ("NoSuchBucket", "InvalidJWT", ...) when it sent one. */
    readonly code: string | null,
    message: string,
    options?: { cause?: unknown },
  ) {
    super(`supabase storage ${operation} "${key}" failed: ${message}`, options);
  }
}

interface StorageErrorLike {
  message?: string;
  status?: number;
  /** The body's statusCode, a string ("404"): Storage reports not-found as HTTP 400 with statusCode "404". */
  statusCode?: string;
  code?: string;
}

function isNotFound(error: unknown): boolean {
  const e = error as StorageErrorLike;
  if (e.code === "NoSuchKey") return true;
  // A missing bucket is a configuration fault, not a missing object.
  if (e.code === "NoSuchBucket" || /bucket/i.test(e.message ?? "")) return false;
  return e.status === 404 || e.statusCode === "404";
}

/** Throws StorageNotFound for "no such object", SupabaseStorageError otherwise. */
function fail(operation: string, key: string, error: unknown): never {
  if (isNotFound(error)) throw new StorageNotFound(key);
  const e = error as StorageErrorLike;
  throw new SupabaseStorageError(
    operation,
    key,
    typeof e.status === "number" ? e.status : null,
    typeof e.code === "string" ? e.code : null,
    e.message ?? String(error),
    { cause: error },
  );
}

async function bytesOf(body: PutBody): Promise<Uint8Array> {
  if (body instanceof Uint8Array) return body;
  if (body instanceof ReadableStream) return new Response(body).bytes();
  return Bun.file(body.path).bytes();
}

/** Bytes start..end (inclusive) of a whole-object stream, read as they arrive. */
function sliceStream(body: ReadableStream<Uint8Array>, start: number, end: number): ReadableStream<Uint8Array> {
  const reader = body.getReader();
  let pos = 0;
  return new ReadableStream<Uint8Array>({
    async pull(controller) {
      for (;;) {
        if (pos > end) {
          controller.close();
          await reader.cancel();
          return;
        }
        const { done, value } = await reader.read();
        if (done) {
          controller.close();
          return;
        }
        const from = Math.max(0, start - pos);
        const to = Math.min(value.byteLength, end + 1 - pos);
        pos += value.byteLength;
        if (to > from) {
          controller.enqueue(value.subarray(from, to));
          return;
        }
      }
    },
    cancel: (reason) => reader.cancel(reason),
  });
}

/**
 * Wraps fetch so that a ranged GET answered with the whole object (200, a server or proxy that
 * ignores Range) still yields exactly the asked-for bytes, streamed rather than buffered.
 */
function rangeSafeFetch(base: typeof fetch): typeof fetch {
  const wrapped = async (input: Parameters<typeof fetch>[0], init?: Parameters<typeof fetch>[1]) => {
    const res = await base(input, init);
    const range = /^bytes=(\d+)-(\d+)$/.exec(new Headers(init?.headers).get("range") ?? "");
    if (!range || res.status !== 200 || !res.body) return res;
    const start = Number(range[1]);
    const end = Number(range[2]);
    const headers = new Headers(res.headers);
    headers.delete("content-length");
    return new Response(sliceStream(res.body, start, end), { status: 206, headers });
  };
  return Object.assign(wrapped, { preconnect: base.preconnect }) as typeof fetch;
}

/** Names this driver cannot address (e.g. Studio's ".emptyFolderPlaceholder") are left out of listings. */
function isKey(key: string): boolean {
  try {
    assertKey(key);
    return true;
  } catch {
    return false;
  }
}

/** Listing page size; Storage's own default. */
const PAGE = 100;
/** How many object-info calls list() keeps in flight. */
const INFO_CONCURRENCY = 8;

/**
 * Supabase Storage through supabase-js: one private bucket, addressed with the service key.
 *
 * - put uploads with upsert and records the sha256 (computed here) in the object's user metadata,
 *   which Storage returns from the info endpoint; stat and list read it back from there. The
 *   body is read into memory first (streams and files included): simple, fine for the media
 *   sizes Inkreel stores, but not for multi-gigabyte objects (those would want TUS uploads).
 * - stream reads the object's info (size, type), then downloads; a range is asked for with a
 *   Range header, and sliced from the stream if the server answers 200 with the whole object.
 * - Storage answers "not found" as HTTP 400 with body statusCode "404" (code NoSuchKey); both
 *   that and a plain 404 become StorageNotFound. A missing bucket does not.
 */
export function createSupabaseStorage(options: SupabaseStorageOptions): Storage {
  const client = createClient(options.url, options.serviceKey, {
    auth: { persistSession: false, autoRefreshToken: false, detectSessionInUrl: false },
    global: { fetch: rangeSafeFetch(options.fetch ?? fetch) },
  });
  // A fresh file API per call: setHeader() on it must not leak into other calls.
  const files = () => client.storage.from(options.bucket);

  async function stat(key: string): Promise<StoredObject | null> {
    assertKey(key);
    const { data, error } = await files().info(key);
    if (error) {
      if (isNotFound(error)) return null;
      fail("stat", key, error);
    }
    let sha256 = typeof data.metadata?.sha256 === "string" ? (data.metadata.sha256 as string) : null;
    if (sha256 === null) {
      // Written by something other than this driver: hash it once, the slow way.
      const { data: blob, error: e } = await files().download(key);
      if (e) return isNotFound(e) ? null : fail("stat", key, e);
      sha256 = createHash("sha256")
        .update(await blob.bytes())
        .digest("hex");
    }
    return {
      key,
      size: data.size ?? 0,
      sha256,
      contentType: data.contentType ?? "application/octet-stream",
      updatedAt: new Date(data.lastModified ?? data.createdAt),
    };
  }

  /** Every object key under `folder` ("" for the bucket root), descending into sub-folders. */
  async function keysIn(folder: string, search: string): Promise<string[]> {
    const keys: string[] = [];
    for (let offset = 0; ; offset += PAGE) {
      const { data, error } = await files().list(folder, {
        limit: PAGE,
        offset,
        search,
        sortBy: { column: "name", order: "asc" },
      });
      if (error) fail("list", folder, error);
      for (const entry of data) {
        const key = folder ? `${folder}/${entry.name}` : entry.name;
        // Folders come back as entries with a null id.
        if (entry.id === null) keys.push(...(await keysIn(key, "")));
        else keys.push(key);
      }
      if (data.length < PAGE) return keys;
    }
  }

  return {
    driver: "supabase",

    async put(key, body, { contentType }) {
      assertKey(key);
      const bytes = await bytesOf(body);
      const sha256 = createHash("sha256").update(bytes).digest("hex");
      const { error } = await files().upload(key, bytes, { upsert: true, contentType, metadata: { sha256 } });
      if (error) fail("put", key, error);
      return { key, size: bytes.byteLength, sha256, contentType, updatedAt: new Date() };
    },

    async get(key) {
      assertKey(key);
      const { data, error } = await files().download(key);
      if (error) fail("get", key, error);
      return data.bytes();
    },

    async stream(key, range?: ByteRange): Promise<ObjectStream> {
      const meta = await stat(key);
      if (!meta) throw new StorageNotFound(key);
      let served: ByteRange | null = null;
      if (range) {
        const { start } = range;
        const end = Math.min(range.end, meta.size - 1);
        if (!Number.isInteger(start) || !Number.isInteger(range.end) || start < 0 || start > end) {
          throw new RangeError(`range ${range.start}-${range.end} is outside "${key}" (${meta.size} bytes)`);
        }
        served = { start, end };
      }
      const api = files();
      if (served) api.setHeader("Range", `bytes=${served.start}-${served.end}`);
      const { data, error } = await api.download(key).asStream();
      if (error) fail("stream", key, error);
      return {
        stream: data as ReadableStream<Uint8Array>,
        size: meta.size,
        contentType: meta.contentType,
        range: served,
      };
    },

    stat,

    async delete(key) {
      assertKey(key);
      const { error } = await files().remove([key]);
      if (error) fail("delete", key, error);
    },

    /**
     * Objects whose key starts with `prefix`, sorted by key. As with the local driver the prefix
     * need not end on a segment ("shots/12" matches "shots/12a.png"). Lists the prefix's folder
     * (filtered by Storage's `search` on the last segment), descends into matching sub-folders,
     * then reads each object's info for its sha256: 1 + folders + objects requests.
     */
    async list(prefix) {
      const cut = prefix.lastIndexOf("/");
      const folder = cut >= 0 ? prefix.slice(0, cut) : "";
      if (folder) assertKey(folder);
      // `search` is a case-insensitive LIKE on the name; the exact test is startsWith below.
      const keys = (await keysIn(folder, prefix.slice(cut + 1))).filter((k) => k.startsWith(prefix) && isKey(k)).sort();
      const out: StoredObject[] = [];
      for (let i = 0; i < keys.length; i += INFO_CONCURRENCY) {
        const batch = await Promise.all(keys.slice(i, i + INFO_CONCURRENCY).map(stat));
        for (const item of batch) if (item) out.push(item);
      }
      return out;
    },

    async signedUrl(key, expiresInS, opts) {
      assertKey(key);
      const expiresIn = Math.max(1, Math.floor(expiresInS));
      const expiresAt = new Date(Date.now() + expiresIn * 1000);
      const { data, error } = await files().createSignedUrl(
        key,
        expiresIn,
        opts?.downloadName ? { download: opts.downloadName } : undefined,
      );
      if (error) fail("signedUrl", key, error);
      return { url: data.signedUrl, expiresAt };
    },

    /** A one-entry listing of the bucket: the service key is accepted and the bucket exists. */
    async check() {
      try {
        const { error } = await files().list("", { limit: 1 });
        return !error;
      } catch {
        return false;
      }
    },
  };
}
