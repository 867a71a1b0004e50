import type { JWK } from "jose";
import type { ColumnType, Generated, Insertable, Selectable, Updateable } from "kysely";
import type { ComfyGraph, ComfyWorkflowKind } from "../core/comfy-workflow.ts";
import type { ExportFailure, ExportFile, ExportOptions, ExportStats } from "../core/export-record.ts";
import type {
  GenerationError,
  GenerationKind,
  GenerationParams,
  GenerationResult,
  GenerationStatus,
  WorkStatus,
  WorkType,
} from "../core/generation.ts";
import type { GenerationEventData, GenerationEventName } from "../core/generation-event.ts";
import type { TaskError, TaskKind, TaskParams, TaskResult, TaskStatus, TaskTarget } from "../core/generation-task.ts";
import type { LibraryData, LibraryKind } from "../core/library-item.ts";
import type { ProjectEventData, ProjectEventName } from "../core/project-event.ts";
import type { ProjectOptions } from "../core/project-options.ts";
import type { ChainLink, ProviderKind, ProviderModels, ProviderSettings } from "../core/provider-record.ts";
import type { StageState, StepFailure } from "../core/stages.ts";
import type {
  ArtStyle,
  AssetMeta,
  CharacterMaterial,
  MusicMaterial,
  SceneMaterial,
  ShotMaterial,
  StorylineMaterial,
} from "../story/material.ts";

type Timestamp = ColumnType<Date, Date | string | undefined, Date | string>;
type NullableTimestamp = ColumnType<Date | null, Date | string | null | undefined, Date | string | null>;

export type UserRole = "USER" | "ADMIN";
export type SpaceRole = "admin" | "editor" | "viewer";
export type SpaceType = "personal" | "team";

export type UserTier = "free" | "vip" | "unlimited";

export interface UsersTable {
  id: Generated<string>;
  username: string;
  email: string;
  password_hash: string | null;
  role: ColumnType<UserRole, UserRole | undefined, UserRole>;
  auth_provider: ColumnType<"local" | "supabase", "local" | "supabase" | undefined, "local" | "supabase">;
  avatar_url: string | null;
  current_space_id: string | null;
  /** The user's interface language (null: not chosen) and theme. */
  language: ColumnType<"zh" | "en" | null, "zh" | "en" | null | undefined, "zh" | "en" | null>;
  theme: ColumnType<"light" | "dark" | "system", "light" | "dark" | "system" | undefined, "light" | "dark" | "system">;
  /** Which daily and hourly limits apply (config.limits); an ADMIN sets it. */
  tier: ColumnType<UserTier, UserTier | undefined, UserTier>;
  created_at: Timestamp;
  updated_at: Timestamp;
}

export interface SessionsTable {
  id: Generated<string>;
  user_id: string;
  created_at: Timestamp;
  expires_at: Date;
  revoked_at: NullableTimestamp;
  revoked_reason: string | null;
}

export interface RefreshTokensTable {
  id: Generated<string>;
  session_id: string;
  token_hash: Buffer;
  created_at: Timestamp;
  expires_at: Date;
  used_at: NullableTimestamp;
}

export interface SigningKeysTable {
  kid: string;
  alg: string;
  private_jwk: ColumnType<JWK, string, string>;
  public_jwk: ColumnType<JWK, string, string>;
  created_at: Timestamp;
}

export interface SpacesTable {
  id: Generated<string>;
  type: SpaceType;
  name: string;
  logo_url: string | null;
  owner_id: string | null;
  created_at: Timestamp;
  updated_at: Timestamp;
}

export interface SpaceMembersTable {
  space_id: string;
  user_id: string;
  role: SpaceRole;
  joined_at: Timestamp;
  last_accessed_at: NullableTimestamp;
}

export interface SpaceInvitesTable {
  id: Generated<string>;
  space_id: string;
  code: string;
  role: SpaceRole;
  max_uses: number;
  uses: ColumnType<number, number | undefined, number>;
  expires_at: Date;
  revoked_at: NullableTimestamp;
  created_by: string | null;
  created_at: Timestamp;
}

export interface UploadSlotsTable {
  id: Generated<string>;
  user_id: string;
  expires_at: Date;
}

export interface RateLimitsTable {
  key: string;
  window_start: Date;
  count: number;
}

export type JobState = "waiting" | "ready" | "running";
export type FinishedJobState = "completed" | "failed" | "cancelled";

interface JobColumns {
  id: string;
  queue: string;
  kind: string;
  payload: unknown;
  priority: number;
  attempt: ColumnType<number, number | undefined, number>;
  max_attempts: number;
  timeout_ms: number;
  backoff_ms: number;
  unique_key: string | null;
  concurrency_key: string | null;
  concurrency_limit: number | null;
  on_parent_failure: "fail" | "proceed";
  progress: ColumnType<number, number | undefined, number>;
  progress_message: ColumnType<string | null, string | null | undefined, string | null>;
  last_error: ColumnType<unknown, string | null | undefined, string | null>;
  created_at: Timestamp;
  started_at: ColumnType<Date | null, Date | null | undefined, Date | null>;
}

export interface JobsTable extends JobColumns {
  state: JobState;
  run_at: Timestamp;
  lease_token: ColumnType<string | null, string | null | undefined, string | null>;
  locked_by: ColumnType<string | null, string | null | undefined, string | null>;
  locked_until: ColumnType<Date | null, Date | null | undefined, Date | null>;
  cancel_requested_at: ColumnType<Date | null, Date | null | undefined, Date | null>;
}

export interface JobHistoryTable extends JobColumns {
  state: FinishedJobState;
  result: unknown;
  finished_at: Timestamp;
}

export interface JobParentsTable {
  parent_id: string;
  child_id: string;
}

export interface JobSchedulesTable {
  name: string;
  cron: string;
  queue: string;
  kind: string;
  payload: unknown;
  next_run_at: Date;
  last_run_at: Date | null;
}

export type ProjectStatus = "draft" | "generating" | "editing" | "completed" | "failed";
export type RunStatus = "queued" | "running" | "paused" | "completed" | "failed" | "cancelled";
// A JSON column reads as its shape (defined in core/ or story/, layers this one may import) and is written as JSON text.
type Json<T> = ColumnType<T, string, string>;
type NullableJson<T> = ColumnType<T | null, string | null | undefined, string | null>;

export interface ProjectsTable {
  id: Generated<string>;
  space_id: string;
  owner_id: string | null;
  name: string;
  input_type: "novel" | "script" | "storyboard";
  input_text: string;
  /** False for a project created empty, until POST /projects/:id/input gives it a story. */
  has_input: ColumnType<boolean, boolean | undefined, boolean>;
  description: ColumnType<string, string | undefined, string>;
  tags: ColumnType<string[], string[] | undefined, string[]>;
  options: ColumnType<ProjectOptions, string | undefined, string>;
  status: ColumnType<ProjectStatus, ProjectStatus | undefined, ProjectStatus>;
  stage: string | null;
  progress: ColumnType<number, number | undefined, number>;
  current_step: string | null;
  active_package_id: string | null;
  created_at: Timestamp;
  updated_at: Timestamp;
}

export interface PackagesTable {
  id: Generated<string>;
  project_id: string;
  version: number;
  name: string;
  parent_id: string | null;
  storyline: NullableJson<StorylineMaterial>;
  art_style: NullableJson<ArtStyle>;
  characters: ColumnType<CharacterMaterial[], string | undefined, string>;
  scenes: ColumnType<SceneMaterial[], string | undefined, string>;
  music: NullableJson<MusicMaterial>;
  note: ColumnType<string, string | undefined, string>;
  metadata: ColumnType<PackageMetadata, string | undefined, string>;
  created_at: Timestamp;
  updated_at: Timestamp;
  /** The episode whose lineage this package is (null: the project's own). */
  episode_id: ColumnType<string | null, string | null | undefined, string | null>;
}

/** A version's free metadata (save-new): flat keys with plain values. */
export type PackageMetadata = Record<string, string | number | boolean | null>;

/** What an entry of the conversation log did, as data (`project_conversation.action`). */
export interface ConversationAction {
  action: string;
  element?: string;
  id?: string;
  field?: string;
}

export interface ProjectConversationTable {
  id: Generated<number>;
  project_id: string;
  package_id: string | null;
  user_id: string | null;
  role: "user" | "system";
  content: string;
  action: ColumnType<ConversationAction, string | undefined, string>;
  created_at: Timestamp;
}

export interface GenerationTasksTable {
  id: Generated<string>;
  project_id: string;
  package_id: string | null;
  user_id: string | null;
  parent_id: string | null;
  job_id: string | null;
  kind: TaskKind;
  target: Json<TaskTarget>;
  params: ColumnType<TaskParams, string | undefined, string>;
  status: ColumnType<TaskStatus, TaskStatus | undefined, TaskStatus>;
  progress: ColumnType<number, number | undefined, number>;
  result: NullableJson<TaskResult>;
  error: NullableJson<TaskError>;
  /** numeric: pg hands it back as text. */
  cost_estimate_usd: ColumnType<string | null, number | null | undefined, number | null>;
  created_at: Timestamp;
  started_at: NullableTimestamp;
  finished_at: NullableTimestamp;
}

export interface PackageShotsTable {
  package_id: string;
  shot_id: string;
  position: number;
  data: Json<ShotMaterial>;
}

export interface RunsTable {
  id: Generated<string>;
  project_id: string;
  package_id: string | null;
  created_by: string | null;
  mode: "auto" | "step";
  from_stage: string | null;
  to_stage: string | null;
  status: ColumnType<RunStatus, RunStatus | undefined, RunStatus>;
  progress: ColumnType<number, number | undefined, number>;
  current_step: string | null;
  stages: Json<StageState[]>;
  /** The failure that ended (or paused) the run, with the stage it happened in. */
  error: NullableJson<StepFailure & { stage?: string }>;
  export_id: string | null;
  created_at: Timestamp;
  finished_at: NullableTimestamp;
  /** An episode's run (migrations/20261203140000_episode_runs.sql): it writes the episode's package, never the project's. */
  episode_id: ColumnType<string | null, string | null | undefined, string | null>;
  batch_id: ColumnType<string | null, string | null | undefined, string | null>;
  /** Waiting for a place among its batch's `parallelism` runs in flight: no job is queued yet. */
  held: ColumnType<boolean, boolean | undefined, boolean>;
  /** Queue priority of the run's jobs (lower first): its payer's tier. */
  priority: ColumnType<number, number | undefined, number>;
}

export interface AssetsTable {
  id: Generated<string>;
  space_id: string;
  project_id: string | null;
  package_id: string | null;
  owner_id: string | null;
  kind: string;
  mime_type: string;
  size: number;
  sha256: string;
  input_digest: string;
  storage_key: string;
  meta: ColumnType<AssetMeta, string | undefined, string>;
  download_count: Generated<number>;
  trashed_at: NullableTimestamp;
  created_at: Timestamp;
}

export interface ConfigTemplatesTable {
  id: Generated<string>;
  space_id: string;
  name: string;
  description: ColumnType<string, string | undefined, string>;
  options: Json<ProjectOptions>;
  created_by: string | null;
  created_at: Timestamp;
}

export interface LibraryItemsTable {
  id: Generated<string>;
  space_id: string;
  kind: LibraryKind;
  name: string;
  description: ColumnType<string, string | undefined, string>;
  tags: ColumnType<string[], string[] | undefined, string[]>;
  data: Json<LibraryData>;
  /** Kept by a trigger on library_uses: the projects that cast the item. */
  usage_count: Generated<number>;
  created_by: string | null;
  created_at: Timestamp;
  updated_at: Timestamp;
}

export interface LibraryUsesTable {
  item_id: string;
  project_id: string;
  created_at: Timestamp;
}

/** What an attachment says of itself besides its label: for `character`, whose picture it is. */
export interface AttachmentMetadata {
  character?: string;
  note?: string;
}

export interface ProjectAttachmentsTable {
  id: Generated<string>;
  project_id: string;
  asset_id: string;
  label: string;
  metadata: ColumnType<AttachmentMetadata, string | undefined, string>;
  created_by: string | null;
  created_at: Timestamp;
}

export interface AssetDeleteTokensTable {
  token: string;
  asset_id: string;
  user_id: string;
  expires_at: Date;
}

export interface ExportsTable {
  id: Generated<string>;
  project_id: string;
  package_id: string | null;
  run_id: string | null;
  created_by: string | null;
  options: Json<ExportOptions>;
  status: ColumnType<"queued" | "running" | "completed" | "failed" | "cancelled", string | undefined, string>;
  progress: ColumnType<number, number | undefined, number>;
  error: NullableJson<ExportFailure>;
  files: ColumnType<ExportFile[], string | undefined, string>;
  stats: NullableJson<ExportStats>;
  created_at: Timestamp;
  completed_at: NullableTimestamp;
}

export interface ProjectEventsTable {
  id: Generated<number>;
  project_id: string;
  run_id: string | null;
  event: ProjectEventName;
  data: Json<ProjectEventData>;
  created_at: Timestamp;
}

/** A user's own event log: their direct generations' events (a project's are in project_events). */
export interface UserEventsTable {
  id: Generated<number>;
  user_id: string;
  event: GenerationEventName;
  data: Json<GenerationEventData>;
  created_at: Timestamp;
}

export interface IdempotencyKeysTable {
  user_id: string;
  key: string;
  route: string;
  body_hash: string;
  /** Null while the first request with this key is still doing its work. */
  status: number | null;
  response: ColumnType<unknown, string | null, string>;
  created_at: Timestamp;
}

export interface ProvidersTable {
  id: string;
  name: string;
  kind: ProviderKind;
  builtin: ColumnType<boolean, boolean | undefined, boolean>;
  enabled: ColumnType<boolean, boolean | undefined, boolean>;
  base_url: string | null;
  api_key_enc: string | null;
  models: ColumnType<ProviderModels, string | undefined, string>;
  config: ColumnType<ProviderSettings, string | undefined, string>;
  created_by: string | null;
  created_at: Timestamp;
  updated_at: Timestamp;
}

export interface ProviderChainsTable {
  capability: string;
  chain: ColumnType<ChainLink[], string, string>;
  updated_by: string | null;
  updated_at: Timestamp;
}

export interface ProviderRequestsTable {
  key: string;
  endpoint_id: string;
  request_id: string;
  created_at: Timestamp;
}

export interface FalWebhooksTable {
  signature: string;
  request_id: string;
  status: string | null;
  received_at: Timestamp;
}

export interface ProviderUsageTable {
  id: Generated<string>;
  created_at: Timestamp;
  user_id: string | null;
  space_id: string | null;
  project_id: string | null;
  run_id: string | null;
  stage: string | null;
  shot_id: string | null;
  capability: string;
  provider: string;
  model: string;
  outcome: "ok" | "failed";
  failed_over: ColumnType<boolean, boolean | undefined, boolean>;
  error: string | null;
  request_id: string | null;
  input_tokens: ColumnType<number, number | undefined, number>;
  output_tokens: ColumnType<number, number | undefined, number>;
  images: ColumnType<number, number | undefined, number>;
  audio_seconds: ColumnType<string, number | undefined, number>;
  video_seconds: ColumnType<string, number | undefined, number>;
  cost_usd: ColumnType<string, number | undefined, number>;
  duration_ms: ColumnType<number, number | undefined, number>;
}

export interface ProviderCallsTable {
  provider: string;
  at: Timestamp;
}

export interface VoicesTable {
  provider: string;
  voice_id: string;
  name: string;
  gender: string | null;
  age: string | null;
  accent: string | null;
  language: string | null;
  description: string | null;
  preview_url: string | null;
  labels: ColumnType<Record<string, string>, string | undefined, string>;
  synced_at: Timestamp;
}

export interface Database {
  providers: ProvidersTable;
  provider_chains: ProviderChainsTable;
  provider_requests: ProviderRequestsTable;
  fal_webhooks: FalWebhooksTable;
  provider_usage: ProviderUsageTable;
  provider_calls: ProviderCallsTable;
  voices: VoicesTable;
  project_conversation: ProjectConversationTable;
  generation_tasks: GenerationTasksTable;
  idempotency_keys: IdempotencyKeysTable;
  projects: ProjectsTable;
  packages: PackagesTable;
  package_shots: PackageShotsTable;
  runs: RunsTable;
  assets: AssetsTable;
  exports: ExportsTable;
  project_events: ProjectEventsTable;
  user_events: UserEventsTable;
  jobs: JobsTable;
  job_history: JobHistoryTable;
  job_parents: JobParentsTable;
  job_schedules: JobSchedulesTable;
  users: UsersTable;
  sessions: SessionsTable;
  refresh_tokens: RefreshTokensTable;
  signing_keys: SigningKeysTable;
  spaces: SpacesTable;
  space_members: SpaceMembersTable;
  space_invites: SpaceInvitesTable;
  rate_limits: RateLimitsTable;
  upload_slots: UploadSlotsTable;
  asset_delete_tokens: AssetDeleteTokensTable;
  config_templates: ConfigTemplatesTable;
  library_items: LibraryItemsTable;
  library_uses: LibraryUsesTable;
  project_attachments: ProjectAttachmentsTable;
  episodes: EpisodesTable;
  series_batches: SeriesBatchesTable;
  generations: GenerationsTable;
  works: WorksTable;
  work_likes: WorkReactionsTable;
  work_favorites: WorkReactionsTable;
  work_plays: WorkPlaysTable;
  usage_counters: UsageCountersTable;
  compute_accounts: ComputeAccountsTable;
  compute_charges: ComputeChargesTable;
  compute_ledger: ComputeLedgerTable;
  redeem_codes: RedeemCodesTable;
  redeem_failures: RedeemFailuresTable;
  payment_intents: PaymentIntentsTable;
  square_counts: SquareCountsTable;
}

/** Published works in all ('all') and per type, kept by a trigger on works. */
export interface SquareCountsTable {
  type: "all" | "image" | "video";
  /** bigint: pg hands it back as text. */
  n: ColumnType<string, never, never>;
  /** Moves with every change of n (bigint, as text). */
  version: ColumnType<string, never, never>;
}

/** A direct generation (migrations/20261204090000_generations_works_square.sql). */
export interface GenerationsTable {
  id: Generated<string>;
  user_id: string;
  kind: GenerationKind;
  model: string | null;
  provider: string;
  provider_model: string;
  params: Json<GenerationParams>;
  status: ColumnType<GenerationStatus, GenerationStatus | undefined, GenerationStatus>;
  progress: ColumnType<number, number | undefined, number>;
  estimated_time_s: number;
  result: NullableJson<GenerationResult>;
  error: NullableJson<GenerationError>;
  job_id: string | null;
  created_at: Timestamp;
  started_at: NullableTimestamp;
  finished_at: NullableTimestamp;
}

export interface WorksTable {
  id: Generated<string>;
  user_id: string;
  generation_id: string | null;
  position: ColumnType<number, number | undefined, number>;
  export_id: string | null;
  type: WorkType;
  title: string;
  status: ColumnType<WorkStatus, WorkStatus | undefined, WorkStatus>;
  file_key: string | null;
  mime_type: string | null;
  /** bigint: pg hands it back as text. */
  size: ColumnType<string | null, number | null | undefined, number | null>;
  width: number | null;
  height: number | null;
  duration_s: number | null;
  thumbnail_key: string | null;
  description: ColumnType<string, string | undefined, string>;
  tags: ColumnType<string[], string[] | undefined, string[]>;
  published_at: ColumnType<Date | null, Date | null | undefined, Date | null>;
  likes_count: Generated<number>;
  favorites_count: Generated<number>;
  plays_count: Generated<number>;
  /** Generated from the counts and published_at (inkreel_hot_score). */
  hot: ColumnType<number | null, never, never>;
  created_at: Timestamp;
}

export interface WorkReactionsTable {
  work_id: string;
  user_id: string;
  created_at: Timestamp;
}

export interface WorkPlaysTable {
  work_id: string;
  viewer: string;
  counted_at: Date;
}

/** Points as Postgres numeric(20,4): read as a decimal string, written as a number or string. */
type Points = ColumnType<string, number | string | undefined, number | string>;

/** A team space's or a user's compute power (migrations/20261205090000_compute_power.sql). */
export interface ComputeAccountsTable {
  id: Generated<string>;
  user_id: string | null;
  space_id: string | null;
  balance: Points;
  reserved: Points;
  used: Points;
  gifted: Points;
  recharged: Points;
  created_at: Timestamp;
  updated_at: Timestamp;
}

export type ComputeChargeKind = "run" | "export" | "regenerate" | "batch_video" | "generate";

/** One line of an estimate: what a stage will ask of which model, and its price in points. */
export interface EstimateLine {
  stage: string;
  capability: string;
  provider: string;
  model: string;
  units: {
    images?: number;
    audio_seconds?: number;
    video_seconds?: number;
    input_tokens?: number;
    output_tokens?: number;
  };
  usd: number;
  points: number;
}

export interface ComputeChargesTable {
  id: Generated<string>;
  account_id: string;
  user_id: string | null;
  kind: ComputeChargeKind;
  subject_id: string;
  estimate_points: Points;
  estimate_usd: Points;
  held: Points;
  settled: Points;
  breakdown: ColumnType<EstimateLine[], string | undefined, string>;
  status: ColumnType<"open" | "closed", "open" | "closed" | undefined, "open" | "closed">;
  created_at: Timestamp;
  expires_at: Date;
  closed_at: Date | null;
}

export type LedgerEntryKind = "grant" | "recharge" | "reserve" | "settle" | "release" | "refund" | "expire";

export interface ComputeLedgerTable {
  id: Generated<string>;
  account_id: string;
  kind: LedgerEntryKind;
  ref: string;
  points: Points;
  reserved_change: Points;
  balance_after: Points;
  reserved_after: Points;
  charge_id: string | null;
  usage_id: string | null;
  usd: string | number | null;
  reason: string | null;
  actor_id: string | null;
  created_at: Timestamp;
}

/** A single-use redeem code, stored as its SHA-256 (migrations/20261205100000_recharge.sql). */
export interface RedeemCodesTable {
  id: Generated<string>;
  code_hash: string;
  batch_id: string;
  points: number;
  note: string | null;
  created_by: string | null;
  created_at: Timestamp;
  expires_at: Date;
  redeemed_by: string | null;
  redeemed_at: NullableTimestamp;
}

/** One failed redemption of a user, counted for the brute-force limit. */
export interface RedeemFailuresTable {
  id: Generated<string>;
  user_id: string;
  at: Timestamp;
}

export type PaymentIntentStatus = "pending" | "succeeded" | "failed";

/** A recharge a user started, completed by the payment webhook. */
export interface PaymentIntentsTable {
  id: Generated<string>;
  user_id: string;
  points: number;
  /** numeric(14,2): read as a decimal string. */
  amount: ColumnType<string, number | string, number | string>;
  currency: ColumnType<"USD", "USD" | undefined, "USD">;
  provider: string | null;
  status: ColumnType<PaymentIntentStatus, PaymentIntentStatus | undefined, PaymentIntentStatus>;
  provider_payment_id: string | null;
  created_at: Timestamp;
  completed_at: NullableTimestamp;
}

export type UsageMetric =
  | "images_per_day"
  | "videos_per_day"
  | "api_calls_per_hour"
  | "batches_per_hour"
  | "retries_per_hour"
  | "task_lists_per_hour"
  | "task_polls_per_hour";

export interface UsageCountersTable {
  user_id: string;
  metric: UsageMetric;
  window_start: Date;
  count: number;
}

/** One episode of a season's plan (migrations/20261203130000_episodes.sql). */
export interface EpisodesTable {
  id: Generated<string>;
  project_id: string;
  package_id: string;
  n: number;
  title: string;
  first_shot: string;
  last_shot: string;
  chapters: ColumnType<number[], string, string>;
  shot_count: number;
  estimated_s: number;
  created_at: Timestamp;
  current_package_id: ColumnType<string | null, string | null | undefined, string | null>;
  cast_names: ColumnType<string[], string[] | undefined, string[]>;
}

/** A batch of episode runs (migrations/20261203140000_episode_runs.sql). */
export interface SeriesBatchesTable {
  id: Generated<string>;
  project_id: string;
  created_by: string | null;
  parallelism: number;
  recap: ColumnType<boolean, boolean | undefined, boolean>;
  next_card: ColumnType<boolean, boolean | undefined, boolean>;
  created_at: Timestamp;
}

export type SubmitIntentState = "pending" | "submitted" | "downloaded" | "dead" | "abandoned";

/** A paid submission's write-ahead record (migrations/20261201220000_submit_intents.sql). */
export interface SubmitIntentsTable {
  nonce: string;
  key: string;
  provider: string;
  endpoint_id: string;
  job_id: string | null;
  attempt: number | null;
  request_id: string | null;
  state: ColumnType<SubmitIntentState, SubmitIntentState | undefined, SubmitIntentState>;
  adopted_by: "answer" | "webhook" | null;
  created_at: Timestamp;
  submitted_at: NullableTimestamp;
  closed_at: NullableTimestamp;
}

// Merged into Database above (interface merging), so that block stays as it is.
export interface Database {
  submit_intents: SubmitIntentsTable;
}

/** An ADMIN's ComfyUI workflow (migrations/20261203120000_comfyui.sql); the graph is ComfyUI's API format. */
export interface ComfyWorkflowsTable {
  name: string;
  kind: ComfyWorkflowKind;
  description: string | null;
  graph: ColumnType<ComfyGraph, string, string>;
  updated_by: string | null;
  created_at: Timestamp;
  updated_at: Timestamp;
}

export interface Database {
  comfyui_workflows: ComfyWorkflowsTable;
}

export type User = Selectable<UsersTable>;
export type NewUser = Insertable<UsersTable>;
export type UserUpdate = Updateable<UsersTable>;
export type Space = Selectable<SpacesTable>;
export type SpaceMember = Selectable<SpaceMembersTable>;
export type SpaceInvite = Selectable<SpaceInvitesTable>;

/** Overrides of the environment's configuration, by variable name (migrations/20261206100000_runtime_config.sql). */
export type ConfigOverrides = Record<string, string>;
/** The names a change touched, with their override before or after it (null: the environment's value). */
export type ConfigChange = Record<string, string | null>;

export interface RuntimeConfigTable {
  id: ColumnType<boolean, boolean | undefined, never>;
  version: ColumnType<number, never, number>;
  overrides: ColumnType<ConfigOverrides, string, string>;
  updated_at: Timestamp;
  updated_by: string | null;
}

export interface RuntimeConfigHistoryTable {
  id: Generated<number>;
  version: number;
  actor_id: string | null;
  changed_at: Timestamp;
  before: ColumnType<ConfigChange, string, string>;
  after: ColumnType<ConfigChange, string, string>;
}

export interface Database {
  runtime_config: RuntimeConfigTable;
  runtime_config_history: RuntimeConfigHistoryTable;
}
