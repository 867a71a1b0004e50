import { describe, expect, test } from "bun:test";
import { ConfigError, loadConfig } from "../src/config.ts";

describe("config", () => {
  test("defaults need no environment at all", () => {
    const c = loadConfig({});
    expect(c.databaseUrl).toBeNull();
    expect(c.port).toBe(3000);
    expect(c.jwt).toMatchObject({ secret: null, issuer: "inkreel", accessTtlS: 900 });
    expect(c.supabase).toBeNull();
    expect(c.limits).toEqual({ bodyBytes: 1_048_576, authPerMinute: 10, userPerMinute: 60 });
    expect(c.cors.origins).toEqual([]);
    expect(c.mediaInspectCacheEntries).toBe(512);
  });

  test("each bad value names its variable", () => {
    const cases: Array<[Record<string, string>, string]> = [
      [{ PORT: "abc" }, "PORT"],
      [{ PORT: "70000" }, "PORT"],
      [{ DATABASE_URL: "mysql://x" }, "DATABASE_URL"],
      [{ DATABASE_URL: "not a url" }, "DATABASE_URL"],
      [{ JWT_SECRET: "short" }, "JWT_SECRET"],
      [{ JWT_ACCESS_TTL_S: "5" }, "JWT_ACCESS_TTL_S"],
      [{ SUPABASE_URL: "ftp://x" }, "SUPABASE_URL"],
      [{ SUPABASE_URL: "http://localhost:54321" }, "SUPABASE_ANON_KEY"],
      [{ CORS_ORIGINS: "http://ok.example, nope" }, "CORS_ORIGINS"],
      [{ COOKIE_SECURE: "maybe" }, "COOKIE_SECURE"],
      [{ LOG_LEVEL: "loud" }, "LOG_LEVEL"],
      [{ BODY_LIMIT_BYTES: "-1" }, "BODY_LIMIT_BYTES"],
      [{ RATE_LIMIT_AUTH_PER_MIN: "0" }, "RATE_LIMIT_AUTH_PER_MIN"],
      [{ STORAGE_DRIVER: "s3" }, "STORAGE_DRIVER"],
      [{ TEXT_PROVIDER: "gpt" }, "TEXT_PROVIDER"],
      [{ TEXT_PROVIDER: "openai" }, "OPENAI_API_KEY"],
      [{ VIDEO_PROVIDER: "fal" }, "FAL_KEY"],
      [{ MUSIC_PROVIDER: "elevenlabs" }, "ELEVENLABS_API_KEY"],
      [{ SPEECH_PROVIDER: "elevenlabs" }, "ELEVENLABS_API_KEY"],
      [{ SPEECH_PROVIDER: "azure" }, "SPEECH_PROVIDER"],
      [{ PROVIDER_SECRET_KEY: "short" }, "PROVIDER_SECRET_KEY"],
      [{ FAL_BASE_URL: "not a url" }, "FAL_BASE_URL"],
      [{ OPENAI_API_KEY: "k", OPENAI_BASE_URL: "ftp://x" }, "OPENAI_BASE_URL"],
      [{ OPENAI_TEXT_API: "assistants" }, "OPENAI_TEXT_API"],
      [{ VIDEO_PROVIDER: "sora" }, "VIDEO_PROVIDER"],
      [{ STORAGE_DRIVER: "supabase" }, "STORAGE_DRIVER"],
      [
        { STORAGE_DRIVER: "supabase", SUPABASE_URL: "http://localhost:54321", SUPABASE_ANON_KEY: "anon" },
        "SUPABASE_SERVICE_ROLE_KEY",
      ],
      [{ SUPABASE_STORAGE_BUCKET: "Bad Bucket!" }, "SUPABASE_STORAGE_BUCKET"],
      [{ STORAGE_SIGNING_SECRET: "short" }, "STORAGE_SIGNING_SECRET"],
      [{ QUEUE_MODE: "sometimes" }, "QUEUE_MODE"],
      [{ MEDIA_INSPECT_CACHE_ENTRIES: "0" }, "MEDIA_INSPECT_CACHE_ENTRIES"],
      [{ MEDIA_INSPECT_CACHE_ENTRIES: "lots" }, "MEDIA_INSPECT_CACHE_ENTRIES"],
    ];
    for (const [env, variable] of cases) {
      let error: unknown;
      try {
        loadConfig(env);
      } catch (e) {
        error = e;
      }
      expect(error).toBeInstanceOf(ConfigError);
      expect((error as ConfigError).variable).toBe(variable);
      expect((error as ConfigError).message).toContain(variable);
    }
  });

  test("Supabase mode sets the issuer to the project's auth URL", () => {
    const c = loadConfig({ SUPABASE_URL: "https://abc.supabase.co/", SUPABASE_ANON_KEY: "anon" });
    expect(c.supabase?.url).toBe("https://abc.supabase.co");
    expect(c.jwt.issuer).toBe("https://abc.supabase.co/auth/v1");
  });
});
