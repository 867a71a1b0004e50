import { t } from "elysia";

// The user as the API shows them and the fields of an account: the auth module answers with
// users and registers accounts, the users module reads and edits them.

const iso = t.String({ format: "date-time" });

export const UserSchema = t.Object(
  {
    id: t.String({ format: "uuid" }),
    username: t.String(),
    email: t.String(),
    role: t.Union([t.Literal("USER"), t.Literal("ADMIN")]),
    tier: t.Union([t.Literal("free"), t.Literal("vip"), t.Literal("unlimited")], {
      description: "Which daily and hourly generation limits apply (set by an ADMIN)",
    }),
    avatar_url: t.Nullable(t.String()),
    current_space_id: t.Nullable(t.String({ format: "uuid" })),
    settings: t.Object({
      language: t.Nullable(t.Union([t.Literal("zh"), t.Literal("en")])),
      theme: t.Union([t.Literal("light"), t.Literal("dark"), t.Literal("system")]),
    }),
    created_at: iso,
  },
  {
    examples: [
      {
        id: "7d9f3c1e-2b4a-4c8e-9f10-1a2b3c4d5e6f",
        username: "lin_xiao",
        email: "lin@example.com",
        role: "USER",
        tier: "free",
        avatar_url: null,
        current_space_id: "0b1c2d3e-4f50-4617-8293-a4b5c6d7e8f9",
        settings: { language: "zh", theme: "system" },
        created_at: "2026-11-21T08:00:00.000Z",
      },
    ],
  },
);

export const Username = t.String({
  minLength: 3,
  maxLength: 50,
  description: "letters, digits, _ . -",
  examples: ["lin_xiao"],
});
export const Email = t.String({ format: "email", maxLength: 254, examples: ["lin@example.com"] });
export const Password = t.String({ minLength: 8, maxLength: 128, examples: ["correct horse battery"] });

/** What a user may change of their own settings (seed 003 §1.1.3). */
export const UserSettings = t.Object(
  {
    language: t.Optional(t.Nullable(t.Union([t.Literal("zh"), t.Literal("en")]))),
    theme: t.Optional(t.Union([t.Literal("light"), t.Literal("dark"), t.Literal("system")])),
  },
  { additionalProperties: false, minProperties: 1 },
);
