/** Why a composition cannot be made: which shot (when one is to blame) and what is wrong with it. */
export class ComposeError extends Error {
  override name = "ComposeError";
  constructor(
    readonly problem: string,
    readonly shotId: string | null = null,
    /** "input": the caller's timeline or files are at fault; "render": ffmpeg failed on valid input. */
    readonly kind: "input" | "render" = "input",
  ) {
    super(shotId ? `shot "${shotId}": ${problem}` : problem);
  }
}
