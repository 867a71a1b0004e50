// A fallback handler for tests/support/fake-openai.ts that answers the pipeline's structured
// analysis requests (storyline, characters, scenes, storyboard) the way a model would: it reads
// the schema named in response_format and the story in the user message, and lets the local
// analyser write an answer that matches that schema. So a whole run can go through the real
// OpenAI SDK against the fake server and still get a story-shaped package.
import { createLocalText } from "../../src/providers/local/text.ts";
import { CharactersSchema, ScenesSchema, StoryboardSchema, StorylineSchema } from "../../src/story/schemas.ts";
import { type Handler, reply } from "./fake-openai.ts";

const SCHEMAS = [StorylineSchema, CharactersSchema, ScenesSchema, StoryboardSchema];
const analyser = createLocalText();

/** The story text of a request: what follows its last "Story:" (or "Story (this part):") heading. */
function storyOf(messages: Array<{ role: string; content: unknown }>): string {
  const user = String(messages.filter((m) => m.role === "user").at(-1)?.content ?? "");
  const at = Math.max(user.lastIndexOf("Story:\n"), user.lastIndexOf("Story (this part):\n"));
  return at < 0 ? user : user.slice(user.indexOf("\n", at) + 1);
}

export function storyAnalyst(): Handler {
  return async (req) => {
    const name = req.body?.response_format?.json_schema?.name as string | undefined;
    const schema = SCHEMAS.find((s) => s.$id!.replace(/[^a-zA-Z0-9_-]/g, "_") === name);
    if (!schema) return reply.error(400, `story-analyst: no schema named ${name}`);
    const story = storyOf(req.body.messages);
    const answer = await analyser.generateObject({ schema, system: "", prompt: story, source: story });
    return reply.json(answer.data, {
      usage: {
        prompt_tokens: Math.ceil(JSON.stringify(req.body.messages).length / 3),
        completion_tokens: Math.ceil(JSON.stringify(answer.data).length / 3),
      },
    });
  };
}
