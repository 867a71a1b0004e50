/** The fal.ai provider: images (FLUX, Kontext) and clips (Kling, Hailuo, Veo) through fal's queue. */
export { createFalImage, type FalImageModel, type FalImageOptions, type FalImageSettings } from "./image.ts";
export { createFalVideo, type FalVideoModel, type FalVideoOptions, type FalVideoSettings } from "./video.ts";
export { FalProviderError, type FalFieldError, type FalPhase } from "./errors.ts";
export { DEFAULT_WEBHOOK_POLL_MS, type FalConnectionOptions } from "./client.ts";
export type { RetryPolicy } from "./http.ts";
export {
  cancelFal,
  defaultCancelOnAbort,
  fingerprint,
  memoryRequestStore,
  resumeFal,
  submitFal,
  type FalRequestControls,
  type FalRequestRef,
  type FalRequestStore,
} from "./queue.ts";
export { IMAGE_ENDPOINTS } from "./image-models.ts";
export { VIDEO_ENDPOINTS } from "./video-models.ts";
export {
  createFalWebhookVerifier,
  FalWebhookError,
  type FalWebhookRejection,
  type FalWebhookVerifier,
  type FalWebhookVerifierOptions,
  type VerifiedFalWebhook,
} from "./webhook.ts";
export { createFalWakeups, FAL_WAKE_CHANNEL, type FalWakeups, type FalWakeupsOptions } from "./webhook-waiter.ts";
