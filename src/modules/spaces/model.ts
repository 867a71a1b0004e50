import { t } from "elysia";

const iso = t.String({ format: "date-time" });
const Role = t.Union([t.Literal("admin"), t.Literal("editor"), t.Literal("viewer")]);

export const SpaceSchema = t.Object(
  {
    id: t.String({ format: "uuid" }),
    type: t.Union([t.Literal("personal"), t.Literal("team")]),
    name: t.String(),
    logo_url: t.Nullable(t.String()),
    owner_id: t.Nullable(t.String({ format: "uuid" })),
    role: Role,
    last_accessed_at: t.Nullable(iso),
    created_at: iso,
    updated_at: iso,
  },
  {
    examples: [
      {
        id: "0b1c2d3e-4f50-4617-8293-a4b5c6d7e8f9",
        type: "team",
        name: "Moonlight Studio",
        logo_url: null,
        owner_id: "7d9f3c1e-2b4a-4c8e-9f10-1a2b3c4d5e6f",
        role: "admin",
        last_accessed_at: null,
        created_at: "2026-11-21T08:00:00.000Z",
        updated_at: "2026-11-21T08:00:00.000Z",
      },
    ],
  },
);

export const InviteSchema = t.Object({
  id: t.String({ format: "uuid" }),
  space_id: t.String({ format: "uuid" }),
  code: t.String({ examples: ["K7PQ2MWX9R"] }),
  role: Role,
  max_uses: t.Integer(),
  uses: t.Integer(),
  expires_at: iso,
  revoked_at: t.Nullable(iso),
  created_at: iso,
});

export const MemberSchema = t.Object({
  user_id: t.String({ format: "uuid" }),
  username: t.String(),
  avatar_url: t.Nullable(t.String()),
  role: Role,
  joined_at: iso,
});

const Name = t.String({ minLength: 1, maxLength: 100, examples: ["Moonlight Studio"] });
const LogoUrl = t.String({ format: "uri", maxLength: 2048 });

export const SpaceParams = t.Object({ id: t.String({ format: "uuid" }) });
export const MemberParams = t.Object({ id: t.String({ format: "uuid" }), userId: t.String({ format: "uuid" }) });
export const InviteParams = t.Object({ id: t.String({ format: "uuid" }), inviteId: t.String({ format: "uuid" }) });

export const CreateSpaceBody = t.Object(
  { name: Name, logo_url: t.Optional(LogoUrl) },
  { examples: [{ name: "Moonlight Studio" }] },
);
export const UpdateSpaceBody = t.Object(
  { name: t.Optional(Name), logo_url: t.Optional(t.Nullable(LogoUrl)) },
  { additionalProperties: false, minProperties: 1 },
);
export const CreateInviteBody = t.Optional(
  t.Object(
    {
      role: t.Optional(Role),
      expires_in_s: t.Optional(t.Integer({ minimum: 60, maximum: 30 * 86_400, description: "default 7 days" })),
      max_uses: t.Optional(t.Integer({ minimum: 1, maximum: 1000, description: "default 10" })),
    },
    { examples: [{ role: "editor", expires_in_s: 86400, max_uses: 5 }] },
  ),
);
export const JoinBody = t.Object({ invite_code: t.String({ minLength: 4, maxLength: 32, examples: ["K7PQ2MWX9R"] }) });
export const SwitchBody = t.Object({ space_id: t.String({ format: "uuid" }) });
export const RoleBody = t.Object({ role: Role });
