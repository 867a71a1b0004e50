// The library feeds the pipeline: a library character cast into two projects (subject_ids) is
// drawn from the same reference pictures in both, sent to the image provider (fal's real client,
// pointed at a local server that speaks its wire format), with its appearance in the prompt and
// without a reference sheet of its own; a library style becomes the art style; library voices
// speak for the narrator.
import { afterAll, afterEach, describe, expect, test } from "bun:test";
import { startFakeFal } from "./support/fake-fal.ts";
import { pipelineContext, SHORT_STORY } from "./support/pipeline.ts";
import { postUpload, solidPng } from "./support/upload-file.ts";

const fal = await startFakeFal();
afterAll(() => fal.stop());
const ctx = await pipelineContext({ FAL_KEY: fal.key, FAL_BASE_URL: fal.url, FAL_POLL_INTERVAL_MS: "20" });
await ctx.startWorker(2);
afterEach(() => fal.reset());
await ctx.db
  .insertInto("provider_chains")
  .values({ capability: "image", chain: JSON.stringify([{ provider: "fal", model: "fal-ai/flux/dev" }]) })
  .execute();

async function upload(token: string, name: string, bytes: Uint8Array<ArrayBuffer>) {
  const res = await postUpload(ctx.app, token, { name, type: "image/png", bytes });
  expect(res.status).toBe(201);
  return (await res.json()).data as { id: string };
}
const png = (colour: string) => solidPng(colour, "256x256");
const sha = (b: Uint8Array) => new Bun.CryptoHasher("sha256").update(b).digest("hex");

/** The reference pictures (by sha256) fal was sent with each keyframe that shows the library character. */
function keyframeReferences(marker: string): string[][] {
  const byUrl = new Map([...fal.uploads.values()].map((u) => [u.fileUrl, u.bytes]));
  return fal.submissions
    .filter((s) => String(s.input.prompt ?? "").includes(marker))
    .map((s) => {
      const urls: string[] = s.input.image_urls ?? (s.input.image_url ? [s.input.image_url] : []);
      return urls.map((u) => sha(byUrl.get(u)!));
    });
}

describe("the library in a run", () => {
  test("a library character used in two projects gives keyframe requests with the same reference images", async () => {
    const me = await ctx.register("libcast");
    const front = await png("red");
    const side = await png("blue");
    const a = await upload(me.token, "front.png", front);
    const b = await upload(me.token, "side.png", side);
    const appearance = "silver hairpin and a blue raincoat";
    const character = await ctx.call("POST", "/api/v1/library/characters", {
      token: me.token,
      body: { name: "林小雨", gender: "female", age: "young", appearance, reference_asset_ids: [a.id, b.id] },
    });
    expect(character.status).toBe(201);
    const style = await ctx.call("POST", "/api/v1/library/styles", {
      token: me.token,
      body: { name: "夜雨", prompt_template: "rainy night watercolour", palette: ["#223344"] },
    });
    const narrator = await ctx.call("POST", "/api/v1/library/voices", {
      token: me.token,
      body: { name: "深沉旁白", provider: "local", voice_id: "deep-narrator" },
    });
    const options = {
      subject_ids: [character.json.data.id],
      style_id: style.json.data.id,
      voice_ids: { narrator: narrator.json.data.id },
    };

    const seen: string[][][] = [];
    for (const name of ["第一集", "第二集"]) {
      const created = await ctx.call("POST", "/api/v1/projects", {
        token: me.token,
        body: { name, input: { type: "novel", text: SHORT_STORY }, options },
      });
      expect(created.status).toBe(201);
      const started = await ctx.call("POST", `/api/v1/projects/${created.json.data.id}/runs`, {
        token: me.token,
        body: { mode: "step", to_stage: "keyframes" },
      });
      const run = await ctx.waitForRun(me.token, started.json.data.id, ["paused", "failed", "completed"]);
      expect(run.error).toBeNull();
      const lin = await ctx.db
        .selectFrom("packages")
        .select(["characters", "art_style"])
        .where("id", "=", run.package_id)
        .executeTakeFirstOrThrow();
      expect(lin.art_style?.prompt).toBe("rainy night watercolour");
      expect(lin.art_style?.library_item_id).toBe(style.json.data.id);
      const cast = lin.characters.find((c) => c.name === "林小雨")!;
      expect(cast.library_item_id).toBe(character.json.data.id);
      // Her pictures are her references: no sheet was drawn for her.
      expect(cast.reference?.asset_id).toBe(a.id);
      expect(cast.references?.map((r) => r.asset_id)).toEqual([a.id, b.id]);
      expect(fal.submissions.some((s) => String(s.input.prompt).includes("Character reference sheet of 林小雨"))).toBe(
        false,
      );
      const narration = await ctx.db
        .selectFrom("package_shots")
        .select("data")
        .where("package_id", "=", run.package_id)
        .execute();
      const voices = narration.flatMap((s) => s.data.lines.filter((l) => l.kind === "narration").map((l) => l.voice));
      expect(voices.length).toBeGreaterThan(0);
      expect(voices.every((v) => v.voice_id === "deep-narrator")).toBe(true);
      seen.push(keyframeReferences(`林小雨: ${appearance}`));
      fal.reset();
    }
    const [first, second] = seen as [string[][], string[][]];
    expect(first.length).toBeGreaterThan(0);
    // Every keyframe of her was sent both her pictures, in order, in both projects (the other
    // characters' sheets are drawn anew in each project, so only hers are compared).
    const hers = (refs: string[]) => refs.filter((r) => r === sha(front) || r === sha(side));
    expect(first.map(hers)).toEqual(first.map(() => [sha(front), sha(side)]));
    expect(second.map(hers)).toEqual(first.map(hers));
    const used = await ctx.call("GET", `/api/v1/library/characters/${character.json.data.id}`, { token: me.token });
    expect(used.json.data.usage_count).toBe(2);
  });
});
