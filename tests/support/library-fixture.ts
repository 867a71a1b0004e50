import type { Db } from "../../src/db/client.ts";

/**
 * One library item of each kind in a space, written straight to the table (the route tests need
 * ids to fill `/library/<kind>/:id` with, not the files behind them), keyed as the route table
 * names its path segments.
 */
export async function libraryItems(db: Db, { spaceId, userId }: { spaceId: string; userId: string }) {
  const add = async (kind: "character" | "style" | "voice" | "music", data: object) =>
    (
      await db
        .insertInto("library_items")
        .values({ space_id: spaceId, kind, name: `fixture ${kind}`, data: JSON.stringify(data), created_by: userId })
        .returning("id")
        .executeTakeFirstOrThrow()
    ).id;
  return {
    characters: await add("character", {
      gender: "female",
      age: "young",
      appearance: "",
      personality: "",
      reference_asset_ids: [],
      voice: null,
    }),
    styles: await add("style", {
      prompt_template: "ink",
      negative_prompt: "",
      preview_asset_id: null,
      palette: [],
      monochrome: false,
    }),
    voices: await add("voice", {
      provider: "local",
      voice_id: "fixture",
      voice_type: "any",
      gender: "unknown",
      language: null,
      sample_asset_id: null,
      cloned: false,
    }),
    music: await add("music", {
      asset_id: crypto.randomUUID(),
      mood: null,
      genre: null,
      bpm: null,
      duration_s: 1,
    }),
  };
}

/** An attachment of `assetId` to the project, written straight to the table (the route tests need its id). */
export async function attachmentFixture(db: Db, { projectId, assetId }: { projectId: string; assetId: string }) {
  const { id } = await db
    .insertInto("project_attachments")
    .values({ project_id: projectId, asset_id: assetId, label: "reference" })
    .returning("id")
    .executeTakeFirstOrThrow();
  return id;
}

/** A batch of episode runs of the project, with no runs (the project needs no season plan): for the batch routes' path. */
export async function batchFixture(db: Db, { projectId, userId }: { projectId: string; userId: string }) {
  const row = await db
    .insertInto("series_batches")
    .values({ project_id: projectId, created_by: userId, parallelism: 1 })
    .returning("id")
    .executeTakeFirstOrThrow();
  return row.id;
}

/** A completed, unpublished picture work of the user, written straight to the table (for the works and square routes' paths). */
export async function workFixture(db: Db, userId: string) {
  const row = await db
    .insertInto("works")
    .values({
      user_id: userId,
      type: "image",
      title: "fixture",
      status: "completed",
      file_key: `generations/${userId}/fixture/image-1.png`,
      mime_type: "image/png",
      size: 1,
      width: 1,
      height: 1,
    })
    .returning("id")
    .executeTakeFirstOrThrow();
  return row.id;
}
