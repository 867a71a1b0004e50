import { t } from "elysia";
import { Email, Password, Username, UserSchema } from "../../schemas/users.ts";

export const RegisterBody = t.Object(
  { username: Username, email: Email, password: Password },
  { examples: [{ username: "lin_xiao", email: "lin@example.com", password: "correct horse battery" }] },
);

export const LoginBody = t.Object(
  {
    username: t.Optional(t.String({ minLength: 1, maxLength: 254, description: "username, or an email address" })),
    email: t.Optional(t.String({ minLength: 3, maxLength: 254 })),
    password: t.String({ minLength: 1, maxLength: 128 }),
  },
  {
    examples: [
      { username: "lin_xiao", password: "correct horse battery" },
      { email: "lin@example.com", password: "correct horse battery" },
    ],
  },
);

export const RefreshBody = t.Optional(
  t.Object(
    { refresh_token: t.Optional(t.String({ minLength: 1, maxLength: 512 })) },
    { description: "The refresh token; may be omitted when the HttpOnly cookie is sent instead." },
  ),
);

export const AuthResult = t.Object({
  user: UserSchema,
  access_token: t.String(),
  refresh_token: t.String(),
  token_type: t.Literal("bearer"),
  expires_in: t.Integer({ description: "seconds until the access token expires" }),
});
