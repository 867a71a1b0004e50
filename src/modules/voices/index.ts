import { Elysia } from "elysia";
import type { Deps } from "../../deps.ts";

export function voicesModule(_deps: Deps) {
  return new Elysia({ name: "voices" });
}
