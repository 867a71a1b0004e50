import type { AssetRef } from "../../story/material.ts";

/** How a creator steers one regeneration: a prompt of their own, an instruction added to ours, pictures to follow. */
export interface Guide {
  /** Replaces what our prompt describes (the art style stays first, so the look holds). */
  prompt?: string;
  /** Added to the prompt (ours, or theirs) as an instruction. */
  userPrompt?: string;
  /** Pictures the image model is given besides the characters' sheets. */
  references?: AssetRef[];
}

/** The prompt as the creator steered it: `art` first, then their subject or ours, then their instruction. */
export function guidedPrompt({ art, subject }: { art: string; subject: string }, g: Guide = {}): string {
  return [art, g.prompt ?? subject, g.userPrompt].filter((part) => part).join(". ");
}
