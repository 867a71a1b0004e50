import { ffmpegCapture } from "./media.ts";

const BOUNDARY = "inkreel-test-upload";
const enc = new TextEncoder();

/** POSTs one file to /api/v1/uploads as multipart, the way a browser sends it; answers the raw response. */
export function postUpload(
  app: { handle(req: Request): Promise<Response> | Response },
  token: string,
  file: { name: string; type: string; bytes: Uint8Array<ArrayBuffer> },
) {
  const head = `--${BOUNDARY}\r\nContent-Disposition: form-data; name="file"; filename="${file.name}"\r\nContent-Type: ${file.type}\r\n\r\n`;
  return Promise.resolve(
    app.handle(
      new Request("http://localhost/api/v1/uploads", {
        method: "POST",
        headers: { authorization: `Bearer ${token}`, "content-type": `multipart/form-data; boundary=${BOUNDARY}` },
        body: new Blob([enc.encode(head), file.bytes, enc.encode(`\r\n--${BOUNDARY}--\r\n`)]),
      }),
    ),
  );
}

/** A real PNG of one colour, made by ffmpeg. */
export async function solidPng(colour: string, size = "64x64"): Promise<Uint8Array<ArrayBuffer>> {
  const args = ["-f", "lavfi", "-i", `color=c=${colour}:s=${size}`, "-frames:v", "1", "-c:v", "png"];
  return new Uint8Array((await ffmpegCapture([...args, "-f", "image2", "pipe:1"])).stdout);
}

/** A real WAV tone of `hz` lasting `seconds`, made by ffmpeg. */
export async function toneWav(hz: number, seconds = 2): Promise<Uint8Array<ArrayBuffer>> {
  const args = ["-f", "lavfi", "-i", `sine=frequency=${hz}:duration=${seconds}`, "-c:a", "pcm_s16le"];
  return new Uint8Array((await ffmpegCapture([...args, "-f", "wav", "pipe:1"])).stdout);
}
