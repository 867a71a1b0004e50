import { describe, expect, test } from "bun:test";
import { zipSync } from "fflate";
import { splitChapters } from "../src/providers/local/analyser/chapters.ts";
import { createTestContext } from "./support/context.ts";
import { bareDocx as docx, withDeclaredSize, wordDocx } from "./support/docx.ts";
import { makePng } from "./support/fake-openai.ts";

const ctx = await createTestContext();
const STORY =
  "林小雨推开茶馆的门，外面下着小雨。周掌柜笑着问道：“你来了？今天还是老样子？”林小雨点点头，说：“一壶龙井，谢谢周掌柜。”";

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
    json: (await res.json()) as {
      data: { id: string; name: string; options: unknown };
      message: string;
      error?: { code: string };
    },
  };
}

const storedText = async (id: string) =>
  (await ctx.db.selectFrom("projects").select("input_text").where("id", "=", id).executeTakeFirstOrThrow()).input_text;

const projectCount = async () =>
  Number(
    (
      await ctx.db
        .selectFrom("projects")
        .select(({ fn }) => fn.countAll<number>().as("n"))
        .executeTakeFirstOrThrow()
    ).n,
  );

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

describe("Word documents", () => {
  test("paragraphs styled as headings become chapter headings; notes stay out, breaks and tabs stay in", async () => {
    const me = await ctx.register();
    const footnoted =
      '<w:r><w:t xml:space="preserve">周掌柜</w:t></w:r><w:r><w:rPr><w:b/></w:rPr><w:t>擦着</w:t></w:r>' +
      '<w:r><w:rPr><w:rStyle w:val="FootnoteReference"/></w:rPr><w:footnoteReference w:id="1"/></w:r>' +
      '<w:r><w:t xml:space="preserve">桌子。</w:t></w:r>';
    const broken =
      "<w:r><w:t>林小雨走出茶馆，</w:t><w:br/><w:t>雨已经停了。</w:t><w:tab/><w:t>A &amp; B &lt;i&gt;</w:t></w:r>";
    const file = wordDocx(
      [
        { style: "Title", text: "雨夜" },
        { style: "Heading1", text: "茶馆" },
        STORY,
        { runs: footnoted },
        "",
        { style: "Heading2", text: "第二章 回家" },
        { runs: broken },
      ],
      "这是一条脚注。",
    );
    const res = await upload(me.token, new File([file], "story.docx"));
    expect(res.status).toBe(201);
    const text = await storedText(res.json.data.id);
    expect(text).toBe(
      [
        "# 雨夜",
        "# 茶馆",
        STORY,
        "周掌柜擦着桌子。",
        "## 第二章 回家",
        "林小雨走出茶馆，\n雨已经停了。\tA & B <i>",
      ].join("\n"),
    );
    // "茶馆" is a chapter only by its style: as a plain line it would be a sentence of the story.
    expect([...splitChapters(text, "zh")].map((c) => c.title)).toEqual(["茶馆", "第二章 回家"]);
  });

  test("not a Word document inside: a spreadsheet, no main part, a zip bomb, a part cut short are 415; nothing is stored", async () => {
    const me = await ctx.register();
    const before = await projectCount();
    const utf8 = (s: string) => new TextEncoder().encode(s);
    const sheet = zipSync({
      "[Content_Types].xml": utf8(
        '<?xml version="1.0"?><Types xmlns="http://schemas.openxmlformats.org/package/2006/content-types"><Override PartName="/xl/workbook.xml" ContentType="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet.main+xml"/></Types>',
      ),
      "xl/workbook.xml": utf8('<?xml version="1.0"?><workbook/>'),
    });
    const noMain = zipSync({ "notes.xml": utf8(`<?xml version="1.0"?><notes>${STORY}</notes>`) });
    const bomb = withDeclaredSize(wordDocx([STORY]), "word/document.xml", 200 * 1024 * 1024);
    const cut = withDeclaredSize(wordDocx([STORY]), "word/document.xml", 40);
    for (const [name, bytes, why] of [
      ["sheet", sheet, /xlsx/],
      ["no main part", noMain, /main document/],
      ["bomb", bomb, /unpacks to more than/],
      ["cut", cut, /main document/],
    ] as const) {
      const res = await upload(me.token, new File([bytes as Uint8Array<ArrayBuffer>], `${name}.docx`));
      expect(res.status, name).toBe(415);
      expect(res.json.error?.code).toBe("UNSUPPORTED_MEDIA_TYPE");
      expect(res.json.message, name).toMatch(why);
    }
    expect(await projectCount()).toBe(before);
  });
});

describe("text decided by decoding, not by the signature", () => {
  test("a PNG renamed .md is 415 naming it; text that opens like a signature (an ASCII STL) is text", async () => {
    const me = await ctx.register();
    const png = await upload(me.token, new File([makePng(8, 8) as Uint8Array<ArrayBuffer>], "cover.md"));
    expect(png.status).toBe(415);
    expect(png.json.error?.code).toBe("UNSUPPORTED_MEDIA_TYPE");
    expect(png.json.message).toContain("image/png");
    const solid = `solid ground at last, she thought. ${STORY}`;
    const res = await upload(me.token, new File([solid], "solid.txt"));
    expect(res.status).toBe(201);
    expect(await storedText(res.json.data.id)).toBe(solid);
  });
});
