import { t } from "elysia";

const iso = t.String({ format: "date-time" });

export const UserSchema = t.Object(
  {
    id: t.String({ format: "uuid" }),
    username: t.String(),
    email: t.String(),
    role: t.Union([t.Literal("USER"), t.Literal("ADMIN")]),
    avatar_url: t.Nullable(t.String()),
    current_space_id: t.Nullable(t.String({ format: "uuid" })),
    created_at: iso,
  },
  {
    examples: [
      {
        id: "7d9f3c1e-2b4a-4c8e-9f10-1a2b3c4d5e6f",
        username: "lin_xiao",
        email: "lin@example.com",
        role: "USER",
        avatar_url: null,
        current_space_id: "0b1c2d3e-4f50-4617-8293-a4b5c6d7e8f9",
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

/** Letters (any script), digits, marks and `_ . -`; TypeBox patterns cannot express \p{L}. */
export const USERNAME_CHARS = /^[\p{L}\p{N}\p{M}_.-]+$/u;

export const UserIdParams = t.Object({ id: t.String({ format: "uuid" }) });

export const UserPatchBody = t.Object(
  {
    username: t.Optional(Username),
    email: t.Optional(Email),
    password: t.Optional(Password),
    avatar_url: t.Optional(t.Nullable(t.String({ format: "uri", maxLength: 2048 }))),
    role: t.Optional(t.Union([t.Literal("USER"), t.Literal("ADMIN")], { description: "ADMIN callers only" })),
  },
  { additionalProperties: false, minProperties: 1, examples: [{ email: "new@example.com" }] },
);
