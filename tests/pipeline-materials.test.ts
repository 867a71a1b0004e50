import { describe, expect, test } from "bun:test";
import { pipelineContext, SHORT_STORY, waitUntil } from "./support/pipeline.ts";

const ctx = await pipelineContext();
await ctx.startWorker();

const until = <T>(what: string, probe: () => Promise<T | null | undefined | false>, timeoutMs = 15_000) =>
  waitUntil(what, probe, timeoutMs, 100) as Promise<T>;

describe("editing materials: candidates, voices, text", () => {
  test("regenerate a keyframe, pick a candidate, switch the narrator's voice, rewrite a shot; the export brings it all up to date", async () => {
    const me = await ctx.register();
    const project = (
      await ctx.call("POST", "/api/v1/projects", {
        token: me.token,
        body: { input: { type: "novel", text: SHORT_STORY } },
      })
    ).json.data;
    const run = (
      await ctx.call("POST", `/api/v1/projects/${project.id}/runs`, {
        token: me.token,
        body: { mode: "step", to_stage: "voices" },
      })
    ).json.data;
    const paused = await ctx.waitForRun(me.token, run.id, ["paused"]);
    const base = `/api/v1/projects/${project.id}/timeline`;
    const clip = (await ctx.call("GET", base, { token: me.token })).json.data.clips[0];

    const queued = await ctx.call("POST", `${base}/clips/${clip.id}/regenerate-image`, {
      token: me.token,
      body: { seed: 42 },
    });
    expect(queued.status).toBe(202);
    const candidates = await until("a second image", async () => {
      const c = (await ctx.call("GET", `${base}/clips/${clip.id}/candidates`, { token: me.token })).json.data;
      return c.images.length === 2 ? c : null;
    });
    expect(candidates.images.map((i: { selected: boolean }) => i.selected)).toEqual([false, true]);
    // A new composition of the same scene: the picture differs.
    const [a, b] = await Promise.all(
      candidates.images.map(
        async (i: { url: string }) =>
          new Uint8Array(
            await (
              await ctx.app.handle(new Request(`http://localhost${new URL(i.url).pathname}${new URL(i.url).search}`))
            ).arrayBuffer(),
          ),
      ),
    );
    expect(Buffer.compare(Buffer.from(a!), Buffer.from(b!))).not.toBe(0);
    const picked = await ctx.call("POST", `${base}/clips/${clip.id}/select-candidate`, {
      token: me.token,
      body: { type: "image", asset_id: candidates.images[0].asset_id },
    });
    expect(picked.status).toBe(200);
    expect(picked.json.data.selected_image_id).toBe(candidates.images[0].asset_id);
    expect(
      (
        await ctx.call("POST", `${base}/clips/${clip.id}/select-candidate`, {
          token: me.token,
          body: { type: "video", asset_id: candidates.images[0].asset_id },
        })
      ).status,
    ).toBe(404);

    const switched = await ctx.call("POST", `/api/v1/material-packages/${paused.package_id}/switch-voice`, {
      token: me.token,
      body: { character: null, voice_id: "older-narrator", speech_speed: 1.2 },
    });
    expect(switched.status).toBe(200);
    expect(switched.json.data.lines_changed).toBeGreaterThan(0);
    const shotEdit = await ctx.call("POST", `/api/v1/material-packages/${paused.package_id}/modify/text`, {
      token: me.token,
      body: { element: "shot", id: clip.id, field: "description", value: "茶馆门口，雨中的灯笼。" },
    });
    expect(shotEdit.status).toBe(200);
    expect(
      (
        await ctx.call("POST", `/api/v1/material-packages/${paused.package_id}/modify/text`, {
          token: me.token,
          body: { element: "shot", id: clip.id, field: "camera", value: "x" },
        })
      ).status,
    ).toBe(400);
    const stale = (await ctx.call("GET", base, { token: me.token })).json.data.clips;
    expect(stale[0].stale.sort()).toEqual(["keyframe", "voice"]);
    expect(
      stale
        .filter((c: { lines: Array<{ kind: string; voice_id: string }> }) =>
          c.lines.some((l) => l.kind === "narration"),
        )
        .every((c: { stale: string[] }) => c.stale.includes("voice")),
    ).toBe(true);

    const resumed = (
      await ctx.call("POST", `/api/v1/projects/${project.id}/runs`, { token: me.token, body: { mode: "auto" } })
    ).json.data;
    const done = await ctx.waitForRun(me.token, resumed.id, ["completed", "failed"]);
    expect(done.error).toBeNull();
    const after = (await ctx.call("GET", base, { token: me.token })).json.data.clips;
    expect(after.every((c: { stale: string[] }) => c.stale.length === 0)).toBe(true);
    expect(after[0].selected_image_id).not.toBe(candidates.images[0].asset_id);
    const narration = after[0].lines.find((l: { kind: string }) => l.kind === "narration");
    expect(narration).toMatchObject({ voice_id: "older-narrator", speech_speed: 1.2 });
    const audio = (await ctx.call("GET", `/api/v1/assets/${narration.audio_id}`, { token: me.token })).json.data;
    expect(audio).toMatchObject({ kind: "voice", mime_type: "audio/wav" });
    const wav = await ctx.app.handle(
      new Request(`http://localhost${new URL(audio.download_url).pathname}${new URL(audio.download_url).search}`),
    );
    expect(wav.status).toBe(200);
    expect((await wav.arrayBuffer()).byteLength).toBe(audio.size);
  });

  test("a character's new reference sheet makes its shots' keyframes stale; scene pictures get candidates too", async () => {
    const me = await ctx.register();
    const project = (
      await ctx.call("POST", "/api/v1/projects", {
        token: me.token,
        body: { input: { type: "novel", text: SHORT_STORY } },
      })
    ).json.data;
    const run = (
      await ctx.call("POST", `/api/v1/projects/${project.id}/runs`, {
        token: me.token,
        body: { mode: "step", to_stage: "keyframes" },
      })
    ).json.data;
    const paused = await ctx.waitForRun(me.token, run.id, ["paused"]);
    const pkgUrl = `/api/v1/material-packages/${paused.package_id}`;
    const before = (await ctx.call("GET", pkgUrl, { token: me.token })).json.data.materials;
    const hero = before.characters.find((c: { name: string }) => c.name === "林小雨");
    expect(hero.images).toHaveLength(1);
    expect(hero.images[0].selected).toBe(true);

    expect(
      (
        await ctx.call("POST", `${pkgUrl}/regenerate/image`, {
          token: me.token,
          body: { element: "character", id: "nobody" },
        })
      ).status,
    ).toBe(404);
    expect(
      (
        await ctx.call("POST", `${pkgUrl}/regenerate/image`, {
          token: me.token,
          body: { element: "character", id: "林小雨", seed: 7 },
        })
      ).status,
    ).toBe(202);
    const after = await until("a second reference sheet", async () => {
      const m = (await ctx.call("GET", pkgUrl, { token: me.token })).json.data.materials;
      return m.characters.find((c: { name: string }) => c.name === "林小雨").images.length === 2 ? m : null;
    });
    const updated = after.characters.find((c: { name: string }) => c.name === "林小雨");
    expect(updated.images.map((i: { selected: boolean }) => i.selected)).toEqual([false, true]);
    for (const shot of after.shots as Array<{ characters: string[]; stale: string[] }>) {
      expect(shot.stale.includes("keyframe"), JSON.stringify(shot.characters)).toBe(shot.characters.includes("林小雨"));
    }

    const scene = before.scenes[0];
    const sceneImage = scene.images.find((i: { selected: boolean }) => i.selected).asset_id as string;
    expect(
      (
        await ctx.call("POST", `${pkgUrl}/regenerate/image`, {
          token: me.token,
          body: { element: "scene", id: scene.id, seed: 9 },
        })
      ).status,
    ).toBe(202);
    await until(
      "a second scene picture",
      async () =>
        (await ctx.call("GET", pkgUrl, { token: me.token })).json.data.materials.scenes[0].images.length === 2,
    );
    const back = await ctx.call("POST", `${pkgUrl}/select-candidate`, {
      token: me.token,
      body: { element: "scene", id: scene.id, asset_id: sceneImage },
    });
    expect(back.status).toBe(200);
    expect(back.json.data.materials.scenes[0].images.find((i: { selected: boolean }) => i.selected).asset_id).toBe(
      sceneImage,
    );
    expect(
      (
        await ctx.call("POST", `${pkgUrl}/select-candidate`, {
          token: me.token,
          body: { element: "scene", id: scene.id, asset_id: hero.images[0].asset_id },
        })
      ).status,
    ).toBe(404);

    const resumed = (
      await ctx.call("POST", `/api/v1/projects/${project.id}/runs`, { token: me.token, body: { mode: "auto" } })
    ).json.data;
    expect((await ctx.waitForRun(me.token, resumed.id, ["completed", "failed"])).status).toBe("completed");
    const clips = (await ctx.call("GET", `/api/v1/projects/${project.id}/timeline`, { token: me.token })).json.data
      .clips;
    expect(clips.every((c: { stale: string[] }) => c.stale.length === 0)).toBe(true);
  });

  test("bad input to the material and candidate routes is a 400 or 404 in the envelope, never a 500", async () => {
    const me = await ctx.register();
    const project = (
      await ctx.call("POST", "/api/v1/projects", {
        token: me.token,
        body: { input: { type: "novel", text: SHORT_STORY } },
      })
    ).json.data;
    const run = (
      await ctx.call("POST", `/api/v1/projects/${project.id}/runs`, {
        token: me.token,
        body: { mode: "step", to_stage: "keyframes" },
      })
    ).json.data;
    const paused = await ctx.waitForRun(me.token, run.id, ["paused"]);
    const pkg = `/api/v1/material-packages/${paused.package_id}`;
    const base = `/api/v1/projects/${project.id}/timeline`;
    const clip = (await ctx.call("GET", base, { token: me.token })).json.data.clips[0].id;
    const cases: Array<[string, string, unknown, number]> = [
      ["POST", `${pkg}/regenerate/image`, { element: "poster", id: clip }, 400],
      ["POST", `${pkg}/regenerate/image`, { element: "shot", id: "no-such-shot" }, 404],
      ["POST", `${pkg}/regenerate/image`, { element: "shot", id: clip, seed: -1 }, 400],
      ["POST", `${pkg}/select-candidate`, { element: "character", id: "林小雨", asset_id: "not-a-uuid" }, 400],
      ["POST", `${pkg}/select-candidate`, { element: "character", id: "nobody", asset_id: crypto.randomUUID() }, 404],
      ["POST", `${pkg}/switch-voice`, { character: null, voice_id: "x", speech_speed: 9 }, 400],
      ["POST", `${pkg}/switch-voice`, { character: "nobody", voice_id: "x" }, 404],
      ["POST", `${pkg}/modify/text`, { element: "scene", id: "c9s9", field: "summary", value: "x" }, 404],
      ["POST", `${pkg}/modify/text`, { element: "storyline", field: "title", value: "" }, 400],
      ["POST", `${base}/generate-videos`, { clip_ids: [] }, 400],
      ["POST", `${base}/generate-videos`, { clip_ids: ["no-such-clip"] }, 404],
      ["POST", `${base}/clips/no-such-clip/regenerate-image`, {}, 404],
      ["GET", `${base}/clips/no-such-clip/candidates`, undefined, 404],
      ["POST", `${base}/clips/${clip}/select-candidate`, { type: "audio", asset_id: crypto.randomUUID() }, 400],
      ["POST", `${base}/clips/${clip}/select-candidate`, { type: "image", asset_id: crypto.randomUUID() }, 404],
      ["POST", "/api/v1/exports/not-a-uuid/cancel", undefined, 400],
      ["POST", `/api/v1/exports/${crypto.randomUUID()}/cancel`, undefined, 404],
      ["GET", "/api/v1/assets/not-a-uuid", undefined, 400],
    ];
    for (const [method, path, body, status] of cases) {
      const res = await ctx.call(method, path, { token: me.token, ...(body === undefined ? {} : { body }) });
      expect(res.status, `${method} ${path} ${JSON.stringify(body)}`).toBe(status);
      expect(res.json.success).toBe(false);
      expect(res.json.error.code).toBe(status === 400 ? "VALIDATION_ERROR" : "NOT_FOUND");
    }
  });
});
