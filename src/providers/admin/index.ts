// The provider registry's admin side: views of providers (never their keys), the per-capability
// chains, custom OpenAI-compatible providers, and provider settings. Every write that could leave
// a capability without a usable provider, or race another such write, runs under one advisory
// lock (chains.ts).
export { updateCurrent } from "./chains.ts";
export {
  type ComfyProviderInput,
  createComfyProvider,
  getWorkflowView,
  putWorkflow,
  type WorkflowView,
  workflowViews,
} from "./comfyui.ts";
export { createCustom, slugId } from "./custom.ts";
export { LIMITS, PRICE_FIELDS } from "./settings-input.ts";
export type {
  AdminConfig,
  Catalogue,
  CatalogueEntry,
  CurrentConfig,
  CurrentUpdate,
  CustomProviderInput,
  ProviderPatch,
  ProviderSettingsInput,
  ProviderView,
  UrlCheckOptions,
} from "./types.ts";
export { setEnabled, updateProvider } from "./update.ts";
export { catalogue, current, getProviderView, listProviderViews, providerView } from "./views.ts";
