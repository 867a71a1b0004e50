import { createHash, randomBytes, randomUUID } from "node:crypto";
import { existsSync } from "node:fs";
import { access, constants, mkdir, open, readdir, readFile, rename, rm, writeFile } from "node:fs/promises";
import { dirname, join, relative, resolve, sep } from "node:path";
import { AppError } from "../core/errors.ts";
import { signature } from "./signing.ts";
import {
  assertKey,
  type ByteRange,
  type ObjectStream,
  type PutBody,
  type Storage,
  StorageNotFound,
  type StoredObject,
} from "./types.ts";

export interface LocalStorageOptions {
  /** Directory holding objects/, meta/ and tmp/ (DATA_DIR/files). */
  root: string;
  /** Base URL that signed links start with (the API's public URL). */
  publicUrl: string;
  /** HMAC secret for links; generated once under root when absent. */
  signingSecret?: string | null;
}

interface Meta {
  size: number;
  sha256: string;
  contentType: string;
  updatedAt: string;
}

const diskFull = (err: unknown) => ["ENOSPC", "EDQUOT"].includes((err as NodeJS.ErrnoException)?.code ?? "");

/** Loads or creates the link-signing secret kept beside the files (0600). */
async function secretFor(root: string, given?: string | null): Promise<string> {
  if (given) return given;
  const file = join(root, ".signing-secret");
  if (existsSync(file)) return (await readFile(file, "utf8")).trim();
  const secret = randomBytes(32).toString("base64url");
  await writeFile(file, secret, { mode: 0o600, flag: "wx" }).catch(async (err) => {
    // Another process created it first: use theirs.
    if ((err as NodeJS.ErrnoException).code !== "EEXIST") throw err;
  });
  return (await readFile(file, "utf8")).trim();
}

/**
 * Files on local disk under `root`: objects/<key> with metadata in meta/<key>.json, both written
 * to tmp/ first and renamed into place, so a reader never sees half a file. Keys are checked and
 * resolved paths must stay under root, so no key can reach outside it.
 */
export async function createLocalStorage(
  options: LocalStorageOptions,
): Promise<Storage & { secret: string; pathOf(key: string): string }> {
  const root = resolve(options.root);
  const objects = join(root, "objects");
  const metas = join(root, "meta");
  const tmp = join(root, "tmp");
  await Promise.all([objects, metas, tmp].map((d) => mkdir(d, { recursive: true })));
  const secret = await secretFor(root, options.signingSecret);

  const inside = (base: string, key: string, suffix = "") => {
    const path = resolve(base, assertKey(key) + suffix);
    if (!path.startsWith(base + sep)) throw new StorageNotFound(key);
    return path;
  };
  const objectPath = (key: string) => inside(objects, key);
  const metaPath = (key: string) => inside(metas, key, ".json");

  async function readMeta(key: string): Promise<StoredObject | null> {
    try {
      const meta = JSON.parse(await readFile(metaPath(key), "utf8")) as Meta;
      return {
        key,
        size: meta.size,
        sha256: meta.sha256,
        contentType: meta.contentType,
        updatedAt: new Date(meta.updatedAt),
      };
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === "ENOENT") return null;
      throw err;
    }
  }

  async function writeAtomically(target: string, write: (tmpPath: string) => Promise<void>) {
    const tmpPath = join(tmp, randomUUID());
    try {
      await write(tmpPath);
      await mkdir(dirname(target), { recursive: true });
      await rename(tmpPath, target);
    } catch (err) {
      throw diskFull(err) ? new AppError("STORAGE_ERROR", "the file storage is full") : err;
    } finally {
      await rm(tmpPath, { force: true });
    }
  }

  async function put(key: string, body: PutBody, { contentType }: { contentType: string }): Promise<StoredObject> {
    const target = objectPath(key);
    const hash = createHash("sha256");
    let size = 0;
    await writeAtomically(target, async (tmpPath) => {
      const source: ReadableStream<Uint8Array> =
        body instanceof Uint8Array
          ? new Blob([body as Uint8Array<ArrayBuffer>]).stream()
          : "path" in body
            ? Bun.file(body.path).stream()
            : body;
      // A file handle, not Bun's FileSink: the sink reports a full disk as an unhandled error and
      // ends "successfully" with a truncated file.
      const file = await open(tmpPath, "w");
      try {
        for await (const chunk of source) {
          hash.update(chunk);
          size += chunk.byteLength;
          for (let done = 0; done < chunk.byteLength; )
            done += (await file.write(chunk, done, chunk.byteLength - done)).bytesWritten;
        }
      } finally {
        await file.close();
      }
    });
    const meta: Meta = { size, sha256: hash.digest("hex"), contentType, updatedAt: new Date().toISOString() };
    try {
      await writeAtomically(metaPath(key), (tmpPath) => writeFile(tmpPath, JSON.stringify(meta)));
    } catch (err) {
      // An object without its metadata is invisible but takes room: it goes too.
      await rm(target, { force: true });
      throw err;
    }
    return { key, size, sha256: meta.sha256, contentType, updatedAt: new Date(meta.updatedAt) };
  }

  async function existing(key: string): Promise<StoredObject> {
    const meta = await readMeta(key);
    if (!meta) throw new StorageNotFound(key);
    return meta;
  }

  async function walk(dir: string): Promise<string[]> {
    const entries = await readdir(dir, { withFileTypes: true }).catch(() => []);
    const files: string[] = [];
    for (const e of entries) {
      const path = join(dir, e.name);
      if (e.isDirectory()) files.push(...(await walk(path)));
      else if (e.name.endsWith(".json")) files.push(path);
    }
    return files;
  }

  return {
    driver: "local",
    secret,
    pathOf: objectPath,
    put,
    async get(key) {
      await existing(key);
      return new Uint8Array(await Bun.file(objectPath(key)).arrayBuffer());
    },
    async stream(key, range?: ByteRange): Promise<ObjectStream> {
      const meta = await existing(key);
      const file = Bun.file(objectPath(key));
      if (!range) return { stream: file.stream(), size: meta.size, contentType: meta.contentType, range: null };
      return {
        stream: file.slice(range.start, range.end + 1).stream(),
        size: meta.size,
        contentType: meta.contentType,
        range,
      };
    },
    stat: readMeta,
    async delete(key) {
      // Metadata first: an object is listed by its metadata, so a reader never sees a listed
      // object whose bytes are already gone (the other order shows it as 0 bytes for a moment).
      await rm(metaPath(key), { force: true });
      await rm(objectPath(key), { force: true });
    },
    async list(prefix) {
      // The prefix need not be a whole segment ("shots/12" lists "shots/12a.png" too).
      const base = prefix.includes("/") ? prefix.slice(0, prefix.lastIndexOf("/")) : "";
      if (base) assertKey(base);
      const found = await walk(base ? join(metas, base) : metas);
      const keys = found
        .map((p) => relative(metas, p).slice(0, -".json".length).split(sep).join("/"))
        .filter((k) => k.startsWith(prefix));
      const items = await Promise.all(keys.sort().map(readMeta));
      return items.filter((i): i is StoredObject => i !== null);
    },
    async signedUrl(key, expiresInS, opts) {
      assertKey(key);
      const expires = Math.floor(Date.now() / 1000) + Math.max(1, Math.floor(expiresInS));
      const name = opts?.downloadName ?? "";
      const params = new URLSearchParams({ expires: String(expires), sig: signature(secret, key, expires, name) });
      if (name) params.set("download", name);
      const path = key.split("/").map(encodeURIComponent).join("/");
      return { url: `${options.publicUrl}/files/${path}?${params}`, expiresAt: new Date(expires * 1000) };
    },
    async check() {
      return access(root, constants.W_OK).then(
        () => true,
        () => false,
      );
    },
  };
}
