import { dirname, join } from "node:path";
import { openapi } from "@elysiajs/openapi";
import { type AnyElysia, Elysia } from "elysia";
import { FormatRegistry } from "elysia/type-system";

/**
 * The OpenAPI plugin's bundled schema mapper replaces TypeBox's global `uuid` and `email` format
 * checks (which Elysia sets as regular expressions) with zod checks that build a zod schema on
 * every call: a third of the CPU of a simple authenticated read, whose path and response hold
 * ids. Put regular expressions back, the same Elysia uses.
 */
const UUID = /^(?:urn:uuid:)?[0-9a-f]{8}-(?:[0-9a-f]{4}-){3}[0-9a-f]{12}$/i;
const EMAIL =
  /^[a-z0-9!#$%&'*+/=?^_`{|}~-]+(?:\.[a-z0-9!#$%&'*+/=?^_`{|}~-]+)*@(?:[a-z0-9](?:[a-z0-9-]*[a-z0-9])?\.)+[a-z0-9](?:[a-z0-9-]*[a-z0-9])?$/i;
FormatRegistry.Set("uuid", (value) => UUID.test(value));
FormatRegistry.Set("email", (value) => EMAIL.test(value));

const SWAGGER_DIST = dirname(Bun.resolveSync("swagger-ui-dist/package.json", import.meta.dir));
const ASSETS: Record<string, string> = {
  "swagger-ui-bundle.js": "text/javascript; charset=utf-8",
  "swagger-ui.css": "text/css; charset=utf-8",
  "favicon-32x32.png": "image/png",
};
const SPEC_PATH = "/openapi.json";

type Operation = { requestBody?: { content?: Record<string, unknown>; required?: boolean } };
type Spec = { paths?: Record<string, Record<string, Operation>> };

/**
 * The generator leaves request bodies without content when a function parse hook is present
 * (ours, in http/plugin.ts); fill them from the routes' body schemas, which are JSON Schema.
 */
function fillRequestBodies(spec: Spec, routes: AnyElysia["routes"]) {
  for (const route of routes) {
    const body = route.hooks?.body as object | undefined;
    if (!body || typeof body !== "object") continue;
    const path = route.path.replace(/:(\w+)/g, "{$1}");
    const operation = spec.paths?.[path]?.[route.method.toLowerCase()];
    if (!operation?.requestBody || Object.keys(operation.requestBody.content ?? {}).length) continue;
    const optional = Object.getOwnPropertySymbols(body).some((s) => s.description === "TypeBox.Optional");
    operation.requestBody.content = { "application/json": { schema: JSON.parse(JSON.stringify(body)) } };
    operation.requestBody.required = !optional;
  }
  return spec;
}

/**
 * OpenAPI 3.1 at /openapi.json and Swagger UI at /swagger, with the UI's assets served from the
 * installed swagger-ui-dist package: the page works with no internet access. `routes` is read
 * when the spec is requested, so it sees every module of the finished app.
 */
export function docsPlugin(version: string, routes: () => AnyElysia["routes"]) {
  return new Elysia({ name: "inkreel.docs" })
    .onAfterHandle({ as: "global" }, ({ path, response }) => {
      if (path === SPEC_PATH && response && typeof response === "object") fillRequestBodies(response as Spec, routes());
    })
    .get(
      "/swagger/assets/:file",
      ({ params, set }) => {
        const type = ASSETS[params.file];
        if (!type) {
          set.status = 404;
          return "not found";
        }
        set.headers["content-type"] = type;
        set.headers["cache-control"] = "public, max-age=86400";
        return Bun.file(join(SWAGGER_DIST, params.file));
      },
      { detail: { hide: true } },
    )
    .use(
      openapi({
        path: "/swagger",
        specPath: SPEC_PATH,
        provider: "swagger-ui",
        exclude: { paths: ["/swagger/assets/:file", "/swagger", SPEC_PATH] },
        swagger: {
          cdn: "/swagger/assets/swagger-ui-bundle.js",
          theme: "/swagger/assets/swagger-ui.css",
          autoDarkMode: false,
          persistAuthorization: true,
        },
        documentation: {
          openapi: "3.1.0",
          info: {
            title: "Inkreel API",
            version,
            description:
              "Turn a novel or script into a finished short video. Envelope: {success, data, message[, error]}.",
            license: { name: "Apache-2.0", identifier: "Apache-2.0" },
          },
          tags: [
            { name: "auth", description: "Register, log in, refresh, log out" },
            { name: "users", description: "User profiles and roles" },
            { name: "spaces", description: "Personal and team spaces, invites, members" },
            { name: "operations", description: "Health, keys and the job queue (ADMIN)" },
            { name: "files", description: "Signed, expiring download links" },
          ],
          components: {
            securitySchemes: { bearer: { type: "http", scheme: "bearer", bearerFormat: "JWT" } },
          },
        },
      }),
    );
}
