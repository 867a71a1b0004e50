import type { Camera } from "../story/schemas.ts";

/** A shot's camera in words, for video models that take their cinematography from the prompt (fal's, Sora). */
const CAMERA_WORDS: Record<Camera, string> = {
  wide: "wide shot, slow pull back",
  medium: "medium shot, gentle push in",
  close_up: "close-up, slow push in on the face",
  over_shoulder: "over-the-shoulder shot, slight lateral drift",
  tracking: "tracking shot following the subject",
  aerial: "aerial shot descending slowly",
};

/** The prompt with the camera said in words, when there is one. */
export const withCamera = (prompt: string, camera: Camera | undefined) =>
  camera ? `${prompt} Camera: ${CAMERA_WORDS[camera]}.` : prompt;
