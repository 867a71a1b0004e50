import { cors } from "@elysiajs/cors";
import { type AnyElysia, Elysia } from "elysia";
import pkg from "../package.json" with { type: "json" };
import type { Deps } from "./deps.ts";
import { docsPlugin } from "./http/docs.ts";
import { metricsPlugin } from "./http/metrics.ts";
import { httpPlugin } from "./http/plugin.ts";
import { adminConfigModule } from "./modules/admin-config/index.ts";
import { assetsModule } from "./modules/assets/index.ts";
import { attachmentsModule } from "./modules/attachments/index.ts";
import { authModule } from "./modules/auth/index.ts";
import { comfyuiModule } from "./modules/comfyui/index.ts";
import { computeModule } from "./modules/compute/index.ts";
import { configModule } from "./modules/config/index.ts";
import { episodesModule } from "./modules/episodes/index.ts";
import { eventsModule } from "./modules/events/index.ts";
import { filesModule } from "./modules/files/index.ts";
import { generateModule } from "./modules/generate/index.ts";
import { healthModule } from "./modules/health/index.ts";
import { inputModule } from "./modules/input/index.ts";
import { jobsModule } from "./modules/jobs/index.ts";
import { libraryModule } from "./modules/library/index.ts";
import { packagesModule } from "./modules/packages/index.ts";
import { projectsModule } from "./modules/projects/index.ts";
import { rechargeModule } from "./modules/recharge/index.ts";
import { spacesModule } from "./modules/spaces/index.ts";
import { tasksModule } from "./modules/tasks/index.ts";
import { templatesModule } from "./modules/templates/index.ts";
import { timelineModule } from "./modules/timeline/index.ts";
import { uploadsModule } from "./modules/uploads/index.ts";
import { usageModule } from "./modules/usage/index.ts";
import { usersModule } from "./modules/users/index.ts";
import { voicesModule } from "./modules/voices/index.ts";
import { webhooksModule } from "./modules/webhooks/index.ts";
import { worksModule } from "./modules/works/index.ts";

/** The whole HTTP API; tests call `createApp(deps).handle(request)`. */
export function createApp(deps: Deps) {
  const { origins } = deps.config.cors;
  let routes: AnyElysia["routes"] = [];
  const app = new Elysia()
    // First, so its error handler and request id cover every route registered after it.
    .use(httpPlugin(deps))
    .use(metricsPlugin(deps, () => routes))
    .use(
      cors({
        origin: origins.includes("*") ? true : origins.length ? origins : false,
        credentials: !origins.includes("*"),
        exposeHeaders: ["X-Request-Id", "Retry-After"],
        allowedHeaders: ["Authorization", "Content-Type", "Idempotency-Key", "X-Request-Id", "Last-Event-ID"],
      }),
    )
    .use(docsPlugin(pkg.version, () => routes))
    .get("/.well-known/jwks.json", () => deps.issuer.jwks(), {
      detail: { tags: ["operations"], summary: "Public keys of our token issuer" },
    })
    .use(healthModule(deps))
    .use(authModule(deps))
    .use(usersModule(deps))
    .use(spacesModule(deps))
    .use(jobsModule(deps))
    .use(adminConfigModule(deps))
    .use(eventsModule(deps))
    .use(projectsModule(deps))
    .use(inputModule(deps))
    .use(timelineModule(deps))
    .use(tasksModule(deps))
    .use(uploadsModule(deps))
    .use(generateModule(deps))
    .use(worksModule(deps))
    .use(computeModule(deps))
    .use(rechargeModule(deps))
    .use(assetsModule(deps))
    .use(templatesModule(deps))
    .use(libraryModule(deps))
    .use(attachmentsModule(deps))
    .use(packagesModule(deps))
    .use(configModule(deps))
    .use(comfyuiModule(deps))
    .use(episodesModule(deps))
    .use(voicesModule(deps))
    .use(webhooksModule(deps))
    .use(usageModule(deps))
    .use(deps.fileLinkSecret ? filesModule(deps, deps.fileLinkSecret) : new Elysia());
  routes = app.routes;
  return app;
}

export type App = ReturnType<typeof createApp>;
