import { dirname, join } from "node:path";
import { openapi } from "@elysiajs/openapi";
import { Elysia } from "elysia";

const SWAGGER_DIST = dirname(Bun.resolveSync("swagger-ui-dist/package.json", import.meta.dir));
const ASSETS: Record<string, string> = {
  "swagger-ui-bundle.js": "text/javascript; charset=utf-8",
  "swagger-ui.css": "text/css; charset=utf-8",
  "favicon-32x32.png": "image/png",
};

/**
 * OpenAPI 3.1 at /openapi.json and Swagger UI at /swagger, with the UI's assets served from the
 * installed swagger-ui-dist package: the page works with no internet access.
 */
export function docsPlugin(version: string) {
  return new Elysia({ name: "inkreel.docs" })
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
        specPath: "/openapi.json",
        provider: "swagger-ui",
        exclude: { paths: ["/swagger/assets/:file", "/swagger", "/openapi.json"] },
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
            description: "Turn a novel or script into a finished short video. Envelope: {success, data, message[, error]}.",
            license: { name: "Apache-2.0", identifier: "Apache-2.0" },
          },
          tags: [
            { name: "auth", description: "Register, log in, refresh, log out" },
            { name: "users", description: "User profiles and roles" },
            { name: "spaces", description: "Personal and team spaces, invites, members" },
            { name: "operations", description: "Health and keys" },
          ],
          components: {
            securitySchemes: { bearer: { type: "http", scheme: "bearer", bearerFormat: "JWT" } },
          },
        },
      }),
    );
}
