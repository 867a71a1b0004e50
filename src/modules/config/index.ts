import { Elysia } from "elysia";
import { page } from "../../core/page.ts";
import type { Deps } from "../../deps.ts";
import { authGuard } from "../../http/auth-guard.ts";
import { Envelope, ErrorResponses, ok, PageOf, PageQuery } from "../../http/envelope.ts";
import * as admin from "../../providers/admin/index.ts";
import {
  CatalogueSchema,
  CurrentSchema,
  CurrentUpdateBody,
  CustomProviderBody,
  ProviderParams,
  ProviderPatchBody,
  ProviderViewSchema,
  ToggleBody,
} from "./model.ts";

const security = [{ bearer: [] }];

/** The names of the fields a request set (never their values: one of them may be a key). */
function fieldNames(body: object, prefix = ""): string[] {
  return Object.entries(body).flatMap(([k, v]) =>
    v && typeof v === "object" && !Array.isArray(v) && k !== "prices" && k !== "chains"
      ? fieldNames(v, `${prefix}${k}.`)
      : [`${prefix}${k}`],
  );
}

/**
 * The provider registry: which provider and model serve each capability (/config),
 * and the providers themselves (/admin/providers). Keys are sealed at rest and never
 * returned; custom endpoints pass an SSRF check.
 */
export function configModule(deps: Deps) {
  const { db, config, log } = deps;
  const audit = (msg: string, fields: Record<string, unknown>) => log.info(msg, { audit: true, ...fields });
  const created = async (caller: { user: { id: string } }, body: admin.CustomProviderInput, route: string) => {
    const view = await admin.createCustom(db, config, caller.user.id, body);
    audit("provider created", {
      admin_id: caller.user.id,
      provider: view.id,
      capability: view.capabilities[0],
      fields: fieldNames(body),
      route,
    });
    return view;
  };

  return new Elysia({ tags: ["providers"] })
    .use(authGuard(deps))
    .get(
      "/api/v1/config/providers",
      async () => {
        return ok(await admin.catalogue(db, config));
      },
      {
        auth: true,
        response: { 200: Envelope(CatalogueSchema), ...ErrorResponses },
        detail: {
          summary: "List the providers and models of each capability",
          description: "`configured` says whether the provider has a usable key; keys are never returned.",
          security,
        },
      },
    )
    .get(
      "/api/v1/config/current",
      async () => {
        return ok(await admin.current(db, config));
      },
      {
        auth: true,
        response: { 200: Envelope(CurrentSchema), ...ErrorResponses },
        detail: { summary: "Get each capability's default provider, model and fallback chain", security },
      },
    )
    .put(
      "/api/v1/config/providers",
      async ({ body, caller }) => {
        const result = await admin.updateCurrent(db, config, caller.user.id, body);
        audit("provider chains updated", { admin_id: caller.user.id, fields: fieldNames(body), chains: result.chains });
        return ok(result);
      },
      {
        admin: true,
        body: CurrentUpdateBody,
        response: { 200: Envelope(CurrentSchema), ...ErrorResponses },
        detail: {
          summary: "Choose the provider and model of each capability (ADMIN)",
          description:
            "`<capability>_provider`/`<capability>_model` set the head of that capability's chain, keeping its other links; `chains.<capability>` replaces the whole chain (1–5 links: the default, then the fallbacks in order). Every link must be an enabled provider with a key that offers that model for that capability.",
          security,
        },
      },
    )
    .post(
      "/api/v1/config/providers/custom",
      async ({ body, caller, set }) => {
        const view = await created(caller, body, "config");
        set.status = 201;
        return ok(view, "provider created");
      },
      {
        admin: true,
        body: CustomProviderBody,
        response: { 201: Envelope(ProviderViewSchema), ...ErrorResponses },
        detail: {
          summary: "Add a custom OpenAI-compatible provider (ADMIN)",
          description: "The key is stored encrypted and never returned.",
          security,
        },
      },
    )
    .get(
      "/api/v1/admin/providers",
      async ({ query }) => {
        const { page: pageNo = 1, page_size = 20 } = query;
        const all = await admin.listProviderViews(db, config);
        return ok(page(all.slice((pageNo - 1) * page_size, pageNo * page_size), all.length, pageNo, page_size));
      },
      {
        admin: true,
        query: PageQuery,
        response: { 200: Envelope(PageOf(ProviderViewSchema)), ...ErrorResponses },
        detail: { summary: "List providers, built-in ones first (ADMIN)", security },
      },
    )
    .post(
      "/api/v1/admin/providers",
      async ({ body, caller, set }) => {
        const view = await created(caller, body, "admin");
        set.status = 201;
        return ok(view, "provider created");
      },
      {
        admin: true,
        body: CustomProviderBody,
        response: { 201: Envelope(ProviderViewSchema), ...ErrorResponses },
        detail: {
          summary: "Create a custom OpenAI-compatible provider (ADMIN)",
          description: "Same as POST /api/v1/config/providers/custom.",
          security,
        },
      },
    )
    .patch(
      "/api/v1/admin/providers/:id",
      async ({ params, body, caller }) => {
        const view = await admin.updateProvider(db, config, params.id, body);
        audit("provider updated", { admin_id: caller.user.id, provider: view.id, fields: fieldNames(body) });
        return ok(view);
      },
      {
        admin: true,
        params: ProviderParams,
        body: ProviderPatchBody,
        response: { 200: Envelope(ProviderViewSchema), ...ErrorResponses },
        detail: {
          summary: "Update a provider's URL, key, models or settings (ADMIN)",
          description:
            "Custom providers: name, api_url, api_key, models, config. Built-in ones: base_url, api_key (null clears the stored key), config (concurrency, rate_per_minute, prices per model).",
          security,
        },
      },
    )
    .post(
      "/api/v1/admin/providers/:id/enable",
      async ({ params, body, caller }) => {
        const view = await admin.setEnabled(db, config, params.id, true);
        audit("provider enabled", { admin_id: caller.user.id, provider: view.id, reason: body?.reason });
        return ok(view);
      },
      {
        admin: true,
        params: ProviderParams,
        body: ToggleBody,
        response: { 200: Envelope(ProviderViewSchema), ...ErrorResponses },
        detail: { summary: "Enable a provider (ADMIN)", security },
      },
    )
    .post(
      "/api/v1/admin/providers/:id/disable",
      async ({ params, body, caller }) => {
        const view = await admin.setEnabled(db, config, params.id, false);
        audit("provider disabled", { admin_id: caller.user.id, provider: view.id, reason: body?.reason });
        return ok(view);
      },
      {
        admin: true,
        params: ProviderParams,
        body: ToggleBody,
        response: { 200: Envelope(ProviderViewSchema), ...ErrorResponses },
        detail: {
          summary: "Disable a provider (ADMIN)",
          description:
            "Refused (409) for the built-in local provider and for a provider that is the only usable link of a capability's chain.",
          security,
        },
      },
    );
}
