/** How a user reframed and coloured one shot's picture; the composer applies it (media/edit.ts). */
export interface EditConfig {
  /** A region of the picture to keep, as fractions of its width and height. */
  crop?: { x: number; y: number; w: number; h: number } | null;
  /** 1 (none) to 4: magnifies around the centre, then pan moves the view. */
  zoom?: number;
  /** -1 to 1: how far the zoomed view moves from the centre towards an edge. */
  pan?: { x: number; y: number };
  /** Degrees, -180 to 180, clockwise; the frame is filled after rotating. */
  rotation?: number;
  filter?: { name: FilterName; intensity: number } | null;
}

export const FILTERS = ["none", "grayscale", "sepia", "warm", "cool", "vivid", "fade", "noir"] as const;
export type FilterName = (typeof FILTERS)[number];
