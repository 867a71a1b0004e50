import type { StyleId } from "../core/project-options.ts";
import type { ArtStyle } from "./material.ts";

/** The art-style stage's presets: a prompt for image models and a palette for painters without one. */
export const STYLE_PRESETS: Record<StyleId, Omit<ArtStyle, "name">> = {
  manga: {
    prompt: "black and white manga, screentone shading, bold ink lines, dramatic panels",
    palette: ["#f5f5f5", "#9a9a9a", "#4a4a4a", "#111111"],
    monochrome: true,
  },
  anime: {
    prompt: "anime style, clean line art, cel shading, vivid colours",
    palette: ["#f4a6b7", "#87b8e8", "#fff0a0", "#2d3047"],
  },
  ink: {
    prompt: "Chinese ink wash painting, soft brush strokes, muted tones",
    palette: ["#1f1f1f", "#6b6b6b", "#d8d2c4", "#a33b2b"],
  },
  realistic: {
    prompt: "cinematic realistic, natural light, shallow depth of field",
    palette: ["#3a4a5c", "#c8a27a", "#e8e2d6", "#1c2541"],
  },
  comic: {
    prompt: "western comic book, bold outlines, halftone shading",
    palette: ["#e63946", "#f1faee", "#a8dadc", "#1d3557"],
  },
};

/** How clients name and group the styles (GET /input/options). */
export const STYLE_LABELS: Record<StyleId, { name: string; category: string }> = {
  anime: { name: "Anime", category: "illustration" },
  manga: { name: "Manga (black and white)", category: "illustration" },
  ink: { name: "Chinese ink wash", category: "painting" },
  realistic: { name: "Cinematic realistic", category: "photographic" },
  comic: { name: "Western comic", category: "illustration" },
};
