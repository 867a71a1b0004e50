import { createWriteStream, type WriteStream } from "node:fs";
import { mkdir, rm } from "node:fs/promises";
import { join } from "node:path";
import { Readable } from "node:stream";
import type { ReadableStream as NodeWebStream } from "node:stream/web";
import busboy from "busboy";
import { AppError, tooLarge } from "../core/errors.ts";

/** A file part streamed to a temporary file, with the form's other fields. */
export interface ReceivedFile {
  /** The temporary file: the caller moves it into storage and removes it (see `discard`). */
  path: string;
  fileName: string;
  /** The part's declared content type (the client's word, never trusted for the format). */
  declaredType: string;
  size: number;
  /** The first bytes, for sniffing the format. */
  head: Uint8Array;
  fields: Record<string, string>;
}

/** What file-type reads of a file's start to name its format. */
const HEAD_BYTES = 4100;

const invalid = (message: string) =>
  new AppError("VALIDATION_ERROR", message, { fields: [{ path: "/file", message }] });

/**
 * Streams one multipart/form-data request to disk: the part named `field` goes to a fresh file
 * under `dir` as its bytes arrive (memory holds a chunk, never the file), up to `maxBytes`
 * (413 past it, checked while it streams); other fields are kept as text. Anything that goes
 * wrong (a body cut off half-way, a malformed form, no file) removes the partial file: nothing
 * of a failed upload stays behind.
 */
export async function receiveFile(
  request: Request,
  { dir, maxBytes, field = "file" }: { dir: string; maxBytes: number; field?: string },
): Promise<ReceivedFile> {
  const contentType = request.headers.get("content-type") ?? "";
  if (!/^multipart\/form-data;.*boundary=/i.test(contentType) || !request.body)
    throw invalid("send the file as multipart/form-data with a `file` part");
  await mkdir(dir, { recursive: true });
  const path = join(dir, crypto.randomUUID());
  const source = Readable.fromWeb(request.body as unknown as NodeWebStream<Uint8Array>);
  try {
    return await new Promise<ReceivedFile>((resolve, reject) => {
      let parser: busboy.Busboy;
      try {
        parser = busboy({
          headers: { "content-type": contentType },
          // File names as browsers send them: UTF-8 bytes in the header (busboy reads latin1 by default).
          defParamCharset: "utf8",
          limits: { files: 1, fileSize: maxBytes, fields: 20, fieldSize: 4096, parts: 21 },
        });
      } catch {
        throw invalid("the multipart form cannot be read");
      }
      const fields: Record<string, string> = {};
      let file: Promise<Omit<ReceivedFile, "fields">> | null = null;
      let out: WriteStream | null = null;
      let failed = false;
      const fail = (e: Error) => {
        if (failed) return;
        failed = true;
        source.unpipe(parser);
        source.destroy();
        out?.destroy();
        reject(e);
      };
      parser.on("field", (name, value) => {
        if (value.includes("\u0000")) fail(invalid(`field ${name} contains a NUL character`));
        else fields[name] = value;
      });
      parser.on("file", (name, stream, info) => {
        if (name !== field || file) {
          stream.resume();
          return;
        }
        const sink = createWriteStream(path);
        out = sink;
        const head: Uint8Array[] = [];
        let headSize = 0;
        let size = 0;
        stream.on("data", (chunk: Buffer) => {
          size += chunk.length;
          if (headSize < HEAD_BYTES) {
            const part = chunk.subarray(0, HEAD_BYTES - headSize);
            head.push(new Uint8Array(part));
            headSize += part.length;
          }
        });
        stream.on("limit", () => fail(tooLarge(maxBytes, "the file")));
        file = new Promise((done, broke) => {
          sink.on("finish", () =>
            done({
              path,
              fileName: info.filename || "upload",
              declaredType: info.mimeType,
              size,
              head: Buffer.concat(head),
            }),
          );
          sink.on("error", broke);
          stream.on("error", broke);
        });
        file.catch((e) => fail(e instanceof Error ? e : new Error(String(e))));
        stream.pipe(sink);
      });
      parser.on("error", () => fail(invalid("the multipart form is malformed or was cut off")));
      source.on("error", () => fail(invalid("the upload was cut off before it ended")));
      parser.on("close", () => {
        if (failed) return;
        if (!file) return fail(invalid("the form has no `file` part"));
        file.then((f) => {
          if (!failed) resolve({ ...f, fields });
        }, fail);
      });
      source.pipe(parser);
    });
  } catch (e) {
    await discard(path);
    throw e;
  }
}

/** Removes a received file (once stored, or refused). */
export async function discard(path: string): Promise<void> {
  await rm(path, { force: true });
}
