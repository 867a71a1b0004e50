import { type Static, type TSchema, Type } from "@sinclair/typebox";
import { Value } from "@sinclair/typebox/value";
import { literals } from "../core/schema.ts";

/**
 * The JSON schemas of story analysis, shared by the local analyser and the cloud text providers
 * (OpenAI structured outputs, strict mode): every object closes its properties and requires all of
 * them; "nothing" is an empty string or list, never an omitted key.
 */

const closed = { additionalProperties: false } as const;
const Language = Type.Union([Type.Literal("zh"), Type.Literal("en")]);

export const TIMES_OF_DAY = ["dawn", "day", "dusk", "night"] as const;
export const MOOD_VALUES = ["calm", "happy", "sad", "tense", "epic", "mysterious"] as const;
export const CAMERAS = ["wide", "medium", "close_up", "over_shoulder", "tracking", "aerial"] as const;
export const TRANSITIONS = ["cut", "fade", "dissolve", "wipe"] as const;

// Each value keeps its literal type, so Static<> gives the literal union, not string.

export const StorylineSchema = Type.Object(
  {
    title: Type.String({ minLength: 1, maxLength: 200 }),
    logline: Type.String({ maxLength: 500 }),
    summary: Type.String({ maxLength: 4000 }),
    tone: Type.String({ maxLength: 100 }),
    genre: Type.String({ maxLength: 100 }),
    language: Language,
    chapters: Type.Array(
      Type.Object(
        {
          index: Type.Integer({ minimum: 1 }),
          title: Type.String({ maxLength: 200 }),
          summary: Type.String({ maxLength: 2000 }),
        },
        closed,
      ),
    ),
  },
  { $id: "inkreel.storyline", ...closed },
);

/** What a character is: a person, or one of the animals the painter draws (anything else is a creature). */
export const SPECIES = [
  "human",
  "fox",
  "rabbit",
  "tiger",
  "cat",
  "dog",
  "bird",
  "crow",
  "horse",
  "ox",
  "monkey",
  "dragon",
  "fish",
  "wolf",
  "bear",
  "mouse",
  "creature",
] as const;
export type Species = (typeof SPECIES)[number];

export const CharacterSchema = Type.Object(
  {
    name: Type.String({ minLength: 1, maxLength: 60 }),
    aliases: Type.Array(Type.String({ minLength: 1, maxLength: 60 })),
    role: literals(["protagonist", "antagonist", "supporting", "minor"] as const),
    gender: literals(["male", "female", "unknown"] as const),
    age: literals(["child", "young", "adult", "elder", "unknown"] as const),
    species: literals(SPECIES, { description: "human, one of the drawn animals, or creature" }),
    description: Type.String({ maxLength: 1000 }),
    personality: Type.String({ maxLength: 500 }),
    /** How many dialogue lines the character speaks in the story. */
    lines: Type.Integer({ minimum: 0 }),
  },
  closed,
);

export const CharactersSchema = Type.Object(
  { characters: Type.Array(CharacterSchema) },
  { $id: "inkreel.characters", ...closed },
);

export const SceneSchema = Type.Object(
  {
    /** Stable within one analysis: "c{chapter}s{n}". */
    id: Type.String({ pattern: "^c[0-9]+s[0-9]+$" }),
    chapter: Type.Integer({ minimum: 1 }),
    location: Type.String({ minLength: 1, maxLength: 200 }),
    timeOfDay: literals(TIMES_OF_DAY),
    mood: literals(MOOD_VALUES),
    summary: Type.String({ maxLength: 2000 }),
    characters: Type.Array(Type.String({ minLength: 1, maxLength: 60 })),
  },
  closed,
);

export const ScenesSchema = Type.Object({ scenes: Type.Array(SceneSchema) }, { $id: "inkreel.scenes", ...closed });

export const DialogueLineSchema = Type.Object(
  { speaker: Type.String({ minLength: 1, maxLength: 60 }), text: Type.String({ minLength: 1, maxLength: 2000 }) },
  closed,
);

export const ShotSchema = Type.Object(
  {
    /** Stable within one analysis: "{sceneId}h{n}". */
    id: Type.String({ pattern: "^c[0-9]+s[0-9]+h[0-9]+$" }),
    sceneId: Type.String({ pattern: "^c[0-9]+s[0-9]+$" }),
    characters: Type.Array(Type.String({ minLength: 1, maxLength: 60 })),
    /** What the picture shows, for the image model. */
    description: Type.String({ minLength: 1, maxLength: 2000 }),
    /** The narrator's words over this shot; empty when there is none. */
    narration: Type.String({ maxLength: 2000 }),
    dialogue: Type.Array(DialogueLineSchema),
    camera: literals(CAMERAS),
    transition: literals(TRANSITIONS),
    durationS: Type.Number({ minimum: 1, maximum: 60 }),
  },
  closed,
);

export const StoryboardSchema = Type.Object(
  { shots: Type.Array(ShotSchema) },
  { $id: "inkreel.storyboard", ...closed },
);

export type Storyline = Static<typeof StorylineSchema>;
export type Character = Static<typeof CharacterSchema>;
export type Scene = Static<typeof SceneSchema>;
export type DialogueLine = Static<typeof DialogueLineSchema>;
export type Shot = Static<typeof ShotSchema>;
export type TimeOfDay = (typeof TIMES_OF_DAY)[number];
export type Camera = (typeof CAMERAS)[number];
export type Transition = (typeof TRANSITIONS)[number];

/** A whole analysis: what the storyline, characters, scenes and storyboard stages produce. */
export interface StoryAnalysis {
  storyline: Storyline;
  characters: Character[];
  scenes: Scene[];
  shots: Shot[];
}

export class SchemaViolation extends Error {
  override name = "SchemaViolation";
  constructor(
    readonly schemaId: string,
    /** JSON-pointer path and message of each violation, to feed back to a model or show a user. */
    readonly problems: Array<{ path: string; message: string }>,
  ) {
    super(
      `${schemaId}: ${problems
        .slice(0, 5)
        .map((p) => `${p.path || "/"} ${p.message}`)
        .join("; ")}`,
    );
  }
}

/** Checks a value against a schema; throws SchemaViolation listing what is wrong. */
export function validate<S extends TSchema>(schema: S, value: unknown): Static<S> {
  if (Value.Check(schema, value)) return value as Static<S>;
  const problems = [...Value.Errors(schema, value)].slice(0, 20).map((e) => ({ path: e.path, message: e.message }));
  throw new SchemaViolation(schema.$id ?? "value", problems);
}
