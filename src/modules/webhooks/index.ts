import { Elysia } from "elysia";
import type { Deps } from "../../deps.ts";

export function webhooksModule(_deps: Deps) {
  return new Elysia({ name: "webhooks" });
}
