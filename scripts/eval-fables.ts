// Per-line speaker attribution of the local analyser on the fable fixtures (tests/fixtures/fables.ts):
// prints one JSON object with the accuracy per fable and overall, and every line it got wrong.
import { FABLES } from "../tests/fixtures/fables.ts";
import { sameName, scoreFable } from "../tests/support/fable-score.ts";

const scores = FABLES.map(scoreFable);
const lines = scores.reduce((n, s) => n + s.lines, 0);
const correct = scores.reduce((n, s) => n + s.correct, 0);
console.log(
  JSON.stringify({
    fables: scores.length,
    lines,
    correct,
    accuracy: Number((correct / lines).toFixed(3)),
    unknown: scores.reduce((n, s) => n + s.unknown, 0),
    per_fable: Object.fromEntries(scores.map((s) => [s.id, `${s.correct}/${s.lines}`])),
    wrong: scores.flatMap((s) =>
      s.said.filter((x) => x.got === null || !sameName(x.got, x.want)).map((x) => ({ fable: s.id, ...x })),
    ),
  }),
);
