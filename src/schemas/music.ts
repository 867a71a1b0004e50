import { t } from "elysia";

// What the timeline and the material package both show of a package's music and of a clip's
// staleness.

/** The background music's settings (PUT timeline/bgm changes them). */
export const MusicSettingsFields = {
  mood: t.String(),
  volume: t.Number(),
  loop: t.Boolean(),
  fade_in_s: t.Number(),
  fade_out_s: t.Number(),
};

/** What an edit made out of date in a clip: it is made again by the next export. */
export const StaleList = t.Array(t.Union([t.Literal("keyframe"), t.Literal("voice"), t.Literal("clip")]));
