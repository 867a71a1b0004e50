/** The default workflow, in order. Per-shot stages fan out one job per shot and join. */
export const STAGES = [
  "storyline",
  "art_style",
  "characters",
  "scenes",
  "storyboard",
  "keyframes",
  "voices",
  "clips",
  "music",
  "export",
] as const;
export type Stage = (typeof STAGES)[number];

export const PER_SHOT: ReadonlySet<Stage> = new Set(["keyframes", "voices", "clips"]);

export const isStage = (s: unknown): s is Stage => typeof s === "string" && (STAGES as readonly string[]).includes(s);

/** Why a stage failed; a provider's failure (code AI_SERVICE_ERROR) names the provider, model and capability. */
export interface StepFailure {
  message: string;
  shot_id?: string;
  code?: string;
  provider?: string;
  model?: string;
  capability?: string;
}

export interface StageState {
  stage: Stage;
  status: "pending" | "running" | "completed" | "failed" | "skipped" | "cancelled";
  progress: number;
  error?: StepFailure | null;
  /** Per-shot stages: shots finished of all, which ones, and the join job waiting for them. */
  done?: number;
  total?: number;
  done_shots?: string[];
  join_id?: string;
}

/** A stage's share of a whole run's progress: roughly how long each takes on the local providers. */
export const WEIGHT: Record<Stage, number> = {
  storyline: 2,
  art_style: 1,
  characters: 6,
  scenes: 5,
  storyboard: 2,
  keyframes: 18,
  voices: 20,
  clips: 22,
  music: 4,
  export: 20,
};
