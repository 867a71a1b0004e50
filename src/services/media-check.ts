import { unsupported } from "../core/errors.ts";
import { MediaError, type ProbeResult, type ProbeStream, probe } from "../media/ffmpeg.ts";

/**
 * ffprobe's view of a file a client sent, with what the client is told when it is not what it
 * claims: 415 when ffprobe cannot read it (`what` names it in the message) or it lacks the stream
 * its type needs (a picture for images and videos, sound for recordings).
 */
export async function probeSent(
  path: string,
  kind: "image" | "video" | "audio",
  what = "the file",
): Promise<ProbeResult & { visual: ProbeStream | undefined; sound: ProbeStream | undefined }> {
  const probed = await probe(path).catch((e) => {
    if (e instanceof MediaError) throw unsupported(`${what} cannot be read: it is damaged or cut short`);
    throw e;
  });
  const visual = probed.streams.find((s) => s.codec_type === "video");
  const sound = probed.streams.find((s) => s.codec_type === "audio");
  if (kind !== "audio" && !visual) throw unsupported("the file holds no picture");
  if (kind === "audio" && !sound) throw unsupported("the file holds no sound");
  return { ...probed, visual, sound };
}
