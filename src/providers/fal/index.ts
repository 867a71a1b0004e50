/** The fal.ai provider: images (FLUX, Kontext) and clips (Kling, Hailuo, Veo) through fal's queue. */

export { DEFAULT_ORPHAN_WAIT_MS, DEFAULT_WEBHOOK_POLL_MS, type FalConnectionOptions } from "./client.ts";
export { type FalFieldError, type FalPhase, FalProviderError } from "./errors.ts";
export type { RetryPolicy } from "./http.ts";
export { createFalImage, type FalImageModel, type FalImageOptions, type FalImageSettings } from "./image.ts";
export { IMAGE_ENDPOINTS } from "./image-models.ts";
export {
  cancelFal,
  defaultCancelOnAbort,
  type FalIntent,
  type FalIntentStore,
  type FalNewIntent,
  type FalRequestControls,
  type FalRequestRef,
  type FalRequestStore,
  fingerprint,
  memoryRequestStore,
  resumeFal,
  submitFal,
} from "./queue.ts";
export { createFalVideo, type FalVideoModel, type FalVideoOptions, type FalVideoSettings } from "./video.ts";
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
