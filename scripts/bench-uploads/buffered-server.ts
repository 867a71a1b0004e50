/**
 * The competitor of `bun run bench:uploads`: the same multipart uploads received the way a
 * framework's body parser does by default (Elysia's included), `await request.formData()`, which
 * holds the whole body in memory, then written to disk. Prints `port <n>` once listening.
 */
import { join } from "node:path";

const dir = process.env.BENCH_UPLOAD_DIR ?? "/tmp";
const server = Bun.serve({
  port: 0,
  hostname: "127.0.0.1",
  maxRequestBodySize: 512 * 1024 * 1024,
  async fetch(request) {
    const file = (await request.formData()).get("file");
    if (!(file instanceof File)) return new Response("no file", { status: 400 });
    await Bun.write(join(dir, crypto.randomUUID()), file);
    return Response.json({ size: file.size }, { status: 201 });
  },
});
console.log(`port ${server.port}`);
