import { describe, expect, test } from "bun:test";
import { deflateRawSync } from "node:zlib";
import { createTestContext } from "./support/context.ts";

const ctx = await createTestContext();
const STORY =
  "林小雨推开茶馆的门，外面下着小雨。周掌柜笑着问道：“你来了？今天还是老样子？”林小雨点点头，说：“一壶龙井，谢谢周掌柜。”";

/** A minimal .docx: a ZIP holding word/document.xml with one paragraph per line. */
function docx(lines: string[]): Uint8Array<ArrayBuffer> {
  const xml = `<?xml version="1.0"?><w:document xmlns:w="http://schemas.openxmlformats.org/wordprocessingml/2006/main"><w:body>${lines
    .map(
      (l) => `<w:p><w:r><w:t xml:space="preserve">${l.replace(/&/g, "&amp;").replace(/</g, "&lt;")}</w:t></w:r></w:p>`,
    )
    .join("")}</w:body></w:document>`;
  const name = Buffer.from("word/document.xml");
  const raw = Buffer.from(xml);
  const data = deflateRawSync(raw);
  const crc = Bun.hash.crc32(raw);
  const local = Buffer.alloc(30);
  local.writeUInt32LE(0x04034b50, 0);
  local.writeUInt16LE(20, 4);
  local.writeUInt16LE(8, 8);
  local.writeUInt32LE(crc, 14);
  local.writeUInt32LE(data.length, 18);
  local.writeUInt32LE(raw.length, 22);
  local.writeUInt16LE(name.length, 26);
  const central = Buffer.alloc(46);
  central.writeUInt32LE(0x02014b50, 0);
  central.writeUInt16LE(20, 4);
  central.writeUInt16LE(20, 6);
  central.writeUInt16LE(8, 10);
  central.writeUInt32LE(crc, 16);
  central.writeUInt32LE(data.length, 20);
  central.writeUInt32LE(raw.length, 24);
  central.writeUInt16LE(name.length, 28);
  central.writeUInt32LE(0, 42);
  const centralAt = local.length + name.length + data.length;
  const end = Buffer.alloc(22);
  end.writeUInt32LE(0x06054b50, 0);
  end.writeUInt16LE(1, 8);
  end.writeUInt16LE(1, 10);
  end.writeUInt32LE(central.length + name.length, 12);
  end.writeUInt32LE(centralAt, 16);
  return new Uint8Array(Buffer.concat([local, name, data, central, name, end]));
}

async function upload(token: string, file: File, fields: Record<string, string> = {}) {
  const form = new FormData();
  form.append("file", file);
  for (const [k, v] of Object.entries(fields)) form.append(k, v);
  const res = await ctx.app.handle(
    new Request("http://localhost/api/v1/projects/upload", {
      method: "POST",
      headers: { authorization: `Bearer ${token}` },
      body: form,
    }),
  );
  return {
    status: res.status,
    json: (await res.json()) as { data: { id: string; name: string; options: unknown }; error?: { code: string } },
  };
}

const storedText = async (id: string) =>
  (await ctx.db.selectFrom("projects").select("input_text").where("id", "=", id).executeTakeFirstOrThrow()).input_text;

describe("creating a project from an uploaded file", () => {
  test(".txt, .md and .docx become projects holding the story's text", async () => {
    const me = await ctx.register();
    const txt = await upload(me.token, new File([`\uFEFF${STORY}`], "雨夜.txt"), {
      options: JSON.stringify({ aspect_ratio: "9:16" }),
    });
    expect(txt.status).toBe(201);
    expect(txt.json.data).toMatchObject({ name: "雨夜", options: { aspect_ratio: "9:16" } });
    expect(await storedText(txt.json.data.id)).toBe(STORY);
    // The file itself is kept as an asset of the project.
    const kept = await ctx.db
      .selectFrom("assets")
      .selectAll()
      .where("project_id", "=", txt.json.data.id)
      .where("kind", "=", "upload")
      .executeTakeFirstOrThrow();
    expect(kept.meta).toEqual({ file_name: "雨夜.txt" });
    expect(new TextDecoder("utf-8", { ignoreBOM: true }).decode(await ctx.deps.storage.get(kept.storage_key))).toBe(
      `\uFEFF${STORY}`,
    );
    const md = await upload(me.token, new File([`# 雨夜\n\n${STORY}`], "story.md"), { name: "Markdown story" });
    expect(md.status).toBe(201);
    expect(md.json.data.name).toBe("Markdown story");
    const word = await upload(me.token, new File([docx(["第一章 雨夜", STORY, "A & B <tag>"])], "novel.docx"));
    expect(word.status).toBe(201);
    expect(await storedText(word.json.data.id)).toBe(`第一章 雨夜\n${STORY}\nA & B <tag>`);
  });

  test("the bytes decide the type: binary or archives renamed .txt, and other formats, are 415; nothing is stored", async () => {
    const me = await ctx.register();
    const before = await ctx.db
      .selectFrom("projects")
      .select(({ fn }) => fn.countAll<number>().as("n"))
      .executeTakeFirstOrThrow();
    const binary = Uint8Array.from({ length: 4096 }, (_, i) => (i * 73 + 11) % 256);
    for (const file of [
      new File([binary], "story.txt"),
      new File([docx([STORY])], "story.txt"),
      new File([STORY], "story.pdf"),
      new File([STORY], "story.docx"),
      new File([new Uint8Array([0x50, 0x4b, 0x03, 0x04, 1, 2, 3])], "broken.docx"),
    ]) {
      const res = await upload(me.token, file);
      expect(res.status, file.name).toBe(415);
      expect(res.json.error?.code).toBe("UNSUPPORTED_MEDIA_TYPE");
    }
    const after = await ctx.db
      .selectFrom("projects")
      .select(({ fn }) => fn.countAll<number>().as("n"))
      .executeTakeFirstOrThrow();
    expect(Number(after.n)).toBe(Number(before.n));
  });

  test("too short is 400, over 10 MB is 413, bad options are 400, no token is 401", async () => {
    const me = await ctx.register();
    expect((await upload(me.token, new File(["太短了。"], "short.txt"))).status).toBe(400);
    const big = await upload(me.token, new File([new Uint8Array(10 * 1024 * 1024 + 1).fill(0x61)], "big.txt"));
    expect(big.status).toBe(413);
    expect(big.json.error?.code).toBe("PAYLOAD_TOO_LARGE");
    expect((await upload(me.token, new File([STORY], "a.txt"), { options: "{not json" })).status).toBe(400);
    expect(
      (await upload(me.token, new File([STORY], "a.txt"), { options: JSON.stringify({ voice_speed: 9 }) })).status,
    ).toBe(400);
    const form = new FormData();
    form.append("file", new File([STORY], "a.txt"));
    expect(
      (await ctx.app.handle(new Request("http://localhost/api/v1/projects/upload", { method: "POST", body: form })))
        .status,
    ).toBe(401);
  });
});
