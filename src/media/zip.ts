import { Zip, ZipDeflate, ZipPassThrough } from "fflate";

/** One file of a ZIP: text (compressed) or a file on disk (stored as it is: media do not compress). */
export type ZipEntry = { name: string; text: string } | { name: string; path: string };

/**
 * Writes a ZIP to `out`, streaming each file from disk a chunk at a time (a draft's media can be
 * gigabytes: never held whole in memory), flushing the output after every chunk.
 */
export async function writeZip(out: string, entries: ZipEntry[], signal?: AbortSignal): Promise<void> {
  const sink = Bun.file(out).writer();
  let failure: Error | null = null;
  const zip = new Zip((err, chunk) => {
    if (err) failure = err;
    else sink.write(chunk);
  });
  try {
    for (const entry of entries) {
      signal?.throwIfAborted();
      if ("text" in entry) {
        const file = new ZipDeflate(entry.name, { level: 6 });
        zip.add(file);
        file.push(new TextEncoder().encode(entry.text), true);
      } else {
        const file = new ZipPassThrough(entry.name);
        zip.add(file);
        for await (const chunk of Bun.file(entry.path).stream()) {
          signal?.throwIfAborted();
          file.push(chunk);
          await sink.flush();
        }
        file.push(new Uint8Array(0), true);
      }
      if (failure) throw failure;
      await sink.flush();
    }
    zip.end();
    if (failure) throw failure;
  } finally {
    await sink.end();
  }
}
