import { t } from "elysia";
import { Email, Password, Username, UserSettings } from "../../schemas/users.ts";

export const UserIdParams = t.Object({ id: t.String({ format: "uuid" }) });

export const UserPatchBody = t.Object(
  {
    username: t.Optional(Username),
    email: t.Optional(Email),
    password: t.Optional(Password),
    avatar_url: t.Optional(t.Nullable(t.String({ format: "uri", maxLength: 2048 }))),
    role: t.Optional(t.Union([t.Literal("USER"), t.Literal("ADMIN")], { description: "ADMIN callers only" })),
    tier: t.Optional(
      t.Union([t.Literal("free"), t.Literal("vip"), t.Literal("unlimited")], { description: "ADMIN callers only" }),
    ),
    settings: t.Optional(UserSettings),
  },
  { additionalProperties: false, minProperties: 1, examples: [{ email: "new@example.com" }] },
);
