// A separate process around the espeak-ng WASM build (GPL-3.0): Inkreel only spawns it and reads
// the WAV files it writes, so the synthesiser stays out of Inkreel's own process and licence.
// Usage: bun espeak-process.ts <out-dir>   with stdin {sentences, voice, speed, pitch}.
import ESpeakNg from "espeak-ng";

interface Job {
  sentences: string[];
  voice: string;
  speed: number;
  pitch: number;
}

const outDir = process.argv[2];
if (!outDir) throw new Error("usage: espeak-process.ts <out-dir>");
const job = JSON.parse(await new Response(Bun.stdin.stream()).text()) as Job;
for (let i = 0; i < job.sentences.length; i++) {
  const espeak = await ESpeakNg({
    arguments: ["-v", job.voice, "-s", String(job.speed), "-p", String(job.pitch), "-w", "out.wav", job.sentences[i]!],
  });
  await Bun.write(`${outDir}/${i}.wav`, espeak.FS.readFile("out.wav"));
}
process.stdout.write(JSON.stringify({ files: job.sentences.length }));
