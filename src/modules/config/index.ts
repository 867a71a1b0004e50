import { Elysia } from "elysia";
import type { Deps } from "../../deps.ts";

export function configModule(_deps: Deps) {
  return new Elysia({ name: "config" });
}
