/** What a stored object is, as every driver reports it. */
export interface StoredObject {
  key: string;
  size: number;
  /** Hex sha256 of the bytes. */
  sha256: string;
  contentType: string;
  updatedAt: Date;
}

export type PutBody = Uint8Array | ReadableStream<Uint8Array> | { path: string };

export interface ByteRange {
  /** First byte, inclusive. */
  start: number;
  /** Last byte, inclusive. */
  end: number;
}

export interface ObjectStream {
  stream: ReadableStream<Uint8Array>;
  /** Size of the whole object. */
  size: number;
  contentType: string;
  /** The range served, when one was asked for. */
  range: ByteRange | null;
}

/** One interface over local disk and Supabase Storage. Keys are relative paths like "projects/<id>/a.png". */
export interface Storage {
  readonly driver: "local" | "supabase";
  put(key: string, body: PutBody, options: { contentType: string }): Promise<StoredObject>;
  get(key: string): Promise<Uint8Array>;
  /** A byte range (inclusive) or the whole object; throws StorageNotFound when missing. */
  stream(key: string, range?: ByteRange): Promise<ObjectStream>;
  stat(key: string): Promise<StoredObject | null>;
  delete(key: string): Promise<void>;
  list(prefix: string): Promise<StoredObject[]>;
  /** A URL that works without a bearer token until it expires. */
  signedUrl(
    key: string,
    expiresInS: number,
    options?: { downloadName?: string },
  ): Promise<{ url: string; expiresAt: Date }>;
  /** True when the storage can be written (health). */
  check(): Promise<boolean>;
}

export class StorageNotFound extends Error {
  override name = "StorageNotFound";
  constructor(readonly key: string) {
    super(`no stored object "${key}"`);
  }
}

export class InvalidStorageKey extends Error {
  override name = "InvalidStorageKey";
  constructor(readonly key: string) {
    super(`invalid storage key "${key}"`);
  }
}

const KEY = /^[A-Za-z0-9][A-Za-z0-9_.=-]*(\/[A-Za-z0-9][A-Za-z0-9_.=-]*)*$/;

/**
 * Keys are relative paths of plain segments: no "..", no leading "/", no empty segments, no
 * backslashes or control characters. Checked by every driver before anything touches a path.
 */
export function assertKey(key: string): string {
  if (key.length === 0 || key.length > 512 || !KEY.test(key) || key.split("/").some((s) => s === "." || s === "..")) {
    throw new InvalidStorageKey(key);
  }
  return key;
}
