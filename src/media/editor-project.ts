import { randomUUID } from "node:crypto";
import { extname } from "node:path";
import type { Layout } from "./compose.ts";
import type { Cue } from "./subtitles.ts";
import { toSrt } from "./subtitles.ts";
import { frameSize, shotFrames, type Timeline } from "./timeline.ts";
import type { ZipEntry } from "./zip.ts";

/**
 * A timeline as a project an editor opens, with its media inside: the pictures and clips of the
 * shots on a video track, each line of speech and the music on audio tracks, the subtitles as
 * text (CapCut) or an SRT file beside the project (MLT). Every time is a whole number of frames,
 * the same frames the composer renders, so the editor's timeline lasts exactly as long as ours.
 */
export interface EditorProject {
  /** The ZIP's files, under one folder. */
  entries: ZipEntry[];
  durationS: number;
}

/** Where each shot, line and cue falls, in frames of the output. */
interface FramePlan {
  fps: number;
  width: number;
  height: number;
  totalFrames: number;
  shots: Array<{ id: string; kind: "still" | "clip"; media: string; start: number; frames: number; sourceS: number }>;
  /** Speech, each line on the first lane free at its start (lines never overlap on one lane). */
  lines: Array<{ media: string; start: number; frames: number; volume: number; lane: number }>;
  lanes: number;
  /** The music track: the whole file back to back (looped) to the end, or once. */
  music: {
    media: string;
    sourceFrames: number;
    volume: number;
    pieces: Array<{ start: number; frames: number }>;
  } | null;
  cues: Array<{ start: number; frames: number; text: string }>;
  /** Media files by their name in the folder. */
  files: Map<string, string>;
}

/** Every input file once, named by its role and order (`image/shot-03.png`, `audio/line-0007.wav`). */
function framePlan(timeline: Timeline, layout: Layout): FramePlan {
  const fps = timeline.output.fps;
  const { width, height } = frameSize(timeline.output);
  const files = new Map<string, string>();
  const byPath = new Map<string, string>();
  const name = (path: string, dir: string, stem: string) => {
    const known = byPath.get(path);
    if (known) return known;
    const n = `${dir}/${stem}${extname(path).toLowerCase() || ".bin"}`;
    byPath.set(path, n);
    files.set(n, path);
    return n;
  };
  const toFrame = (s: number) => Math.round(s * fps);
  let start = 0;
  const shots = timeline.shots.map((shot, i) => {
    const frames = shotFrames(shot, fps);
    const still = shot.visual.kind === "still";
    const media = name(
      shot.visual.path,
      still ? "image" : "video",
      `shot-${String(i + 1).padStart(3, "0")}-${shot.id.replace(/[^\w-]/g, "_").slice(0, 40)}`,
    );
    const planned = {
      id: shot.id,
      kind: shot.visual.kind,
      media,
      start,
      frames,
      sourceS: layout.visuals[i]?.durationS ?? 0,
    };
    start += frames;
    return planned;
  });
  const totalFrames = start;
  const laneEnds: number[] = [];
  const lines = layout.speech.map((a, i) => {
    const at = toFrame(a.atS);
    const frames = Math.max(1, Math.min(toFrame(a.playS), totalFrames - at));
    let lane = laneEnds.findIndex((end) => end <= at);
    if (lane < 0) lane = laneEnds.push(0) - 1;
    laneEnds[lane] = at + frames;
    return {
      media: name(a.path, "audio", `line-${String(i + 1).padStart(4, "0")}`),
      start: at,
      frames,
      volume: a.volume,
      lane,
    };
  });
  let music: FramePlan["music"] = null;
  if (timeline.bgm && layout.bgm?.durationS) {
    const sourceFrames = Math.max(1, Math.floor(layout.bgm.durationS * fps));
    const pieces: Array<{ start: number; frames: number }> = [];
    for (let at = 0; at < totalFrames; at += sourceFrames) {
      pieces.push({ start: at, frames: Math.min(sourceFrames, totalFrames - at) });
      if (timeline.bgm.loop === false) break;
    }
    music = {
      media: name(timeline.bgm.path, "audio", "music"),
      sourceFrames,
      volume: timeline.bgm.volume ?? 1,
      pieces,
    };
  }
  const cues = layout.cues
    .map((c: Cue) => ({ start: toFrame(c.startS), frames: toFrame(c.endS) - toFrame(c.startS), text: c.text }))
    .filter((c) => c.frames > 0);
  return { fps, width, height, totalFrames, shots, lines, lanes: laneEnds.length, music, cues, files };
}

const us = (frames: number, fps: number) => Math.round((frames * 1_000_000) / fps);

function ratioLabel(width: number, height: number) {
  const gcd = (a: number, b: number): number => (b ? gcd(b, a % b) : a);
  const g = gcd(width, height);
  return `${width / g}:${height / g}`;
}

const speedMaterial = () => ({ id: randomUUID(), type: "speed", speed: 1, mode: 0, curve_speed: null });

const CROP = {
  lower_left_x: 0,
  lower_left_y: 1,
  lower_right_x: 1,
  lower_right_y: 1,
  upper_left_x: 0,
  upper_left_y: 0,
  upper_right_x: 1,
  upper_right_y: 0,
};

/** A photo's nominal source length in CapCut (three hours): a still can be stretched to any length. */
const PHOTO_DURATION_US = 10_800_000_000;

function segment(
  materialId: string,
  target: { start: number; duration: number },
  opts: {
    source?: { start: number; duration: number };
    speed?: number;
    volume?: number;
    visual: boolean;
    refs: string[];
    renderIndex: number;
  },
) {
  return {
    id: randomUUID(),
    material_id: materialId,
    target_timerange: target,
    source_timerange: opts.source ?? { start: 0, duration: target.duration },
    speed: opts.speed ?? 1,
    volume: opts.volume ?? 1,
    last_nonzero_volume: opts.volume || 1,
    visible: true,
    reverse: false,
    clip: opts.visual
      ? {
          alpha: 1,
          rotation: 0,
          scale: { x: 1, y: 1 },
          transform: { x: 0, y: 0 },
          flip: { horizontal: false, vertical: false },
        }
      : null,
    uniform_scale: opts.visual ? { on: true, value: 1 } : null,
    render_index: opts.renderIndex,
    track_render_index: 0,
    track_attribute: 0,
    extra_material_refs: opts.refs,
    common_keyframes: [],
    keyframe_refs: [],
  };
}

const track = (type: string, name: string, segments: unknown[]) => ({
  id: randomUUID(),
  type,
  name,
  attribute: 0,
  flag: 0,
  is_default_name: false,
  segments,
});

const hexRgb = (hex: string) => [1, 3, 5].map((i) => Number.parseInt(hex.slice(i, i + 2), 16) / 255);

/**
 * A CapCut / JianYing draft folder (the unencrypted format these apps read up to JianYing 5.9):
 * `draft_content.json` (and the same as `draft_info.json`, the name macOS and JianYing look for),
 * `draft_meta_info.json` registering every medium as imported, and the media under `assets/`.
 */
export function capcutDraft(
  timeline: Timeline,
  layout: Layout,
  meta: { title: string; folder: string; subtitleColour?: string },
): EditorProject {
  const plan = framePlan(timeline, layout);
  const { fps } = plan;
  const videos: Record<string, unknown>[] = [];
  const audios: Record<string, unknown>[] = [];
  const texts: Record<string, unknown>[] = [];
  const speeds: Record<string, unknown>[] = [];
  const registered: Record<string, unknown>[] = [];
  const materialFor = new Map<string, string>();
  /** Registers a medium as imported in the sidecar; its entry's id is what the material links to. */
  const register = (path: string, kind: "video" | "photo" | "music", durationUs: number, w: number, h: number) => {
    const id = randomUUID();
    registered.push({
      ai_group_type: "",
      create_time: -1,
      duration: durationUs,
      enter_from: 0,
      extra_info: path.split("/").pop(),
      file_Path: path,
      height: h,
      id,
      import_time: -1,
      import_time_ms: -1,
      item_source: 1,
      material_color_tag: "",
      md5: "",
      metetype: kind,
      roughcut_time_range: { duration: -1, start: -1 },
      sub_time_range: { duration: -1, start: -1 },
      type: 0,
      width: w,
    });
    return id;
  };

  const videoSegments = plan.shots.map((s, i) => {
    const path = `assets/${s.media}`;
    let materialId = materialFor.get(path);
    const info = layout.visuals[i]!;
    const photo = s.kind === "still";
    if (!materialId) {
      materialId = randomUUID();
      materialFor.set(path, materialId);
      const durationUs = photo ? PHOTO_DURATION_US : Math.round(s.sourceS * 1_000_000);
      videos.push({
        id: materialId,
        type: photo ? "photo" : "video",
        path,
        material_name: path.split("/").pop(),
        duration: durationUs,
        width: info.width ?? plan.width,
        height: info.height ?? plan.height,
        category_id: "",
        category_name: "local",
        check_flag: 7,
        crop: CROP,
        crop_ratio: "free",
        crop_scale: 1,
        has_audio: false,
        extra_type_option: 0,
        // JianYing 5.9 resolves a local medium by its registration.
        local_material_id: register(
          path,
          photo ? "photo" : "video",
          photo ? 5_000_000 : durationUs,
          info.width ?? 0,
          info.height ?? 0,
        ),
        source_platform: 0,
      });
    }
    const target = { start: us(s.start, fps), duration: us(s.frames, fps) };
    // A clip shorter than its shot plays slowed to fill it (CapCut: source = target × speed).
    const sourceUs = photo ? target.duration : Math.min(target.duration, Math.round(s.sourceS * 1_000_000));
    const speed = photo || sourceUs >= target.duration ? 1 : sourceUs / target.duration;
    const sp = { ...speedMaterial(), speed };
    speeds.push(sp);
    return segment(materialId, target, {
      source: { start: 0, duration: sourceUs },
      speed,
      visual: true,
      refs: [sp.id],
      renderIndex: 0,
    });
  });

  const audioMaterial = (path: string, durationUs: number) => {
    let id = materialFor.get(path);
    if (id) return id;
    id = randomUUID();
    materialFor.set(path, id);
    audios.push({
      id,
      type: "extract_music",
      name: path.split("/").pop(),
      path,
      duration: durationUs,
      music_id: "",
      category_id: "",
      category_name: "local",
      check_flag: 1,
      source_platform: 0,
      wave_points: [],
      local_material_id: register(path, "music", durationUs, 0, 0),
    });
    return id;
  };

  const audioSegment = (materialId: string, piece: { start: number; frames: number }, volume: number) => {
    const sp = speedMaterial();
    speeds.push(sp);
    return segment(
      materialId,
      { start: us(piece.start, fps), duration: us(piece.frames, fps) },
      { volume, visual: false, refs: [sp.id], renderIndex: 11000 },
    );
  };
  const voiceTracks: unknown[][] = Array.from({ length: plan.lanes }, () => []);
  plan.lines.forEach((l, i) => {
    const id = audioMaterial(`assets/${l.media}`, Math.round(layout.speech[i]!.playS * 1_000_000));
    voiceTracks[l.lane]!.push(audioSegment(id, l, l.volume));
  });
  const music = plan.music;
  const musicSegments = music
    ? music.pieces.map((piece) =>
        audioSegment(audioMaterial(`assets/${music.media}`, us(music.sourceFrames, fps)), piece, music.volume),
      )
    : [];

  const colour = meta.subtitleColour ?? "#FFFFFF";
  const textSegments = plan.cues.map((c) => {
    const id = randomUUID();
    texts.push({
      id,
      type: "subtitle",
      content: JSON.stringify({
        styles: [
          {
            range: [0, c.text.length],
            size: 8,
            bold: false,
            italic: false,
            underline: false,
            fill: { alpha: 1, content: { render_type: "solid", solid: { alpha: 1, color: hexRgb(colour) } } },
          },
        ],
        text: c.text,
      }),
      alignment: 1,
      font_size: 8,
      text_color: colour,
      typesetting: 0,
      letter_spacing: 0,
      line_spacing: 0.02,
      line_feed: 1,
      line_max_width: 0.82,
      check_flag: 7,
      fixed_width: -1,
      fixed_height: -1,
    });
    const sp = speedMaterial();
    speeds.push(sp);
    const seg = segment(
      id,
      { start: us(c.start, fps), duration: us(c.frames, fps) },
      {
        visual: true,
        refs: [sp.id],
        renderIndex: 15000,
      },
    );
    // Subtitles sit near the bottom of the frame (y: -1 is the bottom edge).
    seg.clip!.transform = { x: 0, y: -0.75 };
    return seg;
  });

  const durationUs = us(plan.totalFrames, fps);
  const id = randomUUID().toUpperCase();
  const content = {
    id,
    name: meta.title,
    duration: durationUs,
    fps,
    create_time: 0,
    update_time: 0,
    version: 360000,
    new_version: "110.0.0",
    canvas_config: { width: plan.width, height: plan.height, ratio: ratioLabel(plan.width, plan.height) },
    config: { maintrack_adsorb: true, subtitle_sync: true, video_mute: false },
    platform: { app_source: "lv", app_version: "5.9.0", os: "windows" },
    tracks: [
      track("video", "video", videoSegments),
      ...voiceTracks.map((segments, i) => track("audio", i === 0 ? "voice" : `voice ${i + 1}`, segments)),
      ...(musicSegments.length ? [track("audio", "music", musicSegments)] : []),
      ...(textSegments.length ? [track("text", "subtitles", textSegments)] : []),
    ],
    materials: {
      videos,
      audios,
      texts,
      speeds,
      stickers: [],
      video_effects: [],
      material_animations: [],
      audio_fades: [],
      audio_effects: [],
      transitions: [],
      masks: [],
      canvases: [],
      placeholder_infos: [],
      sound_channel_mappings: [],
      vocal_separations: [],
    },
    extra_info: { created_via: "inkreel" },
    free_render_index_mode_on: false,
    keyframes: {
      adjusts: [],
      audios: [],
      effects: [],
      filters: [],
      handwrites: [],
      stickers: [],
      texts: [],
      videos: [],
    },
    relationships: [],
  };
  const now = Date.now();
  const metaInfo = {
    draft_id: id,
    draft_name: meta.title,
    draft_fold_path: "",
    draft_root_path: "",
    draft_json_file: "",
    draft_cover: "",
    draft_materials: [{ type: 0, value: registered }, ...[1, 2, 3, 6, 7, 8].map((type) => ({ type, value: [] }))],
    tm_draft_create: now * 1000,
    tm_draft_modified: now * 1000,
    tm_duration: durationUs,
  };
  const json = JSON.stringify(content);
  const folder = meta.folder;
  return {
    entries: [
      { name: `${folder}/draft_content.json`, text: json },
      { name: `${folder}/draft_info.json`, text: json },
      { name: `${folder}/draft_meta_info.json`, text: JSON.stringify(metaInfo) },
      ...(plan.cues.length ? [{ name: `${folder}/subtitles.srt`, text: toSrt(layout.cues) }] : []),
      ...[...plan.files].map(([name, path]) => ({ name: `${folder}/assets/${name}`, path })),
    ],
    durationS: plan.totalFrames / fps,
  };
}

const xml = (s: string) => s.replace(/&/g, "&amp;").replace(/</g, "&lt;").replace(/>/g, "&gt;").replace(/"/g, "&quot;");

/**
 * A Shotcut / Kdenlive project: MLT XML (`project.mlt`) with the media beside it in `media/`, the
 * shots on one video playlist, speech on as many audio playlists as overlapping lines need, the
 * music on its own (looped to the end, at its level), all mixed by `mix` transitions; the
 * subtitles as `subtitles.srt` next to it. Debian's `melt project.mlt` renders it.
 */
export function mltProject(timeline: Timeline, layout: Layout, meta: { title: string; folder: string }): EditorProject {
  const plan = framePlan(timeline, layout);
  const { fps, width, height } = plan;
  const out: string[] = [];
  out.push('<?xml version="1.0" encoding="utf-8"?>');
  out.push(`<mlt LC_NUMERIC="C" version="7.0.0" title="${xml(meta.title)}" producer="main_bin">`);
  out.push(
    `  <profile description="${width}x${height} ${fps} fps" width="${width}" height="${height}" progressive="1" sample_aspect_num="1" sample_aspect_den="1" display_aspect_num="${width}" display_aspect_den="${height}" frame_rate_num="${fps}" frame_rate_den="1" colorspace="709"/>`,
  );
  const producers: string[] = [];
  const producer = (id: string, media: string, length: number, extra: string[] = []) => {
    out.push(`  <producer id="${id}" in="0" out="${length - 1}">`);
    out.push(`    <property name="length">${length}</property>`);
    out.push(`    <property name="resource">media/${xml(media)}</property>`);
    for (const e of extra) out.push(`    ${e}`);
    out.push("  </producer>");
    producers.push(id);
  };
  // Stills are one producer per shot (its own length); a clip shorter than its shot holds its last frame.
  plan.shots.forEach((s, i) => {
    producer(`shot${i}`, s.media, s.frames, [
      `<property name="shotcut:caption">${xml(s.id)}</property>`,
      '<property name="eof">continue</property>',
    ]);
  });
  plan.lines.forEach((l, i) => {
    producer(`line${i}`, l.media, l.frames, [
      '<property name="eof">pause</property>',
      ...(l.volume !== 1
        ? [
            `<filter><property name="mlt_service">volume</property><property name="gain">${l.volume}</property></filter>`,
          ]
        : []),
    ]);
  });
  if (plan.music)
    producer("music", plan.music.media, plan.music.sourceFrames, [
      `<filter><property name="mlt_service">volume</property><property name="gain">${plan.music.volume}</property></filter>`,
    ]);
  out.push('  <playlist id="main_bin">');
  out.push('    <property name="xml_retain">1</property>');
  for (const id of producers) out.push(`    <entry producer="${id}"/>`);
  out.push("  </playlist>");

  out.push('  <playlist id="video">');
  plan.shots.forEach((s, i) => {
    out.push(`    <entry producer="shot${i}" in="0" out="${s.frames - 1}"/>`);
  });
  out.push("  </playlist>");

  const lanes: Array<{ end: number; items: string[] }> = Array.from({ length: plan.lanes }, () => ({
    end: 0,
    items: [],
  }));
  plan.lines.forEach((l, i) => {
    const lane = lanes[l.lane]!;
    if (l.start > lane.end) lane.items.push(`    <blank length="${l.start - lane.end}"/>`);
    lane.items.push(`    <entry producer="line${i}" in="0" out="${l.frames - 1}"/>`);
    lane.end = l.start + l.frames;
  });
  lanes.forEach((lane, i) => {
    out.push(`  <playlist id="voice${i}">`, ...lane.items, "  </playlist>");
  });
  if (plan.music) {
    out.push('  <playlist id="musictrack">');
    for (const piece of plan.music.pieces) out.push(`    <entry producer="music" in="0" out="${piece.frames - 1}"/>`);
    out.push("  </playlist>");
  }
  const audioTracks = [...lanes.map((_, i) => `voice${i}`), ...(plan.music ? ["musictrack"] : [])];
  out.push(`  <tractor id="main" title="${xml(meta.title)}" in="0" out="${plan.totalFrames - 1}">`);
  out.push("    <multitrack>");
  out.push('      <track producer="video"/>');
  for (const t of audioTracks) out.push(`      <track producer="${t}" hide="video"/>`);
  out.push("    </multitrack>");
  audioTracks.forEach((_, i) => {
    out.push(
      `    <transition><property name="mlt_service">mix</property><property name="a_track">0</property><property name="b_track">${i + 1}</property><property name="always_active">1</property><property name="sum">1</property></transition>`,
    );
  });
  out.push("  </tractor>");
  out.push("</mlt>");
  const folder = meta.folder;
  return {
    entries: [
      { name: `${folder}/project.mlt`, text: `${out.join("\n")}\n` },
      ...(plan.cues.length ? [{ name: `${folder}/subtitles.srt`, text: toSrt(layout.cues) }] : []),
      ...[...plan.files].map(([name, path]) => ({ name: `${folder}/media/${name}`, path })),
    ],
    durationS: plan.totalFrames / fps,
  };
}
